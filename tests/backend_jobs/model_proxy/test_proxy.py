"""The model proxy over real HTTP, against a recording fake provider on 127.0.0.1 and a real database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from backend_jobs.model_proxy.server import MAX_BODY_BYTES
from openinspect_core.models import Sandbox, SandboxStatus
from tests.backend_jobs.model_proxy.conftest import REAL_KEY, ProxyFactory, World, usage_rows
from tests.backend_jobs.model_proxy.fake_provider import Answer, FakeProvider, sse
from tests.support.http import free_port

WAIT_SECONDS = 30.0  # a guard against a hang, never a measurement


CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}


# ------------------------------------------------------------------ credentials


async def test_the_provider_gets_the_real_key_and_never_the_sandboxs_token(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake, base_url = provider
    fake.answers.append(Answer(pieces=[json.dumps({"model": "gpt-4.1-2025", "choices": [], "usage": {
        "prompt_tokens": 31, "completion_tokens": 9, "cost": 0.002}}).encode()]))
    proxy = await start_proxy(base_url=base_url)
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        response = await client.post("/chat/completions?trace=1", json=CHAT, headers={
            "Authorization": f"Bearer {world.token}", "Cookie": "a=b", "x-session-id": "oc-1"})

    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] == 31
    assert response.headers["x-request-id"] == "req-1"  # the provider's own headers come back
    [call] = fake.calls
    assert (call.method, call.path, call.query) == ("POST", "/v1/chat/completions", "trace=1")
    assert call.header("authorization") == f"Bearer {REAL_KEY}"
    assert call.header("x-session-id") == "oc-1" and call.header("cookie") is None
    assert not any(world.token in value for _, value in call.headers)
    assert json.loads(call.body) == CHAT
    [row] = await usage_rows(world)
    assert (row.session_id, row.sandbox_id, row.model, row.input_tokens, row.output_tokens, row.cost) == (
        world.session_id, world.sandbox_id, "gpt-4.1", 31, 9, 0.002)
    # The call is in the log; no key, token or body is.
    assert "model_proxy.call" in caplog.text
    assert REAL_KEY not in caplog.text and world.token not in caplog.text and '"hi"' not in caplog.text


async def test_anthropic_calls_carry_the_key_as_x_api_key(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    fake.answers.append(Answer(content_type="text/event-stream", pieces=[
        b"event: message_start\n" + sse({"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": {
            "input_tokens": 12, "cache_read_input_tokens": 100, "output_tokens": 1}}}),
        b"event: message_delta\n" + sse({"type": "message_delta", "usage": {"output_tokens": 42}}),
        b"event: message_stop\n" + sse({"type": "message_stop"}),
    ]))
    proxy = await start_proxy(base_url=base_url, kind="anthropic")
    body = {"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 100, "messages": []}
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        response = await client.post("/messages", json=body, headers={
            "x-api-key": world.token, "anthropic-version": "2023-06-01"})

    assert response.status_code == 200
    assert "message_delta" in response.text
    [call] = fake.calls
    assert call.header("x-api-key") == REAL_KEY and call.header("authorization") is None
    assert call.header("anthropic-version") == "2023-06-01"
    assert json.loads(call.body) == body  # Anthropic streams always report usage: the body is not touched
    [row] = await usage_rows(world)
    assert (row.model, row.input_tokens, row.output_tokens) == ("claude-sonnet-4-5", 112, 42)


@pytest.mark.parametrize("case", ["no token", "wrong token", "ended sandbox", "bridge token"])
async def test_a_token_that_is_not_a_live_sandboxs_is_refused_and_nothing_forwarded(
        case: str, world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake, base_url = provider
    proxy = await start_proxy(base_url=base_url)
    headers = {"no token": {}, "wrong token": {"Authorization": "Bearer not-a-token"},
               "ended sandbox": {"Authorization": f"Bearer {world.ended_token}"},
               "bridge token": {"x-api-key": "bridge-1"}}[case]
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        response = await client.post("/chat/completions", json=CHAT, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_proxy_token"
    assert fake.calls == [] and await usage_rows(world) == []
    assert "model_proxy.refused" in caplog.text and world.ended_token not in caplog.text


async def test_a_sandbox_that_ends_loses_its_access(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    proxy = await start_proxy(base_url=base_url)
    auth = {"Authorization": f"Bearer {world.token}"}
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        assert (await client.post("/chat/completions", json=CHAT, headers=auth)).status_code == 200
        async with world.db.writer() as db:
            sandbox = await db.get(Sandbox, world.sandbox_id)
            assert sandbox is not None
            sandbox.status = SandboxStatus.FAILED
            db.add(sandbox)
            await db.commit()
        assert (await client.post("/chat/completions", json=CHAT, headers=auth)).status_code == 401
    assert len(fake.calls) == 1


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/files"), ("POST", "/v1/files"), ("DELETE", "/v1/models/gpt-4.1"), ("POST", "/v1/../admin"),
    ("POST", "/v1/organization/api_keys"), ("POST", "/chat/completions"), ("GET", "/v1/models/a/b"),
])
async def test_only_model_endpoints_pass(method: str, path: str, world: World, provider: tuple[FakeProvider, str],
                                         start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    proxy = await start_proxy(base_url=base_url)
    async with httpx.AsyncClient() as client:
        response = await client.request(method, proxy.url + path, headers={"Authorization": f"Bearer {world.token}"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert fake.calls == []


async def test_the_model_list_is_forwarded_and_not_metered(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    fake.answers += [Answer(pieces=[b'{"data": []}']), Answer(pieces=[b'{"id": "gpt-4.1"}'])]
    proxy = await start_proxy(base_url=base_url)
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1", headers={"x-api-key": world.token}) as client:
        assert (await client.get("/models")).json() == {"data": []}
        assert (await client.get("/models/gpt-4.1")).json() == {"id": "gpt-4.1"}
    assert [c.path for c in fake.calls] == ["/v1/models", "/v1/models/gpt-4.1"]
    assert await usage_rows(world) == []


# -------------------------------------------------------------------- streaming


async def test_a_stream_passes_through_chunk_by_chunk_and_is_metered(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    gate = asyncio.Event()
    first = sse({"model": "gpt-4.1", "choices": [{"delta": {"content": "Hel"}}]})
    rest = sse({"model": "gpt-4.1", "choices": [{"delta": {"content": "lo"}}]},
               {"model": "gpt-4.1", "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 2}},
               b"[DONE]")
    fake.answers.append(Answer(content_type="text/event-stream", pieces=[first, gate, rest]))
    proxy = await start_proxy(base_url=base_url)
    body = {**CHAT, "stream": True}  # without stream_options: the proxy asks for the usage chunk itself
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client, client.stream(
            "POST", "/chat/completions", json=body, headers={"Authorization": f"Bearer {world.token}"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        chunks = response.aiter_raw()
        received = await asyncio.wait_for(anext(chunks), WAIT_SECONDS)
        assert received == first  # arrived while the provider still holds the rest back
        assert await usage_rows(world) == []  # the call is not over yet
        gate.set()
        async for chunk in chunks:
            received += chunk

    assert received == first + rest
    [call] = fake.calls
    assert json.loads(call.body) == {**body, "stream_options": {"include_usage": True}}
    [row] = await usage_rows(world)
    assert (row.input_tokens, row.output_tokens) == (50, 2)


async def test_a_caller_that_goes_away_mid_stream_is_still_metered(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    gate = asyncio.Event()
    fake.answers.append(Answer(content_type="text/event-stream", pieces=[
        sse({"model": "gpt-4.1", "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 1}}), gate,
        sse({"choices": [{"delta": {"content": "more"}}]})]))
    proxy = await start_proxy(base_url=base_url)
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client, client.stream(
            "POST", "/chat/completions", json={**CHAT, "stream": True},
            headers={"Authorization": f"Bearer {world.token}"}) as response:
        await asyncio.wait_for(anext(response.aiter_raw()), WAIT_SECONDS)
    gate.set()  # the caller has hung up; what the provider says next goes nowhere
    async with asyncio.timeout(WAIT_SECONDS):
        while not (rows := await usage_rows(world)):
            await asyncio.sleep(0.05)
    [row] = rows
    assert (row.input_tokens, row.output_tokens) == (8, 1)


# ---------------------------------------------------------------------- errors


async def test_a_provider_error_passes_through_with_its_status(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    error = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
    fake.answers.append(Answer(status=429, pieces=[json.dumps(error).encode()]))
    proxy = await start_proxy(base_url=base_url)
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        response = await client.post("/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {world.token}"})
    assert (response.status_code, response.json()) == (429, error)
    [row] = await usage_rows(world)  # one row per call, even one that cost nothing
    assert (row.input_tokens, row.output_tokens, row.cost) == (0, 0, 0.0)


async def test_an_unreachable_provider_is_a_502_with_a_clear_error(
        world: World, start_proxy: ProxyFactory) -> None:
    proxy = await start_proxy(base_url=f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        response = await client.post("/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {world.token}"})
        # The connection stays usable: the body had been read.
        again = await client.post("/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {world.token}"})
    assert response.status_code == again.status_code == 502
    assert response.json()["error"]["code"] == "provider_unreachable"
    assert "could not be reached" in response.json()["error"]["message"]
    assert REAL_KEY not in response.text


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversize_body_is_413_and_not_forwarded(
        chunked: bool, world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    proxy = await start_proxy(base_url=base_url)
    piece = b"x" * (1024 * 1024)

    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(piece) + 1):
            yield piece

    content: Any = pieces() if chunked else piece * (MAX_BODY_BYTES // len(piece) + 1)
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as client:
        response = await client.post("/chat/completions", content=content,
                                     headers={"Authorization": f"Bearer {world.token}"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert fake.calls == [] and await usage_rows(world) == []


async def test_a_malformed_request_is_a_400_and_nothing_forwarded(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    proxy = await start_proxy(base_url=base_url)
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), WAIT_SECONDS)  # then the proxy closes the connection
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert fake.calls == []


async def test_a_caller_waiting_for_100_continue_gets_it_once_known(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    proxy = await start_proxy(base_url=base_url)
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    body = json.dumps(CHAT).encode()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 b"Authorization: Bearer " + world.token.encode() + b"\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_SECONDS)
    assert interim.startswith(b"HTTP/1.1 100 ")
    writer.write(body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), WAIT_SECONDS)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert [json.loads(c.body) for c in fake.calls] == [CHAT]


async def test_closing_lets_a_call_in_flight_finish_and_be_recorded(
        world: World, provider: tuple[FakeProvider, str], start_proxy: ProxyFactory) -> None:
    fake, base_url = provider
    gate = asyncio.Event()
    fake.answers += [Answer(pieces=[b'{"data": []}']), Answer(content_type="text/event-stream", pieces=[
        sse({"choices": [{"delta": {"content": "a"}}]}), gate,
        sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})])]
    proxy = await start_proxy(base_url=base_url)
    async with httpx.AsyncClient(base_url=f"{proxy.url}/v1") as idle, httpx.AsyncClient(
            base_url=f"{proxy.url}/v1") as client:
        await idle.get("/models", headers={"x-api-key": world.token})  # a keep-alive connection, idle now
        async with client.stream("POST", "/chat/completions", json={**CHAT, "stream": True},
                                 headers={"Authorization": f"Bearer {world.token}"}) as response:
            chunks = response.aiter_raw()
            await asyncio.wait_for(anext(chunks), WAIT_SECONDS)
            closing = asyncio.create_task(proxy.close())
            gate.set()
            rest = b"".join([chunk async for chunk in chunks])
        await asyncio.wait_for(closing, WAIT_SECONDS)
    assert b'"prompt_tokens": 3' in rest
    [row] = await usage_rows(world)
    assert (row.input_tokens, row.output_tokens) == (3, 4)
