"""Production topology: the web process without background jobs, a separate worker
process (`python -m backend_jobs`), PostgreSQL between them (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from backend_jobs.control_plane import ControlPlane
from openinspect_app.api.app import attach, build_api
from openinspect_core.settings import Settings
from tests.conftest import REPO_ROOT
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import free_port, serve_http
from tests.support.system import OPENCODE_BIN, RunningSystem, make_repo


async def test_web_and_worker_in_separate_processes(postgres_url: str, tmp_path: Path,
                                                    scripted_model: ScriptedModel) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINSPECT_")}
    env.update(OPENINSPECT_DATABASE_URL=postgres_url, OPENINSPECT_DATA_DIR=str(tmp_path / "worker"),
               OPENINSPECT_BRIDGE_PORT=str(free_port()), OPENINSPECT_OPENCODE_BIN=OPENCODE_BIN,
               OPENINSPECT_PROVIDER_BASE_URL=scripted_model.base_url, PYTHONPATH=str(REPO_ROOT),
               OPENINSPECT_REPO_ROOTS=str(tmp_path), OPENINSPECT_MODEL_PROXY_PORT=str(free_port()))
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "backend_jobs", env=env,
                                                  stderr=asyncio.subprocess.PIPE, start_new_session=True)
    web = ControlPlane(Settings.from_env({"OPENINSPECT_BACKGROUND_JOBS": "off"}, database_url=postgres_url,
                                           data_dir=tmp_path / "web", repo_roots=(str(tmp_path),)))
    assert web.jobs is None
    await web.start()
    api = build_api()
    attach(api, web.context)
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            s = RunningSystem(web, client, web.settings)  # type: ignore[arg-type]
            session = await s.create_session(repo)
            message = await s.prompt(session["id"], "#script write-file path=split.txt content=two-processes")
            finished = await s.wait_for_prompt_end(session["id"], message["id"])
            assert finished["data"]["status"] == "completed"
            workspace = tmp_path / "worker" / "workspaces" / session["id"] / "repo"
            assert (workspace / "split.txt").read_text().strip() == "two-processes"
    finally:
        await web.stop()
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    assert b"worker.stopping" in stderr
