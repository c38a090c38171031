"""The production topology in a test: the web process without background jobs (this test's own
process), a separate worker (``python -m backend_jobs``) and PostgreSQL between them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend_jobs.control_plane import ControlPlane
from openinspect_app.api.app import attach, build_api
from openinspect_core.settings import Settings
from tests.conftest import REPO_ROOT
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import free_port, serve_http
from tests.support.system import OPENCODE_BIN, RunningSystem

WORKER_STOP_SECONDS = 30


@dataclass
class Worker:
    """One ``python -m backend_jobs`` process."""

    process: asyncio.subprocess.Process
    log: Path  # its stderr
    data_dir: Path
    env: dict[str, str]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Split:
    system: RunningSystem  # the web side, with an HTTP client on its API
    workers: list[Worker]

    @property
    def worker_log(self) -> Path:
        return self.workers[0].log

    @property
    def worker_data_dir(self) -> Path:
        return self.workers[0].data_dir

    @property
    def worker_exit_code(self) -> int | None:
        """Set once the first worker has stopped (SIGTERM at the end)."""
        return self.workers[0].process.returncode

    async def start_worker(self, name: str) -> Worker:
        """Another worker, like the first one but with its own ports and directory (a restart, a replica)."""
        first = self.workers[0]
        data_dir = first.data_dir.parent / name
        env = {**first.env, "OPENINSPECT_DATA_DIR": str(data_dir), "OPENINSPECT_BRIDGE_PORT": str(free_port()),
               "OPENINSPECT_MODEL_PROXY_PORT": str(free_port())}
        worker = await _start_worker(env, data_dir.parent / f"{name}.log", data_dir)
        self.workers.append(worker)
        return worker


async def _start_worker(env: dict[str, str], log: Path, data_dir: Path) -> Worker:
    with open(log, "ab") as worker_err:  # noqa: ASYNC230 - opened once, handed to the worker
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "backend_jobs", env=env,
                                                       stderr=worker_err, start_new_session=True)
    return Worker(process, log, data_dir, env)


@asynccontextmanager
async def web_and_worker(postgres_url: str, tmp_path: Path, scripted_model: ScriptedModel,
                         **worker_env: str) -> AsyncIterator[Split]:
    """The web side in this process, one worker; ``Split.start_worker`` adds more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINSPECT_")}
    env.update(OPENINSPECT_DATABASE_URL=postgres_url, OPENINSPECT_DATA_DIR=str(tmp_path / "worker"),
               OPENINSPECT_BRIDGE_PORT=str(free_port()), OPENINSPECT_OPENCODE_BIN=OPENCODE_BIN,
               OPENINSPECT_PROVIDER_BASE_URL=scripted_model.base_url, PYTHONPATH=str(REPO_ROOT),
               OPENINSPECT_REPO_ROOTS=str(tmp_path), OPENINSPECT_MODEL_PROXY_PORT=str(free_port()), **worker_env)
    first = await _start_worker(env, tmp_path / "worker.log", tmp_path / "worker")
    web = ControlPlane(Settings.from_env({"OPENINSPECT_BACKGROUND_JOBS": "off"}, database_url=postgres_url,
                                         data_dir=tmp_path / "web", repo_roots=(str(tmp_path),)))
    assert web.jobs is None
    await web.start()
    api = build_api()
    attach(api, web.context)
    split: Split | None = None
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            split = Split(RunningSystem(web, client, web.settings), [first])  # type: ignore[arg-type]
            yield split
    finally:
        await web.stop()
        for worker in split.workers if split is not None else [first]:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(worker.process.wait(), WORKER_STOP_SECONDS)
