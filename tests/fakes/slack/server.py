"""The fake Slack's one HTTP server: aiohttp on 127.0.0.1, its own event loop in a daemon thread.

Routes: ``/api/<method>`` (Web API; GET or POST, query string, form or JSON body),
``/actions/<team>/<id>`` (the ``response_url`` of interactive payloads), ``/link/`` (the Socket Mode
WebSocket ``apps.connections.open`` hands out). :func:`serve_fake_slack` starts it and yields the
:class:`.fake.FakeSlack`. "Down" modes: ``503`` answers every Web API call with HTTP 503; ``refuse``
closes the listening socket (and drops open connections) until ``up()`` binds the same port again.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from . import web_api
from .fake import FakeSlack, SocketConnection

START_TIMEOUT_SECONDS = 10.0


def _token(request: web.Request, args: dict[str, Any], is_json: bool) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if is_json:
        return None  # Slack reads a JSON body's token only from the header
    token = args.pop("token", None)
    return str(token) if token else None


async def _arguments(request: web.Request) -> tuple[dict[str, Any], bool]:
    args: dict[str, Any] = dict(request.query)
    body = await request.read()
    content_type = request.headers.get("Content-Type", "")
    is_json = content_type.startswith("application/json")
    if body:
        if is_json:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("JSON body is not an object")
            args.update(data)
        else:
            args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return args, is_json


class _Server:
    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.runner: web.AppRunner | None = None
        self.site: web.BaseSite | None = None
        self.sockets: set[web.WebSocketResponse] = set()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.api)
        app.router.add_post("/actions/{team}/{id}", self.response_url)
        app.router.add_get("/link/", self.link)
        return app

    def refused(self, request: web.Request) -> bool:
        if self.fake.down_mode == "refuse":
            if request.transport is not None:
                request.transport.close()  # an open keep-alive connection: drop it, as a dead host would
            return True
        return False

    async def api(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=503)
        fake = self.fake
        method = request.match_info["method"]
        try:
            args, is_json = await _arguments(request)
        except (ValueError, UnicodeDecodeError):
            fake.record(method, {}, None, 200, {"ok": False, "error": "invalid_json"})
            return web.json_response({"ok": False, "error": "invalid_json"})
        token = _token(request, args, is_json)
        try:
            args = web_api.parse_arguments(args)
        except web_api.SlackError as exc:
            answer = {"ok": False, "error": exc.error}
            fake.record(method, args, token, 200, answer)
            return web.json_response(answer)
        if fake.down_mode == "503":
            answer = {"ok": False, "error": "service_unavailable"}
            fake.record(method, args, token, 503, answer)
            return web.json_response(answer, status=503)
        switch = fake.take_switch(method)
        if switch is not None and switch[0] == "ratelimited":
            answer = {"ok": False, "error": "ratelimited"}
            fake.record(method, args, token, 429, answer)
            return web.json_response(answer, status=429, headers={"Retry-After": str(switch[1])})
        if switch is not None:
            answer = {"ok": False, "error": switch[1]}
        else:
            answer = web_api.run(fake, web_api.Call(method, dict(args), token))
        fake.record(method, args, token, 200, answer)
        # Slack's headers (slack_sdk reads the scopes ones into SlackResponse.headers).
        headers = {"X-OAuth-Scopes": "app_mentions:read,chat:write,reactions:write,im:history,channels:history,"
                                     "groups:history,users:read,users:read.email",
                   "X-Accepted-OAuth-Scopes": ""}
        return web.json_response(answer, headers=headers)

    async def response_url(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=503)
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        status, answer = self.fake.response_url_post(request.match_info["id"], body if isinstance(body, dict) else {})
        self.fake.record("response_url", body if isinstance(body, dict) else {}, None, status, answer)
        return web.json_response(answer, status=status)

    async def link(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=503)
        fake = self.fake
        if not fake.valid_ticket(request.query.get("ticket", "")):
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)

        async def send(text: str) -> None:
            if not ws.closed:
                await ws.send_str(text)

        async def close(abrupt: bool) -> None:
            if abrupt and request.transport is not None:
                request.transport.close()
            else:
                await ws.close()

        connection: SocketConnection = fake.socket_opened(send, close)
        try:
            hello = {"type": "hello", "num_connections": fake.socket_connections + 1,
                     "debug_info": {"host": "applink-fake-1", "build_number": 1,
                                    "approximate_connection_time": 18060},
                     "connection_info": {"app_id": fake.api_app_id}}
            await ws.send_str(json.dumps(hello))
            fake.socket_ready(connection)
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(message.data)
                    except ValueError:
                        continue
                    if isinstance(data, dict):
                        fake.socket_received(connection, data)
        finally:
            self.sockets.discard(ws)
            fake.socket_closed(connection)
        return ws

    # -- life

    async def bind(self, sock: socket.socket | None = None) -> None:
        assert self.runner is not None
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.fake.port))
        self.site = web.SockSite(self.runner, sock)
        await self.site.start()

    async def set_down(self, mode: str | None) -> None:
        if mode == "refuse" and self.site is not None:
            await self.site.stop()
            self.site = None
            with self.fake._lock:
                connections = list(self.fake._connections.values())
            for connection in connections:
                await connection.close(True)
                self.fake.socket_closed(connection)  # gone now, not when its handler notices
        elif mode != "refuse" and self.site is None:
            await self.bind()

    async def start(self) -> None:
        self.runner = web.AppRunner(self.build_app(), handle_signals=False, access_log=None)
        await self.runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.fake.port = sock.getsockname()[1]
        await self.bind(sock)

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"going away")
        if self.runner is not None:
            await self.runner.cleanup()


@contextmanager
def serve_fake_slack() -> Iterator[FakeSlack]:
    """Run a fake Slack on 127.0.0.1:<free port> until the block ends."""
    fake = FakeSlack()
    server = _Server(fake)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the starting thread
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="fake-slack", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_SECONDS) or failure:
        raise RuntimeError(f"the fake Slack did not start: {failure}")
    fake.loop = loop

    def set_down(mode: str | None) -> None:
        asyncio.run_coroutine_threadsafe(server.set_down(mode), loop).result(START_TIMEOUT_SECONDS)

    fake._set_down = set_down
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_SECONDS)
        loop.close()
