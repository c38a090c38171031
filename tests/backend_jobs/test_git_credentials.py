"""The credential broker on the bridge server's port, against the fake GitHub, on SQLite and PostgreSQL:
a live sandbox gets a token good for its session's repository only; everyone else is refused; the token
is never logged."""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from openinspect_protocol.logs import JsonFormatter
from sqlmodel import select
from websockets.datastructures import Headers

from backend_jobs import tokens
from backend_jobs.bridge_handler import BridgeSessions
from backend_jobs.bridge_server import (
    BridgeConnections,
    BridgeServer,
    Handshake,
    Refusal,
    check_credentials_request,
    is_credentials_path,
)
from backend_jobs.ingestion import Ingestor
from backend_jobs.pull_requests import AgentPullRequests
from openinspect_core.db import Database
from openinspect_core.models import Event, Repo, Sandbox
from tests.openinspect_core.github.github_world import (
    FULL_NAME,
    ORG,
    OTHER_REPO,
    GitHubWorld,
    github_session,
    github_world,
)
from tests.openinspect_core.services.seed import seed

# Whatever might log a request or an answer: ours, the websockets server, githubkit and httpx beneath it.
WATCHED_LOGGERS = ("", "backend_jobs", "openinspect_core", "websockets", "githubkit", "httpx", "httpcore")


@pytest.fixture
def world(tmp_path: Path, database: Database) -> Iterator[GitHubWorld]:
    with github_world(tmp_path, database) as world:
        yield world


class QuietDispatcher:
    """The handler nudges the dispatcher after some frames; nothing here needs one."""

    async def on_connected(self, connection: object) -> None:
        return None

    def nudge(self, session_id: str) -> None:
        return None


@asynccontextmanager
async def bridge_server(world: GitHubWorld, pull_requests: AgentPullRequests | None = None,
                        connections: BridgeConnections | None = None) -> AsyncIterator[str]:
    """The bridge server with the real handler; its http:// base URL."""
    ctx = world.context
    connections = connections or BridgeConnections()
    handler = BridgeSessions(ctx.db, ctx.notifier, Ingestor(ctx.db, ctx.notifier), QuietDispatcher(),  # type: ignore[arg-type]
                             github=ctx.github, pull_requests=pull_requests)
    server = BridgeServer(handler, connections, "127.0.0.1", 0, credentials=handler)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def sandbox_for(database: Database, session_id: str, token: str, status: str = "ready") -> str:
    async with database.session() as db:
        sandbox = Sandbox(session_id=session_id, backend="test", auth_token_hash=tokens.token_hash(token),
                          status=status)
        db.add(sandbox)
        await db.commit()
        return sandbox.id


