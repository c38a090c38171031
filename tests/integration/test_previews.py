"""Live previews through the real proxy: the REST app on a real HTTP server, the session's sandbox as the
database records it, and a real HTTP + WebSocket server on a loopback port standing in for the dev server
(what a local sandbox's ``start.sh`` starts: local sandboxes share this machine's network). The address
comes from the real local backend's lookup (``SandboxAddressBook``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openinspect_protocol import PreviewPorts
from openinspect_protocol.previews import PreviewPort
from openinspect_protocol.timeline import SandboxExited
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from backend_jobs.sandboxes.addresses import SandboxAddressBook
from openinspect_app.api.app import attach, build_api
from openinspect_app.http import cookies
from openinspect_app.http.policy import session_secret
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Sandbox, SandboxStatus
from openinspect_core.notify.local import Notifier
from openinspect_core.services import identity, timeline
from openinspect_core.settings import Settings
from tests.support.http import free_port, serve_http
from tests.support.system import ADA, api_token, sign_in_cookie

PAGE = "<!doctype html><title>Dev app</title><h1>Hello from the dev server</h1><script src='app.js'></script>"


def dev_server(seen: list[dict[str, str]]) -> Starlette:
    """What a repository's dev server might do: a page, a redirect, a cookie, a big file, a slow answer,
    an echo WebSocket; every request's headers are kept in ``seen``."""

    async def page(request: Request) -> Response:
        seen.append(dict(request.headers))
        return HTMLResponse(PAGE, headers={"set-cookie": "openinspect_session=tossed; Path=/",
                                           "clear-site-data": '"*"', "x-dev": "kept"})

    async def echo_body(request: Request) -> Response:
        seen.append(dict(request.headers))
        return JSONResponse({"method": request.method, "body": (await request.body()).decode(),
                             "query": request.url.query})

    async def moved(request: Request) -> Response:
        return RedirectResponse(f"http://127.0.0.1:{request.url.port}/login?from=moved", status_code=302)

    async def big(request: Request) -> Response:
        return Response(b"x" * 5000, media_type="application/octet-stream")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(5)
        return Response("late")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="vite-hmr" if "vite-hmr" in websocket.scope["subprotocols"] else None)
        seen.append(dict(websocket.headers))
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "bye":
                await websocket.close(code=4001, reason="dev server says bye")
                return
            if message.get("text") is not None:
                await websocket.send_text("echo: " + message["text"])
            else:
                await websocket.send_bytes(message["bytes"][::-1])

    return Starlette(routes=[Route("/", page), Route("/api/echo", echo_body, methods=["GET", "POST", "PUT"]),
                             Route("/moved", moved), Route("/big", big), Route("/slow", slow),
                             WebSocketRoute("/hmr", echo)])


@dataclass
class Rig:
    base_url: str
    context: AppContext
    session_id: str
    port: int  # the dev server's, declared
    sandbox: Sandbox
    cookie: str  # Ada's sign-in
    seen: list[dict[str, str]]

    def client(self, cookie: str | None = None, **headers: str) -> httpx.AsyncClient:
        if cookie:
            headers["Cookie"] = f"{cookies.COOKIE_NAME}={cookie}"
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, trust_env=False, headers=headers)

    async def open(self, port: int | None = None, session_id: str | None = None, cookie: str | None = None,
                   query: str = "") -> httpx.Response:
        async with self.client(cookie or self.cookie) as http:
            return await http.get(f"/sessions/{session_id or self.session_id}/preview/{port or self.port}/{query}")

    async def granted(self, **kwargs: object) -> str:
        """The preview's granted path prefix (what "Open preview" redirects to, less the declared path)."""
        response = await self.open(**kwargs)  # type: ignore[arg-type]
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        return location[: location.index("/", len(f"/sessions/{self.session_id}/preview/{self.port}/"))]

    async def declare(self, *ports: int, sandbox: Sandbox | None = None, session_id: str | None = None) -> None:
        async with self.context.work() as work:
            await timeline.append(work.db, session_id or self.session_id, PreviewPorts(seq=1, ports=[
                PreviewPort(port=p, label=f"App {p}") for p in ports]),
                sandbox_id=(sandbox or self.sandbox).id, sandbox_seq=None)


async def live_sandbox(context: AppContext, session_id: str) -> Sandbox:
    async with context.work() as work:
        sandbox = Sandbox(session_id=session_id, backend="local", external_id="x", status=SandboxStatus.READY,
                          auth_token_hash=identity.new_secret())
        work.db.add(sandbox)
        await work.db.flush()
        sandbox.external_id = sandbox.id
        work.db.add(sandbox)
    return sandbox


