"""A tiny control-plane bridge server for sandbox tests, on loopback.

It does what the real one promises a bridge and nothing more: checks the
handshake (path, bearer token, protocol header), stores events idempotently
(a sequence at or below the stored one is ignored, a gap is not stored),
acknowledges cumulatively, and lets a test send commands, drop connections,
or refuse the handshake with an HTTP status. Like the real bridge server it also
answers ``GET /bridge/{session}/git-credentials`` (the credential broker) with
:attr:`FakeControlPlane.git_credentials` for the right bearer token.
"""

from __future__ import annotations

import asyncio
import http
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import openinspect_protocol as protocol
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from sandbox.config import BridgeSettings

TOKEN = "sandbox-token-123"


async def wait_until(predicate: Callable[[], bool], timeout_seconds: float = 20.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout_seconds``."""
    try:
        async with asyncio.timeout(timeout_seconds):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None


def bridge_settings(url: str, **overrides: object) -> BridgeSettings:
    """Settings for a bridge to ``url`` with quick reconnects and no heartbeat noise."""
    values: dict[str, object] = dict(
        control_plane_url=url,
        session_id="sess-1",
        sandbox_id="sbx-1",
        sandbox_token=TOKEN,
        heartbeat_interval_seconds=60.0,
        reconnect_initial_delay_seconds=0.02,
        reconnect_max_delay_seconds=0.2,
    )
    values.update(overrides)
    return BridgeSettings(**values)  # type: ignore[arg-type]


@dataclass
class Handshake:
    path: str
    headers: Headers


@dataclass
class FakeControlPlane:
    token: str = TOKEN
    session_id: str = "sess-1"
    ack_every: int = 1  # acknowledge after every n-th frame received on a connection
    auto_ack: bool = True
    refuse_status: int | None = None  # answer every handshake with this HTTP status
    refuse_first: int = 0  # refuse only the first n handshakes (0: all of them)
    drop_after_frames: list[int] = field(default_factory=list)  # connection i closes after n frames
    abort_on_drop: bool = False  # drop by aborting the TCP connection instead of a close frame
    port: int = 0
    git_credentials: dict[str, str] | None = None  # the broker's answer; None: 404 (not a GitHub repo)
    broker_status: int = 200
    broker_requests: list[Headers] = field(default_factory=list)

    frames: list[protocol.SandboxEvent] = field(default_factory=list)  # everything received
    stored: list[protocol.SandboxEvent] = field(default_factory=list)  # seq 1..n, each once
    handshakes: list[Handshake] = field(default_factory=list)
    connections: int = 0
    connection: ServerConnection | None = None
    _server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def of_type(self, kind: type) -> list:
        return [event for event in self.stored if isinstance(event, kind)]

    async def __aenter__(self) -> FakeControlPlane:
        self._server = await serve(self._handle, "127.0.0.1", self.port, process_request=self._check)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _broker(self, connection: ServerConnection, request: Request) -> Response:
        self.broker_requests.append(request.headers)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "bad token\n")
        if self.git_credentials is None or self.broker_status != 200:
            status = self.broker_status if self.broker_status != 200 else 404
            return connection.respond(status, json.dumps({"detail": "refused by the test"}))
        response = connection.respond(http.HTTPStatus.OK, json.dumps(self.git_credentials))
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["Cache-Control"] = "no-store"
        return response

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == f"/bridge/{self.session_id}/git-credentials":
            return self._broker(connection, request)
        self.handshakes.append(Handshake(request.path, request.headers))
        if self.refuse_status is not None and (
            self.refuse_first == 0 or len(self.handshakes) <= self.refuse_first
        ):
            return connection.respond(self.refuse_status, "refused by the test\n")
        if request.path != f"/bridge/{self.session_id}":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "no such session\n")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "bad token\n")
        if request.headers.get(protocol.PROTOCOL_HEADER) != str(protocol.PROTOCOL_VERSION):
            return connection.respond(http.HTTPStatus.UPGRADE_REQUIRED, "protocol mismatch\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        self.connection = ws
        limit = self.drop_after_frames[index] if index < len(self.drop_after_frames) else None
        received = 0
        async for frame in ws:
            event = protocol.parse_sandbox_event(frame)
            self.frames.append(event)
            received += 1
            if event.seq == len(self.stored) + 1:
                self.stored.append(event)
            if self.auto_ack and received % self.ack_every == 0:
                await ws.send(protocol.Ack(seq=len(self.stored)).to_json())
            if limit is not None and received >= limit:
                if self.abort_on_drop:
                    ws.transport.abort()
                else:
                    await ws.close(1011, "dropped by the test")
                return

    async def send(self, command: protocol.Command) -> None:
        """Send a command on the current connection (waiting for one if there is none yet)."""
        await wait_until(lambda: self.connection is not None, what="a bridge connection")
        assert self.connection is not None
        await self.connection.send(command.to_json())

    async def drop(self, code: int = 1001) -> None:
        assert self.connection is not None
        await self.connection.close(code, "dropped by the test")

    async def wait_for(self, kind: type, count: int = 1, timeout_seconds: float = 20.0) -> list:
        await wait_until(lambda: len(self.of_type(kind)) >= count, timeout_seconds,
                         what=f"{count} x {kind.__name__} (stored: {[e.type for e in self.stored]})")
        return self.of_type(kind)
