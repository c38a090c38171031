"""A whole running system for integration tests: the embedded default (REST API
served over real HTTP, bridge server, dispatcher, local sandboxes running the real
sandbox runtime and the real OpenCode) driven by the scripted model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from openinspect_app.api.app import attach, build_api
from openinspect_app.config import Settings
from openinspect_app.embedded import EmbeddedSystem
from tests.conftest import REPO_ROOT
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import serve_http

OPENCODE_BIN = os.environ.get("OPENINSPECT_OPENCODE_BIN", str(REPO_ROOT / "node_modules" / ".bin" / "opencode"))
WAIT_SECONDS = 90.0  # generous: two cores, several OpenCode servers at once
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}
BOT = ("Open-Inspect Bot", "bot@openinspect.test")


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A git repository with one commit holding ``files`` (scripts made executable)."""
    path.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Repo Owner", "GIT_AUTHOR_EMAIL": "owner@example.com",
           "GIT_COMMITTER_NAME": "Repo Owner", "GIT_COMMITTER_EMAIL": "owner@example.com"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for name, content in files.items():
        file = path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
        if name.endswith(".sh"):
            file.chmod(0o755)
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "-m", "initial"], check=True, env=env)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {
        "README.md": "# Project\n",
        ".openinspect/setup.sh": "#!/bin/bash\necho 'setup says hello'\necho 'to stderr' >&2\n",
    })


@dataclass
class RunningSystem:
    system: EmbeddedSystem
    client: httpx.AsyncClient
    settings: Settings

    def workspace(self, session_id: str) -> Path:
        return self.settings.data_dir / "workspaces" / session_id

    async def create_session(self, repo_url: str | Path, **body: Any) -> dict:
        response = await self.client.post("/api/sessions", json={"repo_url": str(repo_url), **body})
        assert response.status_code == 201, response.text
        return response.json()

    async def prompt(self, session_id: str, content: str, request_id: str | None = None,
                     author: dict | None = None) -> dict:
        response = await self.client.post(f"/api/sessions/{session_id}/prompts", json={
            "content": content, "client_request_id": request_id or f"req-{time.monotonic_ns()}",
            "author": author or ADA})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def events(self, session_id: str, after: int = 0) -> list[dict]:
        events: list[dict] = []
        while True:
            page = (await self.client.get(f"/api/sessions/{session_id}/events", params={"after": after})).json()
            events += page["events"]
            after = page["next_after"]
            if not page["has_more"]:
                return events

    async def wait_for(self, session_id: str, predicate: Callable[[dict], bool],
                       timeout_seconds: float = WAIT_SECONDS) -> dict:
        """The first stored event matching ``predicate`` (polling the REST API)."""
        deadline = time.monotonic() + timeout_seconds
        seen = 0
        while time.monotonic() < deadline:
            for event in await self.events(session_id, after=seen):
                seen = event["sequence"]
                if predicate(event):
                    return event
            await asyncio.sleep(0.1)
        events = await self.events(session_id)
        summary = "\n".join(f"{e['sequence']} {e['type']} {str(e['data'])[:200]}" for e in events)
        raise AssertionError(f"no matching event within {timeout_seconds} s; timeline:\n{summary}")

    async def wait_for_status(self, session_id: str, status: str, timeout_seconds: float = WAIT_SECONDS) -> dict:
        return await self.wait_for(
            session_id, lambda e: e["type"] == "session_status" and e["data"]["status"] == status, timeout_seconds)

    async def wait_for_prompt_end(self, session_id: str, message_id: str,
                                  timeout_seconds: float = WAIT_SECONDS) -> dict:
        return await self.wait_for(
            session_id, lambda e: e["type"] == "prompt_finished" and e["message_id"] == message_id, timeout_seconds)


@pytest.fixture
async def running_system(database_url: str, tmp_path: Path, scripted_model: ScriptedModel,
                         request: pytest.FixtureRequest) -> AsyncIterator[RunningSystem]:
    """The system; a test may change settings with ``@pytest.mark.settings(name=value)``."""
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    settings = Settings.from_env(
        {}, data_dir=tmp_path / "data", database_url=database_url, bridge_port=0,
        opencode_bin=OPENCODE_BIN, provider_base_url=scripted_model.base_url, model="openinspect/scripted",
        bot_name=BOT[0], bot_email=BOT[1],
        # No heartbeats during a test: every bridge sequence number then belongs to a stored event,
        # which lets the tests check the stored sequence for gaps.
        heartbeat_interval_seconds=3600.0,
        **overrides,
    )
    system = EmbeddedSystem(settings)
    await system.start()
    api = build_api()
    attach(api, system.context)
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield RunningSystem(system, client, settings)
    finally:
        await system.stop()