@pytest.fixture
async def rig(database: Database, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    marker = request.node.get_closest_marker("settings")
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")}, database_url=database.url,
                                 repo_roots=("/tmp",), **(dict(marker.kwargs) if marker else {}))
    book = SandboxAddressBook(settings)  # the local backend's own lookup, built the way the web process does
    context = dataclasses.replace(AppContext.of(settings, database, Notifier()), sandbox_addresses=book.address)
    api = build_api()
    attach(api, context)
    seen: list[dict[str, str]] = []
    async with serve_http(api) as base_url, serve_http(dev_server(seen)) as dev_url:
        token = await api_token(context)
        async with httpx.AsyncClient(base_url=base_url, trust_env=False,
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            session = (await http.post("/api/sessions", json={"repo_url": "/tmp/app"})).json()
        sandbox = await live_sandbox(context, session["id"])
        rig = Rig(base_url, context, session["id"], urlsplit(dev_url).port or 0, sandbox,
                  await sign_in_cookie(context), seen)
        await rig.declare(rig.port)
        yield rig


async def test_open_preview_sends_the_browser_to_its_grant_and_the_page_comes_through(rig: Rig) -> None:
    opened = await rig.open()
    assert opened.status_code == 303 and opened.headers["cache-control"] == "no-store"
    location = opened.headers["location"]
    assert location.startswith(f"/sessions/{rig.session_id}/preview/{rig.port}/c-") and location.endswith("/")
    # The page and its own requests carry no cookie (an opaque origin's requests do not): the grant is enough.
    async with rig.client(Referer=f"{rig.base_url}{location}", Authorization="Bearer oi_someone") as http:
        page = await http.get(location)
        assert page.status_code == 200 and page.text == PAGE
        assert page.headers["content-security-policy"].startswith("sandbox allow-scripts")
        assert "allow-same-origin" not in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer" and page.headers["x-dev"] == "kept"
        assert "set-cookie" not in page.headers and "clear-site-data" not in page.headers
        sent = rig.seen[-1]
        assert sent["host"] == f"127.0.0.1:{rig.port}"
        assert "cookie" not in sent and "authorization" not in sent and "referer" not in sent
        assert sent["x-forwarded-prefix"] == location.rstrip("/")
        posted = await http.post(location + "api/echo?x=1", content=b"hello")
        assert posted.json() == {"method": "POST", "body": "hello", "query": "x=1"}
        moved = await http.get(location + "moved")
        assert moved.status_code == 302 and moved.headers["location"] == location + "login?from=moved"


async def test_a_websocket_echoes_through_the_proxy(rig: Rig) -> None:
    prefix = await rig.granted()
    url = rig.base_url.replace("http://", "ws://") + prefix + "/hmr?token=abc"
    # As a sandboxed page opens it: Origin "null", no cookie.
    async with connect(url, origin="null", subprotocols=["vite-hmr"], proxy=None) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "vite-hmr"
        await ws.send("hot update?")
        assert await ws.recv() == "echo: hot update?"
        await ws.send(b"\x01\x02\x03")
        assert await ws.recv() == b"\x03\x02\x01"
        await ws.send("bye")
        with pytest.raises(Exception):  # noqa: B017 - the dev server's close comes through as the close
            await ws.recv()
        assert (ws.close_code, ws.close_reason) == (4001, "dev server says bye")
    assert "cookie" not in rig.seen[-1] and rig.seen[-1]["host"] == f"127.0.0.1:{rig.port}"


async def test_nobody_signed_in_gets_no_preview(rig: Rig) -> None:
    async with rig.client() as http:
        refused = await http.get(f"/sessions/{rig.session_id}/preview/{rig.port}/")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
        page_load = await http.get(f"/sessions/{rig.session_id}/preview/{rig.port}/",
                                   headers={"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"})
        assert page_load.status_code == 303
        assert page_load.headers["location"] == f"/signin?next=/sessions/{rig.session_id}/preview/{rig.port}/"
        forged = await http.get(f"/sessions/{rig.session_id}/preview/{rig.port}/c-{'0' * 32}-zzzzzz-{'A' * 22}/")
        assert forged.status_code == 401
        ws = rig.base_url.replace("http://", "ws://") + f"/sessions/{rig.session_id}/preview/{rig.port}/" \
            f"c-{'0' * 32}-zzzzzz-{'A' * 22}/hmr"
        with pytest.raises(InvalidStatus) as denied:
            async with connect(ws, origin="null", proxy=None):  # type: ignore[arg-type]
                pass
        assert denied.value.response.status_code == 401
    assert rig.seen == []  # the dev server heard nothing of any of it


async def test_a_grant_opens_only_its_own_session_and_port(rig: Rig) -> None:
    prefix = await rig.granted()
    grant = prefix.rsplit("/", 1)[1]
    other = await live_sandbox(rig.context, await _another_session(rig))
    await rig.declare(rig.port, sandbox=other, session_id=other.session_id)
    await rig.declare(rig.port, rig.port + 1)
    async with rig.client() as http:
        assert (await http.get(f"/sessions/{other.session_id}/preview/{rig.port}/{grant}/")).status_code == 401
        assert (await http.get(f"/sessions/{rig.session_id}/preview/{rig.port + 1}/{grant}/")).status_code == 401
        tampered = grant[:-1] + ("A" if grant[-1] != "A" else "B")
        assert (await http.get(f"/sessions/{rig.session_id}/preview/{rig.port}/{tampered}/")).status_code == 401
        assert (await http.get(prefix + "/")).status_code == 200
    assert len(rig.seen) == 1


async def test_an_undeclared_port_is_refused(rig: Rig) -> None:
    refused = await rig.open(port=5432)
    assert refused.status_code == 404
    error = refused.json()["error"]
    assert error["code"] == "preview_not_declared" and f"declared in .openinspect/preview.toml: {rig.port}" in \
        error["message"]
    # The sandbox's newest declaration is the one that counts: a port it no longer declares is closed.
    prefix = await rig.granted()
    await rig.declare(rig.port + 1)
    async with rig.client() as http:
        gone = await http.get(prefix + "/")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "preview_not_declared"
    assert rig.seen == []


async def test_a_stopped_sandbox_has_no_preview(rig: Rig) -> None:
    prefix = await rig.granted()
    async with rig.context.work() as work:
        sandbox = await work.db.get(Sandbox, rig.sandbox.id)
        assert sandbox is not None
        sandbox.status = SandboxStatus.STOPPED
        work.db.add(sandbox)
        await timeline.append(work.db, rig.session_id, SandboxExited(sandbox_id=sandbox.id, exit_code=0,
                                                                     reason="stopped"))
    async with rig.client() as http:
        gone = await http.get(prefix + "/")
    assert gone.status_code == 503 and gone.json()["error"]["code"] == "no_sandbox"
    assert (await rig.open()).json()["error"]["code"] == "no_sandbox"


async def test_a_dev_server_that_is_down_is_a_clear_502(rig: Rig) -> None:
    down = free_port()
    await rig.declare(rig.port, down)
    prefix = await rig.granted(port=down)
    async with rig.client() as http:
        answer = await http.get(prefix + "/")
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "preview_unreachable"
    assert f"nothing answers on port {down}" in answer.json()["error"]["message"]
    assert answer.headers["content-security-policy"].startswith("sandbox")
    ws = rig.base_url.replace("http://", "ws://") + prefix + "/hmr"
    with pytest.raises(InvalidStatus) as denied:
        async with connect(ws, origin="null", proxy=None):  # type: ignore[arg-type]
            pass
    assert denied.value.response.status_code == 502


@pytest.mark.settings(preview_timeout_seconds=1, preview_max_response_bytes=4096)
async def test_a_slow_dev_server_is_a_504_and_a_large_answer_a_502(rig: Rig) -> None:
    prefix = await rig.granted()
    async with rig.client() as http:
        slow = await http.get(prefix + "/slow")
        assert slow.status_code == 504 and slow.json()["error"]["code"] == "preview_timeout"
        assert "within 1 s" in slow.json()["error"]["message"]
        big = await http.get(prefix + "/big")
        assert big.status_code == 502 and big.json()["error"]["code"] == "preview_too_large"


@pytest.mark.settings(max_request_bytes=1024)
async def test_a_request_body_over_the_limit_is_refused_before_the_dev_server(rig: Rig) -> None:
    prefix = await rig.granted()
    async with rig.client() as http:
        refused = await http.post(prefix + "/api/echo", content=b"y" * 2048)
    assert refused.status_code == 413 and rig.seen == []


async def test_signing_out_ends_the_grant_and_a_page_load_by_someone_signed_in_renews_it(rig: Rig) -> None:
    cookie = await sign_in_cookie(rig.context, ADA)
    prefix = await rig.granted(cookie=cookie)
    async with rig.context.work() as work:
        await identity.sign_out(work.db, cookie.rsplit(".", 1)[0])
    async with rig.client() as http:
        ended = await http.get(prefix + "/")
        assert ended.status_code == 401
    # The same page loaded by someone whose own sign-in works (a top-level navigation carries it): a new grant.
    async with rig.client(rig.cookie) as http:
        renewed = await http.get(prefix + "/api/echo?q=1")
    assert renewed.status_code == 303
    assert renewed.headers["location"] == (f"/sessions/{rig.session_id}/preview/{rig.port}/"
                                           f"?path=%2Fapi%2Fecho%3Fq%3D1")
    follow = await rig.open(query="?path=%2Fapi%2Fecho%3Fq%3D1")
    assert follow.headers["location"].endswith("/api/echo?q=1")
    secret = session_secret(rig.context.settings)
    assert json.dumps(rig.seen).find(cookies.unsign(cookie, secret) or "none") == -1


async def _another_session(rig: Rig) -> str:
    token = await api_token(rig.context)
    async with rig.client(Authorization=f"Bearer {token}") as http:
        return str((await http.post("/api/sessions", json={"repo_url": "/tmp/other"})).json()["id"])
