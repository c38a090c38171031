"""A whole embedded system whose sandboxes reach a given model only through the model proxy.

Like the integration tests' ``running_system`` (the REST API over real HTTP, the
bridge server, local sandboxes with the real runtime and the real OpenCode), but
with a provider key configured and every port free, for the tests that follow a
model call from the agent to the provider and check where the key went.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from backend_jobs.control_plane import ControlPlane
from openinspect_app.api.app import attach, build_api
from openinspect_core.models import ModelUsage
from openinspect_core.settings import Settings
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import serve_http
from tests.support.system import BOT, OPENCODE_BIN, RunningSystem


@asynccontextmanager
async def system_with_model(tmp_path: Path, database_url: str, model: ScriptedModel, api_key: str,
                            **settings: Any) -> AsyncIterator[RunningSystem]:
    values: dict[str, Any] = dict(
        data_dir=tmp_path / "data", database_url=database_url, bridge_port=0, model_proxy_port=0,
        opencode_bin=OPENCODE_BIN, provider_base_url=model.base_url, provider_api_key=api_key,
        model="openinspect/scripted", bot_name=BOT[0], bot_email=BOT[1], repo_roots=(str(tmp_path),),
        heartbeat_interval_seconds=3600.0, **settings)
    system = ControlPlane(Settings.from_env({}, **values))
    await system.start()
    api = build_api()
    attach(api, system.context)
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30,
                                                                  trust_env=False) as client:
            yield RunningSystem(system, client, system.settings)
    finally:
        await system.stop()


async def usage_of(running: RunningSystem, session_id: str) -> list[ModelUsage]:
    async with running.system.db.session() as db:
        return list((await db.exec(select(ModelUsage).where(ModelUsage.session_id == session_id)
                                   .order_by(col(ModelUsage.id)))).all())
