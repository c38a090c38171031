"""Looking for secrets where they must never be: files, process environments and command lines, text.

Each finder returns the places a secret was found (empty: nowhere), as readable strings for an
assertion message; it never prints the secret itself.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil

# Why: a workspace holds OpenCode's binaries and caches; files above this are not text a token ends up in.
MAX_FILE_BYTES = 64 * 1024 * 1024


def in_files(root: Path, secrets: Iterable[str], skip: Iterable[Path] = ()) -> list[str]:
    """Files under ``root`` (hidden ones and ``.git`` included; symlinks not followed) holding a secret;
    nothing at or below a path of ``skip``."""
    return in_blobs(((f"file {path}", data) for path, data in file_contents(root, skip)), secrets)


def file_contents(root: Path, skip: Iterable[Path] = ()) -> Iterator[tuple[Path, bytes]]:
    """Every regular file under ``root`` with its bytes (symlinks not followed, ``skip`` left out)."""
    skipped = tuple(Path(p) for p in skip)
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skipped):
            continue
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue  # a socket, or a file that went away while we looked
        yield path, data


def in_blobs(blobs: Iterable[tuple[str, bytes]], secrets: Iterable[str]) -> list[str]:
    """Named byte strings (a file, a git object) holding a secret."""
    wanted = [s.encode() for s in secrets if s]
    return [name for name, data in blobs for secret in wanted if secret in data]


def git_repositories(root: Path, skip: Iterable[Path] = ()) -> list[Path]:
    """The git repositories under ``root``: bare ones (``HEAD`` beside ``objects/``) and work trees' ``.git``."""
    skipped = tuple(Path(p) for p in skip)
    found = []
    for head in sorted(root.rglob("HEAD")):
        repo = head.parent
        if (repo / "objects").is_dir() and (repo / "refs").is_dir() and \
                not any(repo == s or s in repo.parents for s in skipped):
            found.append(repo)
    return found


def git_objects(repo: Path) -> list[tuple[str, bytes]]:
    """Every object of a git repository, loose and packed, reachable or not, as git reads it
    (a packed object's bytes are compressed on disk: a search of the files alone would miss it)."""
    out = subprocess.run(["git", "--git-dir", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                         capture_output=True, check=True).stdout
    objects = []
    at = 0
    while at < len(out):
        header_end = out.index(b"\n", at)
        sha, kind, size = out[at:header_end].decode().split()
        start = header_end + 1
        objects.append((f"{kind} {sha} in {repo}", out[start : start + int(size)]))
        at = start + int(size) + 1  # the content is followed by a newline
    return objects


def in_processes(processes: Iterable[psutil.Process], secrets: Iterable[str]) -> list[str]:
    """Processes whose environment or command line holds a secret."""
    wanted = [s for s in secrets if s]
    found: list[str] = []
    for process in processes:
        try:
            environ = "\n".join(f"{k}={v}" for k, v in process.environ().items())
            cmdline = " ".join(process.cmdline())
            name = f"pid {process.pid} ({process.name()})"
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for secret in wanted:
            if secret in environ:
                found.append(f"environment of {name}")
            if secret in cmdline:
                found.append(f"command line of {name}")
    return found


def process_tree(root_pid: int) -> list[psutil.Process]:
    """``root_pid`` and every process below it (sandboxes, git, the agent)."""
    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def in_texts(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> list[str]:
    """Named texts (a log, a page's HTML, a WebSocket frame) holding a secret."""
    wanted = [s for s in secrets if s]
    return [name for name, text in texts for secret in wanted if secret in text]
