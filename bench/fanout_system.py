"""The system under test in the fan-out benchmark: ``scripts/run`` with manual sandboxes, and what is asked of it.

Starting and stopping it (with a throwaway PostgreSQL database when one is named),
making sessions over the REST API, counting their stored events, finding a manual
sandbox's environment file, and filling a session's history straight into the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openinspect_protocol as p
import psycopg

from bench.fanout_measure import tree_cpu_seconds
from openinspect_core.db import Database
from openinspect_core.services import timeline
from openinspect_core.settings import normalise_database_url
from tests.support.system import run_command, token_over_http

START_TIMEOUT_SECONDS = 600  # scripts/run compiles the frontend on a cold checkout
STOP_TIMEOUT_SECONDS = 60
ENV_FILE_TIMEOUT_SECONDS = 30
PREFILL_BATCH = 500  # events per transaction while filling a history
# scripts/run starts the scripted demo model unless a provider is set; manual sandboxes use none.
UNUSED_PROVIDER_URL = "http://127.0.0.1:9/v1"
POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg://")


@dataclass
class System:
    base_url: str
    data_dir: Path
    database_url: str  # async SQLAlchemy URL of the system's database
    pid: int

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)


@contextlib.contextmanager
def throwaway_database(url: str | None) -> Iterator[str | None]:
    """None (SQLite in the data dir), a PostgreSQL database made for this run, or ``url`` as given."""
    if url is None or not url.startswith(POSTGRES_PREFIXES):
        yield url
        return
    admin = "postgresql://" + url.split("://", 1)[1]
    name = f"oi_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_system(root: Path, database_url: str | None, **settings: str) -> Iterator[System]:
    """``scripts/run`` in production mode with the manual backend; stopped (its process group) on exit.
    Its REST API is called with an API token got by signing in (``token_over_http``). ``settings``:
    more ``OPENINSPECT_*`` variables."""
    # Every session is one person's (the bench's token): lift the per-person bounds (5 sandboxes by default).
    env = {"OPENINSPECT_SANDBOX_BACKEND": "manual", "OPENINSPECT_PROVIDER_BASE_URL": UNUSED_PROVIDER_URL,
           "OPENINSPECT_REPO_ROOTS": str(root), "OPENINSPECT_MAX_SANDBOXES_PER_USER": "1000",
           "OPENINSPECT_MAX_SANDBOXES": "1000", **settings}
    if database_url:
        env["OPENINSPECT_DATABASE_URL"] = database_url
    with run_command(root, env, start_timeout_seconds=START_TIMEOUT_SECONDS) as started:
        data_dir = root / "data"
        url = normalise_database_url(database_url or f"sqlite:///{data_dir.resolve() / 'openinspect.db'}")
        _API_TOKENS[started.base_url] = token_over_http(started.base_url, name="bench")
        try:
            yield System(started.base_url, data_dir, url, started.process.pid)
        finally:
            _API_TOKENS.pop(started.base_url, None)


# The API token of each running system, by its base URL: the phases make their own clients.
_API_TOKENS: dict[str, str] = {}


def _auth(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {_API_TOKENS[str(http.base_url).rstrip('/')]}"}


async def create_session(http: httpx.AsyncClient, repo: Path, title: str) -> str:
    response = await http.post("/api/sessions", json={"repo_url": str(repo), "title": title}, headers=_auth(http))
    response.raise_for_status()
    return response.json()["id"]


async def stored_events(http: httpx.AsyncClient, session_ids: list[str]) -> int:
    """The sum of the sessions' last event sequences (events are dense per session)."""
    total = 0
    for session_id in session_ids:
        response = await http.get(f"/api/sessions/{session_id}", headers=_auth(http))
        response.raise_for_status()
        total += response.json()["last_event_sequence"]
    return total


async def sandbox_env(data_dir: Path, session_id: str) -> dict[str, str]:
    """The environment the manual backend wrote for the session's sandbox (waits for it)."""
    env_dir = data_dir / "manual-sandboxes"
    deadline = time.monotonic() + ENV_FILE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for path in sorted(env_dir.glob("*.json")) if env_dir.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                env = json.loads(path.read_text())
                if env.get("OPENINSPECT_SESSION_ID") == session_id:
                    return env
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no manual sandbox file for session {session_id} in {env_dir}")


async def prefill(database_url: str, session_id: str, events: int) -> None:
    """Append ``events`` timeline events (tool call/result pairs) straight into the database."""
    db = Database(database_url)
    try:
        written = 0
        while written < events:
            async with db.session() as s:
                for _ in range(min(PREFILL_BATCH, events - written)):
                    pair, is_result = divmod(written, 2)
                    event = _history_event(pair, is_result=bool(is_result))
                    await timeline.append(s, session_id, event)
                    written += 1
                await s.commit()
    finally:
        await db.dispose()


def _history_event(pair: int, *, is_result: bool) -> p.ToolCall | p.ToolResult:
    """A plausible tool step: a grep over a file, and its few lines of output."""
    call_id, path = f"hist-{pair}", f"src/module_{pair % 97}.py"
    if not is_result:
        return p.ToolCall(call_id=call_id, tool="bash",
                          input={"command": f"grep -n 'TODO' {path}", "description": f"Find TODOs in {path}"})
    output = "".join(f"{path}:{10 * i + pair % 7}: # TODO: handle the {i}th case of step {pair}\n" for i in range(5))
    return p.ToolResult(call_id=call_id, tool="bash", status="completed", title=f"Find TODOs in {path}",
                        output=output)
