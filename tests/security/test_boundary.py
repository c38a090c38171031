"""The HTTP boundary as an attacker meets it: foreign origins, forged forms, rebinding names,
oversize bodies, redirects elsewhere. Each was open before the boundary existed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import func, select
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from openinspect_core.models import Message, Session, SignIn
from tests.support.system import ADA, ServedApi, api_token, sign_in_cookie

EVIL = "https://evil.example"


async def count(served: ServedApi, table: type) -> int:
    async with served.context.db.session() as db:
        return (await db.exec(select(func.count()).select_from(table))).one()


async def test_a_preflight_from_a_foreign_origin_is_refused_and_our_own_is_allowed(served: ServedApi) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    async with served.client() as http:
        foreign = await http.options("/api/sessions", headers={"Origin": EVIL, **preflight})
        own = await http.options("/api/sessions", headers={"Origin": served.settings.origin, **preflight})
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == served.settings.origin
    assert own.headers["access-control-allow-credentials"] == "true"


async def test_a_simple_cross_origin_read_gets_no_cors_grant(served: ServedApi) -> None:
    token = await api_token(served.context)
    async with served.client(token=token, origin=EVIL) as http:
        response = await http.get("/api/sessions")
    assert "access-control-allow-origin" not in response.headers  # the foreign page cannot read it


async def test_a_cross_site_form_post_with_the_cookie_is_refused_and_changes_nothing(served: ServedApi) -> None:
    cookie = await sign_in_cookie(served.context)
    form = {"repo_url": "/tmp/anything"}
    async with served.client(cookie=cookie, origin=EVIL) as foreign, served.client(cookie=cookie) as no_origin:
        refused = await foreign.post("/api/sessions", data=form)
        json_refused = await foreign.post("/api/sessions", json=form)
        silent = await no_origin.post("/api/sessions", json=form)
        referred = await no_origin.post("/api/sessions", json=form, headers={"Referer": f"{EVIL}/page"})
    for response in (refused, json_refused, silent, referred):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "csrf_refused"
    assert await count(served, Session) == 0


async def test_our_own_pages_may_change_things_with_the_cookie(served: ServedApi) -> None:
    cookie = await sign_in_cookie(served.context)
    async with served.client(cookie=cookie, origin=served.settings.origin) as own, \
            served.client(cookie=cookie) as referred:
        created = await own.post("/api/sessions", json={"repo_url": "/tmp/anything"})
        also = await referred.post("/api/sessions", json={"repo_url": "/tmp/other"},
                                   headers={"Referer": f"{served.settings.origin}/sessions"})
    assert (created.status_code, also.status_code) == (201, 201)


async def test_an_api_token_needs_no_origin(served: ServedApi) -> None:
    token = await api_token(served.context)
    async with served.client(token=token) as http:
        assert (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).status_code == 201


@pytest.mark.parametrize("host", ["evil.example", "evil.example:3000", "127.0.0.1.nip.io", "", "[::2]:3000"])
async def test_a_wrong_host_is_refused(served: ServedApi, host: str) -> None:
    token = await api_token(served.context)
    async with served.client(token=token) as http:
        for path in ("/api/health", "/api/sessions", "/anything-else"):
            response = await http.get(path, headers={"Host": host})
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"]["code"] == "invalid_host"


@pytest.mark.parametrize("host", ["127.0.0.1:3000", "localhost", "LOCALHOST:1234", "[::1]:3000"])
async def test_the_loopback_names_are_ours_on_loopback(served: ServedApi, host: str) -> None:
    async with served.client() as http:
        assert (await http.get("/api/health", headers={"Host": host})).status_code == 200


@pytest.mark.settings(allowed_hosts=("openinspect.internal",))
async def test_allowed_hosts_are_accepted_too(served: ServedApi) -> None:
    async with served.client() as http:
        assert (await http.get("/api/health", headers={"Host": "openinspect.internal:8443"})).status_code == 200
        assert (await http.get("/api/health", headers={"Host": "other.internal"})).status_code == 400


async def test_a_websocket_from_a_foreign_origin_or_host_is_refused(served: ServedApi) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    served.api.add_api_websocket_route("/probe", echo)  # the Reflex event socket sits behind the same check
    url = served.base_url.replace("http://", "ws://") + "/probe"
    async with connect(url, origin=served.settings.origin) as ws:  # type: ignore[arg-type]
        assert await ws.recv() == "hello"
    async with connect(url) as ws:  # not a browser: no Origin
        assert await ws.recv() == "hello"
    port = urlsplit(url).port
    rebound = url.replace("127.0.0.1", "evil.example")  # Host: evil.example, connected to us (as after rebinding)
    for target, options in ((url, {"origin": EVIL}), (rebound, {"host": "127.0.0.1", "port": port})):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(target, **options):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]
        await asyncio.sleep(0)


@pytest.mark.settings(max_request_bytes=10_000)
async def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(served: ServedApi) -> None:
    token = await api_token(served.context)
    async with served.client(token=token) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
        body = b'{"client_request_id": "big", "content": "' + b"x" * 20_000 + b'"}'
        response = await http.post(f"/api/sessions/{session['id']}/prompts", content=chunks(body, 1000),
                                   headers={"content-type": "application/json"})
        assert "content-length" not in response.request.headers  # sent chunked
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"
        declared = await http.post(f"/api/sessions/{session['id']}/prompts", content=body,
                                   headers={"content-type": "application/json"})
        assert (declared.status_code, declared.json()["error"]["code"]) == (413, "too_large")
        small = await http.post(f"/api/sessions/{session['id']}/prompts", content=chunks(
            b'{"client_request_id": "ok", "content": "fine"}', 10), headers={"content-type": "application/json"})
        assert small.status_code == 201, small.text
    assert await count(served, Message) == 1


@pytest.mark.settings(max_request_bytes=10_000)
async def test_the_presence_endpoint_reads_no_unbounded_body(served: ServedApi) -> None:
    cookie = await sign_in_cookie(served.context)
    async with served.client(cookie=cookie, origin=served.settings.origin) as http:
        response = await http.post("/_ui/presence/abc", content=chunks(b"x" * 50_000, 1000))
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")


@pytest.mark.parametrize("target", ["//evil.example", "//evil.example/sessions", "https://evil.example/",
                                    "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)",
                                    "evil.example", "///evil.example"])
async def test_sign_in_never_redirects_elsewhere(served: ServedApi, target: str) -> None:
    async with served.client(origin=served.settings.origin) as http:
        response = await http.post("/api/auth/local", data={**ADA, "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert urlsplit(response.headers["location"]).netloc == ""


async def test_sign_in_follows_a_local_next(served: ServedApi) -> None:
    async with served.client(origin=served.settings.origin) as http:
        response = await http.post("/api/auth/local", data={**ADA, "next": "/sessions/abc?x=1"})
    assert (response.status_code, response.headers["location"]) == (303, "/sessions/abc?x=1")


async def test_a_sign_in_posted_by_another_site_is_refused(served: ServedApi) -> None:
    async with served.client(origin=EVIL) as http:
        response = await http.post("/api/auth/local", data={**ADA, "next": "/"})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "csrf_refused")
    assert "set-cookie" not in response.headers
    assert await count(served, SignIn) == 0


async def test_the_sandbox_bridge_token_shape_is_never_looked_up(served: ServedApi) -> None:
    async with served.client(token="not-an-api-token") as http:
        response = await http.get("/api/me")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_httpx_sees_the_error_shape_on_every_refusal(served: ServedApi) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post("/api/sessions/x/stop")
    assert response.json() == {"error": {"code": "unauthenticated", "message": response.json()["error"]["message"]}}
