"""A running system as tests (and benchmarks) drive it: the REST helpers, test repositories,
and the README's run command started as a subprocess.

Every REST call is authenticated the way a script would be: a person (Ada, by default)
with a personal API token, made through the identity service, sent as
``Authorization: Bearer``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from backend_jobs.control_plane import ControlPlane
from openinspect_app.api.app import attach, build_api
from openinspect_app.http import cookies
from openinspect_app.http.policy import session_secret
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.services import identity, users
from openinspect_core.settings import Settings
from tests.support.http import free_port, serve_http

REPO_ROOT = Path(__file__).resolve().parents[2]
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


async def api_token(context: AppContext, person: dict[str, str] = ADA, name: str = "tests") -> str:
    """A new API token for ``person`` (made if new), as the settings page would give them one."""
    async with context.work() as work:
        user = await users.get_or_create(work.db, person["name"], person["email"])
        _, plaintext = await identity.create_api_token(work.db, user, name)
    return plaintext


class ApiTokenAuth(httpx.Auth):
    """``Authorization: Bearer`` with a token for ``person``, made on the first request."""

    def __init__(self, context: AppContext, person: dict[str, str] = ADA) -> None:
        self.context, self.person = context, person
        self.token: str | None = None

    async def async_auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def, override]
        if self.token is None:
            self.token = await api_token(self.context, self.person)
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


async def sign_in_cookie(context: AppContext, person: dict[str, str] = ADA, ttl_seconds: int = 3600) -> str:
    """The value of a sign-in cookie for ``person``, as ``POST /api/auth/local`` would set it."""
    async with context.work() as work:
        _, token = await identity.sign_in_local(work.db, person["name"], person["email"], ttl_seconds=ttl_seconds)
    return cookies.sign(token, session_secret(context.settings))


@dataclass
class ServedApi:
    """The REST API alone (no background jobs, no sandboxes) on a real HTTP server."""

    api: FastAPI
    context: AppContext
    base_url: str

    @property
    def settings(self) -> Settings:
        return self.context.settings

    def client(self, *, token: str | None = None, cookie: str | None = None,
               origin: str | None = None) -> httpx.AsyncClient:
        """A client with the given credentials (and ``Origin``, as a browser page would send it)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if origin:
            headers["Origin"] = origin
        if cookie:
            headers["Cookie"] = f"{cookies.COOKIE_NAME}={cookie}"
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, headers=headers, trust_env=False,
                                 follow_redirects=False)


@asynccontextmanager
async def served_api(database: Database, data_dir: Path, **settings: Any) -> AsyncIterator[ServedApi]:
    """The API over ``database``; ``settings`` override the defaults (repositories allowed under /tmp)."""
    values: dict[str, Any] = {"database_url": database.url, "repo_roots": ("/tmp",), **settings}
    context = AppContext.of(Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}, **values), database, Notifier())
    api = build_api()
    attach(api, context)
    # A real HTTP server: httpx's ASGI transport buffers whole bodies, which hides streaming.
    async with serve_http(api) as base_url:
        yield ServedApi(api, context, base_url)


@dataclass
class RunningSystem:
    """The system and an HTTP client of its API, signed in as Ada (an API token)."""

    system: ControlPlane
    client: httpx.AsyncClient
    settings: Settings

    def __post_init__(self) -> None:
        if not isinstance(self.client.auth, ApiTokenAuth):
            self.client.auth = ApiTokenAuth(self.system.context)

    def workspace(self, session_id: str) -> Path:
        return self.settings.data_dir / "workspaces" / session_id

    async def create_session(self, repo_url: str | Path, **body: Any) -> dict:
        response = await self.client.post("/api/sessions", json={"repo_url": str(repo_url), **body})
        assert response.status_code == 201, response.text
        return response.json()

    async def prompt(self, session_id: str, content: str, request_id: str | None = None) -> dict:
        """A prompt from the client's person (the caller is always the author)."""
        response = await self.client.post(f"/api/sessions/{session_id}/prompts", json={
            "content": content, "client_request_id": request_id or f"req-{time.monotonic_ns()}"})
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




def token_over_http(base_url: str, person: dict[str, str] = ADA, name: str = "tests") -> str:
    """An API token from a running server, got the way a person gets one: sign in (local sign-in,
    the server is on loopback), then ``POST /api/tokens`` from the app's own origin."""
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        signed_in = http.post("/api/auth/local", json=person)
        assert signed_in.status_code == 200, signed_in.text
        created = http.post("/api/tokens", json={"name": name}, headers={"Origin": base_url})
        assert created.status_code == 201, created.text
        return created.json()["token"]


@dataclass
class RunCommand:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def run_command(root: Path, env: dict[str, str], start_timeout_seconds: float = 300) -> Iterator[RunCommand]:
    """``scripts/run`` (the README's run command) on free ports, with repositories allowed under
    ``root`` and ``env`` on top of a clean environment; yields once ``/api/health`` answers; stops
    its whole process group (SIGINT, as Ctrl-C would) at the end."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENINSPECT_")}
    clean.update(OPENINSPECT_WEB_PORT=str(port), OPENINSPECT_BRIDGE_PORT=str(free_port()),
                 OPENINSPECT_MODEL_PROXY_PORT=str(free_port()), OPENINSPECT_DEMO_MODEL_PORT=str(free_port()),
                 OPENINSPECT_DATA_DIR=str(root / "data"),
                 OPENINSPECT_REPO_ROOTS=str(root))  # test repositories are made under root
    clean.update(env)
    log = root / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(REPO_ROOT / "scripts" / "run")], cwd=root, env=clean, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_seconds
        while True:
            if process.poll() is not None:
                raise AssertionError(f"scripts/run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy within {start_timeout_seconds} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield RunCommand(base_url, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