async def ask(base_url: str, session_id: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.get(f"{base_url}/bridge/{session_id}/git-credentials", headers=headers)


def git_can_clone(world: GitHubWorld, full_name: str, password: str, into: Path) -> bool:
    basic = base64.b64encode(f"x-access-token:{password}".encode()).decode()
    done = subprocess.run(["git", "-c", f"http.extraHeader=Authorization: Basic {basic}", "clone", "-q",
                           f"{world.gh.base_url}/{full_name}.git", str(into)],
                          capture_output=True, text=True, timeout=60)
    return done.returncode == 0


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every record any watched logger emits, at every level, formatted with its fields."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    handler = Collect(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


async def test_a_live_sandbox_gets_a_token_for_its_repository_only(world: GitHubWorld, tmp_path: Path) -> None:
    _, session_id = await github_session(world)
    await sandbox_for(world.context.db, session_id, "sandbox-token")
    with captured_logs() as logs:
        async with bridge_server(world) as base_url:
            response = await ask(base_url, session_id, "sandbox-token")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["username"] == "x-access-token" and body["password"].startswith("ghs_") and body["expires_at"]
    password = body["password"]
    assert await asyncio.to_thread(git_can_clone, world, FULL_NAME, password, tmp_path / "mine")
    assert not await asyncio.to_thread(git_can_clone, world, f"{ORG}/{OTHER_REPO}", password, tmp_path / "other")
    assert any("credentials_issued" in line for line in logs)
    assert not [line for line in logs if password in line]
    async with world.context.db.session() as db:
        rows = (await db.exec(select(Event))).all()
    assert not [row for row in rows if password in str(row.data)]


async def test_refusals(world: GitHubWorld, database: Database) -> None:
    _, session_id = await github_session(world)
    _, other_session_id = await github_session(world)
    await sandbox_for(database, session_id, "mine")
    await sandbox_for(database, other_session_id, "theirs")
    _, ended_session_id = await github_session(world)
    await sandbox_for(database, ended_session_id, "ended", status="stopped")
    local = await seed(database)
    await sandbox_for(database, local.session_id, "local")
    async with bridge_server(world) as base_url:
        answers = {
            "no token": await ask(base_url, session_id, None),
            "unknown token": await ask(base_url, session_id, "nobody-has-this"),
            "another session's token": await ask(base_url, session_id, "theirs"),
            "ended sandbox": await ask(base_url, ended_session_id, "ended"),
            "local repository": await ask(base_url, local.session_id, "local"),
        }
    assert {name: r.status_code for name, r in answers.items()} == {
        "no token": 401, "unknown token": 401, "another session's token": 403, "ended sandbox": 403,
        "local repository": 404}
    assert "another session" in answers["another session's token"].text
    assert "not on GitHub" in answers["local repository"].text
    assert all("password" not in r.text for r in answers.values())


async def test_github_refusing_is_a_502_saying_why(world: GitHubWorld, database: Database) -> None:
    _, session_id = await github_session(world, installation_id=987654)  # no such installation on GitHub
    await sandbox_for(database, session_id, "mine")
    with captured_logs() as logs:
        async with bridge_server(world) as base_url:
            refused = await ask(base_url, session_id, "mine")
            async with world.context.work() as work:  # the App was uninstalled from the repository since
                repo = (await work.db.exec(select(Repo).where(Repo.full_name == FULL_NAME))).one()
                repo.installation_id = None
                work.db.add(repo)
            uninstalled = await ask(base_url, session_id, "mine")
    assert refused.status_code == 502
    assert "GitHub refused a token for installation 987654 (404" in refused.text
    assert uninstalled.status_code == 502 and "no longer installed" in uninstalled.text
    assert any("credentials_refused" in line for line in logs)
    issued = world.gh.issued_tokens()
    assert not [line for line in logs for token in issued if token in line]


async def test_without_a_github_app_nothing_is_brokered(world: GitHubWorld, database: Database) -> None:
    _, session_id = await github_session(world)
    await sandbox_for(database, session_id, "mine")
    ctx = world.context
    handler = BridgeSessions(ctx.db, ctx.notifier, Ingestor(ctx.db, ctx.notifier), QuietDispatcher())  # type: ignore[arg-type]
    server = BridgeServer(handler, BridgeConnections(), "127.0.0.1", 0, credentials=handler)
    await server.start()
    try:
        answer = await ask(f"http://127.0.0.1:{server.port}", session_id, "mine")
    finally:
        await server.close()
    assert answer.status_code == 404


@pytest.mark.parametrize(("path", "authorization", "expected"), [
    ("/bridge/s1/git-credentials", "Bearer tok", Handshake("s1", "tok")),
    ("/bridge/s1/git-credentials?x=1", "bearer tok", Handshake("s1", "tok")),
    ("/bridge//git-credentials", "Bearer tok", Refusal(HTTPStatus.BAD_REQUEST,
                                                        "expected /bridge/{session_id}/git-credentials")),
    ("/bridge/a/b/git-credentials", "Bearer tok", Refusal(HTTPStatus.BAD_REQUEST,
                                                           "expected /bridge/{session_id}/git-credentials")),
    ("/bridge/s1/git-credentials", None, Refusal(HTTPStatus.UNAUTHORIZED, "missing bearer token")),
    ("/bridge/s1/git-credentials", "Basic eDp5", Refusal(HTTPStatus.UNAUTHORIZED, "missing bearer token")),
])
def test_a_credentials_request_names_one_session_and_a_bearer_token(
        path: str, authorization: str | None, expected: Handshake | Refusal) -> None:
    headers = Headers()
    if authorization is not None:
        headers["Authorization"] = authorization
    assert is_credentials_path(path)
    assert check_credentials_request(path, headers) == expected


def test_only_the_credentials_path_is_served_as_plain_http() -> None:
    assert not is_credentials_path("/bridge/s1")
    assert not is_credentials_path("/bridge/s1/more")
    assert not is_credentials_path("/other/s1/git-credentials")
