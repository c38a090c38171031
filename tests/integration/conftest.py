"""A whole running system for integration tests: the embedded default (REST API
served over real HTTP, bridge server, dispatcher, local sandboxes running the real
sandbox runtime and the real OpenCode) driven by the scripted model."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend_jobs.control_plane import ControlPlane
from openinspect_app.api.app import attach, build_api
from openinspect_core.settings import Settings
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import serve_http
from tests.support.system import BOT, OPENCODE_BIN, RunningSystem, make_repo
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {
        "README.md": "# Project\n",
        ".openinspect/setup.sh": "#!/bin/bash\necho 'setup says hello'\necho 'to stderr' >&2\n",
    })


def system_settings(database_url: str, tmp_path: Path, scripted_model: ScriptedModel,
                    request: pytest.FixtureRequest, **values: object) -> Settings:
    """The test system's settings; a test may change them with ``@pytest.mark.settings(name=value)``."""
    marker = request.node.get_closest_marker("settings")
    chosen: dict[str, object] = dict(
        data_dir=tmp_path / "data", database_url=database_url, bridge_port=0, model_proxy_port=0,
        opencode_bin=OPENCODE_BIN, provider_base_url=scripted_model.base_url, model="openinspect/scripted",
        bot_name=BOT[0], bot_email=BOT[1],
        repo_roots=(str(tmp_path),),  # the test repositories (the data dir below is never allowed)
        # No heartbeats during a test: every bridge sequence number then belongs to a stored event,
        # which lets the tests check the stored sequence for gaps.
        heartbeat_interval_seconds=3600.0,
    )
    chosen.update(values)
    chosen.update(marker.kwargs if marker else {})
    return Settings.from_env({}, **chosen)  # type: ignore[arg-type]


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[RunningSystem]:
    system = ControlPlane(settings)
    await system.start()
    api = build_api()
    attach(api, system.context)
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield RunningSystem(system, client, settings)
    finally:
        await system.stop()
        # Anything the system left unclosed is reported now, against this test, not a later one.
        gc.collect()


@pytest.fixture
async def running_system(database_url: str, tmp_path: Path, scripted_model: ScriptedModel,
                         request: pytest.FixtureRequest) -> AsyncIterator[RunningSystem]:
    """The system; a test may change settings with ``@pytest.mark.settings(name=value)``."""
    async with serving(system_settings(database_url, tmp_path, scripted_model, request)) as system:
        yield system


@dataclass
class ProxiedSystem:
    system: RunningSystem
    proxy: TcpProxy  # between the sandboxes and the bridge server


@pytest.fixture
async def proxied_system(database_url: str, tmp_path: Path, scripted_model: ScriptedModel,
                         request: pytest.FixtureRequest) -> AsyncIterator[ProxiedSystem]:
    """The system with its sandboxes reaching the bridge server through a :class:`TcpProxy`."""
    started: list[RunningSystem] = []

    def bridge() -> tuple[str, int]:
        jobs = started[0].system.jobs
        assert jobs is not None
        return "127.0.0.1", jobs.bridge_server.port

    async with TcpProxy(bridge) as proxy:
        settings = system_settings(database_url, tmp_path, scripted_model, request,
                                   bridge_public_url=f"ws://127.0.0.1:{proxy.port}")
        async with serving(settings) as system:
            started.append(system)
            yield ProxiedSystem(system, proxy)
