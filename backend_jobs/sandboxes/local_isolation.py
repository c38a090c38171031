"""What a local sandbox sees of this machine: the bubblewrap command line, as pure functions.

Each local sandbox runs under ``bwrap`` (Debian's ``bubblewrap``) in its own user,
mount, PID, IPC and UTS namespaces:

- **Files.** A new, read-only root holding only: the system (``/usr``, ``/etc`` and
  the top-level links or directories into them), minus every ``/etc`` entry not
  every local user may read (``/etc/shadow``, ``/etc/ssl/private``, …); the paths the
  runtime needs, read-only at their own paths (the checkout with its venv and
  ``node_modules``, the Python interpreter, the repository to clone); the session's
  workspace, read-write at ``/workspace``; a private ``/tmp`` and ``/run``; a
  minimal ``/dev``. Nothing of the data directory (the SQLite file, the keys, other
  sessions' workspaces) is visible, even where it lies inside a read-only path: it
  is covered by an empty, read-only directory.
- **Processes.** Its own ``/proc``: the runtime and what it starts are all it
  sees. When the namespace's first process ends, the kernel kills every other
  one, so nothing the sandbox started (a ``setsid`` daemon included) outlives it;
  ``--die-with-parent`` ends it with the control plane.
- **Identity.** uid/gid 10001 inside, no capabilities, no further user namespaces.
- **The bridge token** waits in a 0600 file in a 0700 directory of its own
  (``<data dir>/sandbox-runtime/<sandbox id>/``), bound at ``/run/openinspect``:
  the runtime reads and removes it before it starts anything, and it was never in
  an environment, on a command line, or in the memory of a process the sandbox can
  read (bwrap only binds the directory; it never reads the file). The session's
  secrets (``secrets.json``) wait beside it and are taken the same way.
- **The environment and every other argument** reach bwrap through a pipe
  (``--args``), so neither the launch settings nor any path shows on a command
  line other users of the machine can read.
- **The network is shared** with the host: the bridge and the model proxy listen
  on loopback. See docs/security.md for what that leaves open.

This module decides; :mod:`backend_jobs.sandboxes.local` acts (pipes, processes,
signals). :func:`read_host_layout` is the one function here that looks at the
machine.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from openinspect_protocol.launch import IMAGE_SECRETS_FILE, IMAGE_TOKEN_FILE, IMAGE_WORKSPACE

SANDBOX_UID = 10001  # the sandbox image's user too (sandbox/Dockerfile), so both layouts agree
SANDBOX_GID = 10001
SANDBOX_HOSTNAME = "openinspect-sandbox"
WORKSPACE = Path(IMAGE_WORKSPACE)  # where the session's workspace appears inside: the image's layout
TOKEN_FILE = Path(IMAGE_TOKEN_FILE)
SECRETS_FILE = Path(IMAGE_SECRETS_FILE)  # beside the token, taken by the runtime the same way
SYSTEM_DIRS = (Path("/usr"), Path("/etc"))
# Top-level entries that are links into /usr on a merged-/usr system (Debian 12) or directories on older ones.
SYSTEM_TOP_LEVEL = tuple(Path(p) for p in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"))
PRIVATE_DIRS = (Path("/tmp"), Path("/run"), Path("/var/tmp"))  # fresh, empty, writable, per sandbox
SCANNED_FOR_SECRETS = Path("/etc")  # small (~1,300 entries, ~50 ms) and where system secrets live


@dataclass(frozen=True)
class HostLayout:
    """The facts about this machine the command line depends on (see :func:`read_host_layout`)."""

    system_dirs: tuple[Path, ...] = SYSTEM_DIRS
    links: tuple[tuple[Path, str], ...] = ()  # (path, target): re-created as links, e.g. /bin -> usr/bin
    unreadable: tuple[Path, ...] = ()  # system entries not every user may read: hidden
    unreadable_dirs: frozenset[Path] = frozenset()  # which of them are directories
    extra_read_only: tuple[Path, ...] = ()  # e.g. the file /etc/resolv.conf links to, when outside /etc


@dataclass(frozen=True)
class SandboxView:
    """What one sandbox may see besides the system."""

    workspace: Path  # host directory: read-write at /workspace
    runtime_dir: Path  # host directory holding the token file: read-write at /run/openinspect
    read_only: tuple[Path, ...]  # host paths visible read-only at their own path
    hidden: tuple[Path, ...]  # host paths never visible (the data directory), even inside a read-only path


def bwrap_arguments(layout: HostLayout, view: SandboxView, *, info_fd: int, env: Mapping[str, str]) -> list[str]:
    """bwrap's options for one sandbox (given through ``--args``; the command follows ``--``).

    bwrap writes the host PID of the namespace's first process to ``info_fd`` (JSON,
    ``child-pid``); ``env`` is the whole environment of the runtime (nothing of bwrap's
    own is passed on).
    """
    hidden = tuple(_absolute(p) for p in view.hidden)
    args = [
        "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--disable-userns",  # no nested user namespaces: the kernel's largest attack surface for a non-root user
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", SANDBOX_HOSTNAME,
        "--die-with-parent", "--info-fd", str(info_fd),
    ]
    for directory in layout.system_dirs:
        args += ["--ro-bind", str(directory), str(directory)]
    for path, target in layout.links:
        args += ["--symlink", target, str(path)]
    for path in layout.unreadable:
        args += _cover(path, is_dir=path in layout.unreadable_dirs)
    args += ["--dev", "/dev", "--proc", "/proc"]
    for directory in PRIVATE_DIRS:
        args += ["--tmpfs", str(directory)]
    # After the private directories: a repository to clone may well live under /tmp.
    system = tuple(layout.system_dirs)
    for path in _outermost(p for p in (*layout.extra_read_only, *view.read_only)
                           if _may_show(_absolute(p), system, hidden)):
        args += ["--ro-bind", str(path), str(path)]
    # The data directory may lie inside something visible (the default .data/ is inside the checkout).
    visible = (*system, *(_absolute(p) for p in view.read_only))
    for path in hidden:
        if _inside_any(path, visible):
            args += _cover(path, is_dir=True)
    args += [
        "--bind", str(view.runtime_dir), str(TOKEN_FILE.parent),  # writable: the runtime removes the token
        "--bind", str(view.workspace), str(WORKSPACE),
        "--remount-ro", "/",  # the new root itself; the mounts above keep their own modes
        "--chdir", str(WORKSPACE),
        "--clearenv",
    ]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args


def encode_arguments(args: Sequence[str]) -> bytes:
    """``--args`` takes NUL-separated arguments; none may contain a NUL itself."""
    if any("\0" in arg for arg in args):
        raise ValueError("a sandbox argument or environment value contains a NUL character")
    return b"".join(arg.encode() + b"\0" for arg in args)


def repository_paths(repo_url: str) -> tuple[Path, ...]:
    """What of a local repository the clone must read: its ``.git`` directory (or a bare repository).

    Only the git data, not the working tree, so a repository inside a home directory
    brings nothing else of it along. Remote URLs need nothing.
    """
    if repo_url.startswith("file://"):
        path = Path(unquote(urlsplit(repo_url).path))
    elif repo_url.startswith("/"):
        path = Path(repo_url)
    else:
        return ()
    git_dir = path / ".git"
    return (git_dir,) if git_dir.is_dir() else (path,)


def agent_paths(binary: str) -> tuple[Path, ...]:
    """The tree the agent's executable lives in: the outermost ``node_modules`` of its path, else its directory."""
    path = Path(binary)
    if not path.is_absolute():
        return ()  # found on PATH: a system directory (anything else is the operator's to bind)
    for candidate in (path, path.resolve()):
        modules = [parent for parent in candidate.parents if parent.name == "node_modules"]
        if modules:
            return (modules[-1],)
    return (path.resolve().parent,)


