"""The embedded default: each sandbox is a process tree on this machine.

Per session, one workspace directory (mode 0700) holds the clone, the agent's
state, a private HOME and TMPDIR; it outlives the sandbox, so a later sandbox of
the same session continues where the last one stopped. The sandbox gets a clean
environment (only what it is given: never the control plane's own secrets).

Stopping kills the whole tree. The agent may start processes in their own
process groups or sessions, so a process-group kill is not enough: every
process of a sandbox carries ``OPENINSPECT_SANDBOX_ID`` in its environment, and
stop sweeps all descendants plus every process carrying that marker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from openinspect_protocol.launch import WORKSPACE_ENV
from openinspect_protocol.logs import EventLog

from backend_jobs.sandboxes.base import Capabilities, SandboxBackend, SandboxExit, SandboxSpec, SpawnError

if TYPE_CHECKING:
    from openinspect_core.settings import Settings

log = EventLog(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 5.0  # the supervisor's own shutdown (closing the agent) takes ~1 s
LOG_TAIL_BYTES = 2000
MARKER = "OPENINSPECT_SANDBOX_ID"
# What a sandbox inherits from the control plane's environment: enough to run
# programs, nothing that could hold a secret.
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")


class LocalSandboxBackend(SandboxBackend):
    name = "local"
    capabilities = Capabilities(outlives_control_plane=False)

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        command: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
    ) -> None:
        super().__init__()
        self.workspaces_dir = Path(workspaces_dir)
        # The sandbox runtime; another command only in tests of this backend itself.
        self.command = list(command or (sys.executable, "-m", "sandbox.entrypoint"))
        source = os.environ if environ is None else environ
        self._inherited = {k: source[k] for k in INHERITED_ENV if k in source}
        self.stop_grace_seconds = stop_grace_seconds
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalSandboxBackend:
        return cls(settings.data_dir / "workspaces")

    def workspace(self, session_id: str) -> Path:
        return self.workspaces_dir / session_id

    async def spawn(self, spec: SandboxSpec) -> str:
        workspace = self.workspace(spec.session_id)
        log_path = workspace / f"sandbox-{spec.sandbox_id}.log"
        try:
            for path in (workspace, workspace / "home", workspace / "tmp"):
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            env = {
                **self._inherited,
                "HOME": str(workspace / "home"),
                "TMPDIR": str(workspace / "tmp"),
                "PYTHONPATH": str(PROJECT_ROOT),
                "PYTHONUNBUFFERED": "1",
                **spec.env,
                WORKSPACE_ENV: str(workspace),  # this backend's layout, not the image's
                MARKER: spec.sandbox_id,
            }
            with open(log_path, "ab") as log_file:  # noqa: ASYNC230 - a local file, opened once per spawn
                process = await asyncio.create_subprocess_exec(
                    *self.command,
                    cwd=workspace, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise SpawnError(f"could not start the local sandbox: {exc}") from exc
        external_id = spec.sandbox_id
        self._processes[external_id] = process
        self._watchers[external_id] = asyncio.create_task(self._watch(external_id, process, log_path))
        log.info("sandbox.local.spawned", sandbox_id=spec.sandbox_id, pid=process.pid)
        return external_id

    async def _watch(self, external_id: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
        exit_code = await process.wait()
        await asyncio.to_thread(_kill_tree, process.pid, external_id, signal.SIGKILL)
        self._processes.pop(external_id, None)
        self._watchers.pop(external_id, None)
        requested = external_id in self._stopping
        self._stopping.discard(external_id)
        tail = _tail(log_path)
        if requested:
            reason = "stopped"
        else:
            reason = f"sandbox exited with code {exit_code}"
            last_error = _last_error(tail)
            if last_error:
                reason += f": {last_error}"
        await self._report_exit(SandboxExit(external_id, exit_code, reason, tail))

    async def stop(self, external_id: str) -> None:
        process = self._processes.get(external_id)
        if process is None:
            # Not ours (any more): still make sure nothing of it survives.
            await asyncio.to_thread(_kill_tree, None, external_id, signal.SIGKILL)
            return
        self._stopping.add(external_id)
        if process.returncode is None:
            try:
                process.send_signal(signal.SIGTERM)  # the supervisor shuts its agent down cleanly
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(process.wait(), self.stop_grace_seconds)
            except TimeoutError:
                log.warning("sandbox.local.kill", sandbox_id=external_id)
                await asyncio.to_thread(_kill_tree, process.pid, external_id, signal.SIGKILL)
        watcher = self._watchers.get(external_id)
        if watcher is not None:
            await asyncio.shield(watcher)

    async def alive(self) -> set[str]:
        return {eid for eid, p in self._processes.items() if p.returncode is None}


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


def _kill_tree(pid: int | None, sandbox_id: str, sig: signal.Signals) -> int:
    """Signal every process of the sandbox: descendants of ``pid`` and marker carriers."""
    victims: dict[int, psutil.Process] = {}
    if pid is not None:
        try:
            root = psutil.Process(pid)
            victims.update({p.pid: p for p in root.children(recursive=True)})
            victims[root.pid] = root
        except psutil.NoSuchProcess:
            pass
    own = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid in victims or proc.pid == own:
            continue
        try:
            if proc.environ().get(MARKER) == sandbox_id:
                victims[proc.pid] = proc
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    for proc in victims.values():
        try:
            proc.send_signal(sig)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return len(victims)
