"""Sandboxes started by someone else: the backend only says what to start.

``spawn`` writes the sandbox's environment (its ``OPENINSPECT_*`` settings) as
JSON to ``<data dir>/manual-sandboxes/<sandbox id>.json`` and its bridge token to
``<sandbox id>.token`` beside it (both mode 0600, in a 0700 directory), and
returns at once; whoever reads the files runs the runtime with them —
``python -m sandbox.entrypoint`` in a debugger, or a benchmark's synthetic
bridge — and it connects to the bridge server like any sandbox. The environment
names the token file (``OPENINSPECT_SANDBOX_TOKEN_FILE``), which the runtime
reads and removes: one token file, one start (the session's secrets, if any, likewise:
``<sandbox id>.secrets.json``, named by ``OPENINSPECT_SECRETS_FILE``). ``OPENINSPECT_WORKSPACE`` is added
(the session's directory under ``<data dir>/workspaces/``, as the local backend
uses), so the file is a complete environment for the runtime. Such a runtime is
not isolated: it runs as whoever starts it, with what they can see.

A sandbox is alive while its environment file exists. ``stop`` removes the files and reports
the exit; it cannot end a process it did not start, but the supervisor sends the
bridge ``shutdown`` first, and a runtime that ends by itself goes silent and is
declared failed by the heartbeat timer, as any sandbox is.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from openinspect_protocol.launch import WORKSPACE_ENV, env_name
from openinspect_protocol.logs import EventLog

from backend_jobs.sandboxes.base import Capabilities, SandboxBackend, SandboxExit, SandboxSpec, SpawnError

if TYPE_CHECKING:
    from openinspect_core.settings import Settings

log = EventLog(__name__)

ENV_FILE_SUFFIX = ".json"
TOKEN_FILE_SUFFIX = ".token"
TOKEN_FILE_ENV = env_name("sandbox_token_file")
SECRETS_FILE_SUFFIX = ".secrets.json"
SECRETS_FILE_ENV = env_name("secrets_file")


class ManualSandboxBackend(SandboxBackend):
    name = "manual"
    capabilities = Capabilities(outlives_control_plane=False)

    def __init__(self, env_dir: Path, workspaces_dir: Path) -> None:
        super().__init__()
        self.env_dir = Path(env_dir)
        self.workspaces_dir = Path(workspaces_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> ManualSandboxBackend:
        return cls(settings.data_dir / "manual-sandboxes", settings.data_dir / "workspaces")

    def env_file(self, sandbox_id: str) -> Path:
        return self.env_dir / f"{sandbox_id}{ENV_FILE_SUFFIX}"

    def token_file(self, sandbox_id: str) -> Path:
        return self.env_dir / f"{sandbox_id}{TOKEN_FILE_SUFFIX}"

    def secrets_file(self, sandbox_id: str) -> Path:
        return self.env_dir / f"{sandbox_id}{SECRETS_FILE_SUFFIX}"

    async def spawn(self, spec: SandboxSpec) -> str:
        token_path = self.token_file(spec.sandbox_id)
        secrets_path = self.secrets_file(spec.sandbox_id)
        env = {**spec.env, WORKSPACE_ENV: str(self.workspaces_dir / spec.session_id),
               TOKEN_FILE_ENV: str(token_path), SECRETS_FILE_ENV: str(secrets_path)}
        path = self.env_file(spec.sandbox_id)
        try:
            self.env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_private(token_path, spec.token)  # first: the environment file is what says "start me"
            if spec.secrets:
                _write_private(secrets_path, json.dumps(dict(spec.secrets)))
            _write_private(path, json.dumps(env, indent=2, sort_keys=True))
        except OSError as exc:
            with contextlib.suppress(OSError):
                token_path.unlink(missing_ok=True)
                secrets_path.unlink(missing_ok=True)
            raise SpawnError(f"could not write the manual sandbox's environment: {exc}") from exc
        log.info("sandbox.manual.waiting", sandbox_id=spec.sandbox_id, env_file=str(path))
        return spec.sandbox_id

    async def stop(self, external_id: str) -> None:
        self.token_file(external_id).unlink(missing_ok=True)  # the runtime may have taken it already
        self.secrets_file(external_id).unlink(missing_ok=True)
        try:
            self.env_file(external_id).unlink()
        except FileNotFoundError:
            return  # already stopped (and reported)
        log.info("sandbox.manual.stopped", sandbox_id=external_id)
        await self._report_exit(SandboxExit(external_id, None, "stopped"))

    async def alive(self) -> set[str]:
        if not self.env_dir.is_dir():
            return set()
        return {p.name.removesuffix(ENV_FILE_SUFFIX) for p in self.env_dir.iterdir()
                if p.name.endswith(ENV_FILE_SUFFIX)}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only, and never half-written."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(partial, 0o600)  # O_CREAT's mode is masked by the umask; an existing file kept its own
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
