"""The embedded default: each sandbox is a process tree on this machine, isolated by the kernel.

Per session, one workspace directory (mode 0700) holds the clone, the agent's
state, a private HOME and TMPDIR; it outlives the sandbox, so a later sandbox of
the same session continues where the last one stopped. The sandbox gets a clean
environment (only what it is given: never the control plane's own).

Each sandbox runs under bubblewrap in its own user, mount and PID namespaces,
seeing the workspace at ``/workspace``, a read-only system and nothing of the
data directory or the control plane's processes (what it sees, and why, is
:mod:`backend_jobs.sandboxes.local_isolation`). Without ``bwrap`` a sandbox is
not started at all (:class:`SpawnError` says what to install).

The bridge token is written to a 0600 file in a 0700 directory of its own,
``<data dir>/sandbox-runtime/<sandbox id>/``, which the sandbox sees as
``/run/openinspect``; the runtime reads and removes it before it starts
anything, and the directory goes when the sandbox ends. The session's secrets wait
beside it (``secrets.json``, 0600) and are taken the same way.

Stopping is SIGTERM to the runtime (it shuts its agent down cleanly), then,
after a grace period, SIGKILL to the namespace's first process: the kernel then
kills every process of the namespace, however it detached itself. The same holds
when the runtime ends by itself. A sandbox that lives longer than
``max_lifetime_seconds`` is stopped the same way, and its exit says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openinspect_protocol.launch import WORKSPACE_ENV, env_name
from openinspect_protocol.logs import EventLog

from backend_jobs.sandboxes import local_isolation as isolation
from backend_jobs.sandboxes import local_namespace as namespace
from backend_jobs.sandboxes.base import Capabilities, SandboxBackend, SandboxExit, SandboxSpec, SpawnError
from openinspect_core.services.previews import PreviewUnavailable

if TYPE_CHECKING:
    from openinspect_core.settings import Settings

log = EventLog(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 5.0  # the supervisor's own shutdown (closing the agent) takes ~1 s
LOG_TAIL_BYTES = 2000
LOOPBACK = "127.0.0.1"  # where a local sandbox's dev servers listen, seen from here
# The runtime's environment names its sandbox (a launch setting): how tests find runtimes from outside.
MARKER = env_name("sandbox_id")
TOKEN_FILE_ENV = env_name("sandbox_token_file")
SECRETS_FILE_ENV = env_name("secrets_file")
# What a sandbox inherits from the control plane's environment: enough to run
# programs, nothing that could hold a secret.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")
RUNTIME_DIR = "sandbox-runtime"
MISSING_BWRAP = ("local sandboxes need bubblewrap (`bwrap`) to isolate them, and it is not installed: "
                 "install the Debian package `bubblewrap` (scripts/setup does) or use another sandbox backend")


@dataclass
class _Running:
    process: asyncio.subprocess.Process  # bwrap
    init: namespace.Process | None  # the first process of the sandbox's PID namespace, as this host sees it
    log_path: Path
    token_dir: Path


class LocalSandboxBackend(SandboxBackend):
    name = "local"
    capabilities = Capabilities(outlives_control_plane=False, previews=True)

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        hidden: Sequence[Path] = (),
        reserved_ports: Collection[int] = (),
        command: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        max_lifetime_seconds: float = 0,
        runtime_dir: Path | None = None,
        bwrap: str = "bwrap",
        project_root: Path = PROJECT_ROOT,
    ) -> None:
        """``hidden``: what no sandbox may see (the data directory); every workspace always is.
        ``max_lifetime_seconds``: 0 means no limit. ``runtime_dir`` holds each sandbox's token
        directory (default ``sandbox-runtime`` beside the workspaces). ``reserved_ports``: the control
        plane's own ports on this machine, never a sandbox's preview. ``command`` and
        ``project_root`` change only in tests of this backend itself."""
        super().__init__()
        self.reserved_ports = frozenset(p for p in reserved_ports if p)
        self.workspaces_dir = Path(workspaces_dir).absolute()
        self.runtime_dir = (Path(runtime_dir) if runtime_dir else self.workspaces_dir.parent / RUNTIME_DIR).absolute()
        self.hidden = (self.workspaces_dir, self.runtime_dir, *(Path(p).absolute() for p in hidden))
        self.command = list(command or (sys.executable, "-m", "sandbox.entrypoint"))
        source = os.environ if environ is None else environ
        self._inherited = {k: source[k] for k in INHERITED_ENV if k in source}
        self.stop_grace_seconds = stop_grace_seconds
        self.max_lifetime_seconds = max_lifetime_seconds
        self.bwrap = bwrap
        self.project_root = project_root
        # The runtime's own code: the checkout, its venv, the interpreter the venv points to.
        self._runtime_paths = (project_root, Path(sys.prefix), Path(sys.base_prefix))
        self._running: dict[str, _Running] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._deadlines: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        self._ended_by: dict[str, str] = {}  # why we ended a sandbox ourselves, other than a stop

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalSandboxBackend:
        return cls(settings.data_dir / "workspaces", hidden=(settings.data_dir,),
                   max_lifetime_seconds=settings.sandbox_max_lifetime_seconds,
                   reserved_ports=(settings.web_port, settings.bridge_port, settings.model_proxy_port))

    def workspace(self, session_id: str) -> Path:
        return self.workspaces_dir / session_id

    async def start(self) -> None:
        # No local sandbox outlives its control plane (--die-with-parent): token directories left
        # here belong to sandboxes that ended with a previous one.
        if self.runtime_dir.is_dir():
            for leftover in self.runtime_dir.iterdir():
                shutil.rmtree(leftover, ignore_errors=True)

    async def spawn(self, spec: SandboxSpec) -> str:
        bwrap = shutil.which(self.bwrap)
        if bwrap is None:
            raise SpawnError(MISSING_BWRAP)
        workspace = self.workspace(spec.session_id)
        log_path = workspace / f"sandbox-{spec.sandbox_id}.log"
        token_dir = self.runtime_dir / spec.sandbox_id
        try:
            for path in (workspace, workspace / "home", workspace / "tmp", self.runtime_dir):
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_token(token_dir, spec.token, spec.secrets)
            layout = await asyncio.to_thread(isolation.read_host_layout)
            running = await self._start(bwrap, layout, self._view(spec, workspace, token_dir),
                                        self._environment(spec), log_path)
        except (OSError, ValueError) as exc:
            shutil.rmtree(token_dir, ignore_errors=True)
            raise SpawnError(f"could not start the local sandbox: {exc}") from exc
        external_id = spec.sandbox_id
        self._running[external_id] = running
        self._watchers[external_id] = asyncio.create_task(self._watch(external_id, running))
        if self.max_lifetime_seconds > 0:
            self._deadlines[external_id] = asyncio.create_task(self._expire(external_id))
        log.info("sandbox.local.spawned", sandbox_id=spec.sandbox_id, pid=running.process.pid,
                 init_pid=running.init.pid if running.init else None)
        return external_id

    def _view(self, spec: SandboxSpec, workspace: Path, token_dir: Path) -> isolation.SandboxView:
        wanted = (*self._runtime_paths,
                  *isolation.repository_paths(spec.env.get(env_name("repo_url"), "")),
                  *isolation.agent_paths(spec.env.get(env_name("opencode_bin"), "")))
        # Only what exists can be bound or covered (bwrap cannot create a mount point in a read-only tree).
        return isolation.SandboxView(workspace=workspace, runtime_dir=token_dir,
                                     read_only=tuple(p for p in wanted if p.exists()),
                                     hidden=tuple(p for p in self.hidden if p.exists()))

    def _environment(self, spec: SandboxSpec) -> dict[str, str]:
        inside = isolation.WORKSPACE
        return {
            **self._inherited,
            "HOME": str(inside / "home"),
            "TMPDIR": str(inside / "tmp"),
            "PYTHONPATH": str(self.project_root),
            "PYTHONUNBUFFERED": "1",
            **spec.env,
            WORKSPACE_ENV: str(inside),  # this backend's layout
            TOKEN_FILE_ENV: str(isolation.TOKEN_FILE),
            SECRETS_FILE_ENV: str(isolation.SECRETS_FILE),
        }

    async def _start(self, bwrap: str, layout: isolation.HostLayout, view: isolation.SandboxView,
                     env: Mapping[str, str], log_path: Path) -> _Running:
        """Start bwrap with its options in a pipe; learn its namespace's first process from another."""
        args_read, args_write = os.pipe()
        info_read, info_write = os.pipe()
        try:
            encoded = isolation.encode_arguments(isolation.bwrap_arguments(layout, view, info_fd=info_write, env=env))
            with open(log_path, "ab") as log_file:  # noqa: ASYNC230 - a local file, opened once per spawn
                process = await asyncio.create_subprocess_exec(
                    bwrap, "--args", str(args_read), "--", *self.command,
                    cwd=view.workspace, env={}, stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True, pass_fds=(args_read, info_write),
                )
        except BaseException:
            os.close(args_write)
            os.close(info_read)
            raise
        finally:
            os.close(args_read)
            os.close(info_write)
        # In threads: bwrap reads its options while it sets up, and a pipe holds only 64 KiB.
        _, info = await asyncio.gather(asyncio.to_thread(_write_and_close, args_write, encoded),
                                       asyncio.to_thread(_read_and_close, info_read))
        return _Running(process, namespace.first_process(info), log_path, view.runtime_dir)

    async def _watch(self, external_id: str, running: _Running) -> None:
        exit_code = await running.process.wait()
        # bwrap returns once the runtime has ended; the kernel is then still ending the rest of the
        # namespace, which is done when its first process has gone.
        await asyncio.to_thread(namespace.wait_ended, running.init)
        shutil.rmtree(running.token_dir, ignore_errors=True)  # the token, if the runtime never took it
        self._running.pop(external_id, None)
        self._watchers.pop(external_id, None)
        deadline = self._deadlines.pop(external_id, None)
        if deadline is not None:
            deadline.cancel()
        requested = external_id in self._stopping
        self._stopping.discard(external_id)
        ended_by = self._ended_by.pop(external_id, None)
        tail = _tail(running.log_path)
        if requested:
            reason = "stopped"
        elif ended_by is not None:
            reason = ended_by
        else:
            reason = f"sandbox exited with code {exit_code}"
            last_error = _last_error(tail)
            if last_error:
                reason += f": {last_error}"
        await self._report_exit(SandboxExit(external_id, exit_code, reason, tail))

    async def _expire(self, external_id: str) -> None:
        await asyncio.sleep(self.max_lifetime_seconds)
        self._deadlines.pop(external_id, None)
        self._ended_by[external_id] = f"the sandbox reached its maximum lifetime ({self.max_lifetime_seconds:g} s)"
        log.warning("sandbox.local.lifetime_reached", sandbox_id=external_id,
                    max_lifetime_seconds=self.max_lifetime_seconds)
        await self._end(external_id)

    async def stop(self, external_id: str) -> None:
        if external_id not in self._running:
            return  # not ours (any more): its namespace, and everything in it, ended with it
        self._stopping.add(external_id)
        await self._end(external_id)

    async def _end(self, external_id: str) -> None:
        """SIGTERM to the runtime, a grace period, then the whole namespace killed; wait for the report."""
        running = self._running.get(external_id)
        if running is None:
            return
        process = running.process
        if process.returncode is None:
            runtime = await asyncio.to_thread(namespace.runtime_pid, running.init)
            if runtime is not None:
                namespace.signal_pid(runtime, signal.SIGTERM)  # the supervisor shuts its agent down cleanly
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()),
                                       self.stop_grace_seconds if runtime is not None else 0)
            except TimeoutError:
                log.warning("sandbox.local.kill", sandbox_id=external_id)
                namespace.kill(running.init, process.pid)
        watcher = self._watchers.get(external_id)
        if watcher is not None:
            await asyncio.shield(watcher)

    async def alive(self) -> set[str]:
        return {eid for eid, r in self._running.items() if r.process.returncode is None}

    async def port_address(self, external_id: str, port: int) -> tuple[str, int]:
        # Local sandboxes share this machine's network (local_isolation): a dev server's port is a loopback
        # port here. Whether the sandbox is alive is the caller's check (its row), which holds in a web
        # process that does not run the sandboxes itself, too.
        if port in self.reserved_ports:
            raise PreviewUnavailable(f"port {port} is one of the control plane's own ports on this machine, "
                                     "never a sandbox's preview", code="preview_port_reserved")
        return LOOPBACK, port

    async def close(self) -> None:
        await super().close()
        for task in list(self._deadlines.values()):
            task.cancel()
        self._deadlines.clear()


def _write_token(directory: Path, token: str, secrets: Mapping[str, str]) -> None:
    """The token file (and the secrets' file, if there are any): 0600 in a new 0700 directory (an
    existing one is not trusted: it is replaced)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    files = {isolation.TOKEN_FILE.name: token}
    if secrets:
        files[isolation.SECRETS_FILE.name] = json.dumps(dict(secrets))
    for name, content in files.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(content)


def _write_and_close(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    except BrokenPipeError:
        pass  # bwrap ended before it read its input: its exit (and log) say why


def _read_and_close(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read()  # bwrap closes its end once written (or when it fails first)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _last_error(tail: str) -> str | None:
    """The most useful line of a log tail: the runtime's last error, else the last line."""
    lines = [line for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("error", "critical"):
            detail = record.get("error") or record.get("message") or record.get("event")
            return str(detail)[:500]
    return lines[-1][:500] if lines else None