def read_host_layout() -> HostLayout:
    """Look at this machine: which top-level entries are links, which /etc entries are private."""
    links: list[tuple[Path, str]] = []
    dirs: list[Path] = list(SYSTEM_DIRS)
    for path in SYSTEM_TOP_LEVEL:
        if path.is_symlink():
            links.append((path, os.readlink(path)))
        elif path.is_dir():
            dirs.append(path)
    unreadable, unreadable_dirs = _not_world_readable(SCANNED_FOR_SECRETS)
    extra: list[Path] = []
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():  # e.g. systemd-resolved's file under /run, which the sandbox does not see
        target = resolv.resolve()
        if not _inside_any(target, tuple(dirs)):
            extra.append(target)
    return HostLayout(tuple(dirs), tuple(links), tuple(unreadable), frozenset(unreadable_dirs), tuple(extra))


def _not_world_readable(top: Path) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    dirs: list[Path] = []
    for root, subdirs, files in os.walk(top):
        keep = []
        for name in subdirs + files:
            path = Path(root) / name
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue
            needed = 0o005 if stat.S_ISDIR(mode) else 0o004
            if mode & needed != needed:
                found.append(path)
                if stat.S_ISDIR(mode):
                    dirs.append(path)
            elif stat.S_ISDIR(mode):
                keep.append(name)
        subdirs[:] = [d for d in subdirs if d in keep]
    return found, dirs


def _cover(path: Path, *, is_dir: bool) -> list[str]:
    """Hide ``path``: an empty read-only directory over a directory, an unopenable node over a file."""
    if is_dir:
        return ["--tmpfs", str(path), "--remount-ro", str(path)]
    return ["--ro-bind", "/dev/null", str(path)]  # mounted nodev: opening it is refused


def _may_show(path: Path, system: tuple[Path, ...], hidden: tuple[Path, ...]) -> bool:
    """A read-only path is bound unless it is already visible (inside the system), is hidden, or
    would cover the system itself (``/``: nothing may show the whole machine)."""
    if _inside_any(path, (*system, *hidden)):
        return False
    return not any(path in s.parents for s in system)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _inside_any(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """Distinct absolute paths, without those inside another one (bound once, with their parent)."""
    unique = sorted({_absolute(p) for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not _inside_any(path, kept):
            kept.append(path)
    return kept
