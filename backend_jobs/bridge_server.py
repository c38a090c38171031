"""The WebSocket server sandbox bridges connect to.

Transport only: it checks the handshake (path, protocol version, bearer token
via the handler), keeps one live connection per session in a
:class:`BridgeConnections` registry (a newer one replaces an older one), and
hands every frame, in order, to the handler. What a frame means is the
handler's business; whoever must send a sandbox a command asks the registry.

Handshake: ``GET /bridge/{session_id}`` with ``Authorization: Bearer <token>``
and ``X-OpenInspect-Protocol: <version>``. Refusals are plain HTTP answers
before the upgrade: 400 bad path, 401 unknown token, 403 token of another
session or of a sandbox that has ended, 426 protocol version mismatch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = EventLog(__name__)

PATH_PREFIX = "/bridge/"
MAX_FRAME_BYTES = 4 * 1024 * 1024  # a tool result is capped far below this by the harness
CLOSE_REPLACED = 4100  # a newer connection of the same session took over
CLOSE_SEQUENCE_GAP = 4002  # the bridge must reconnect and re-send from its oldest unacked event


class BridgeRefused(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(eq=False)
class BridgeConnection:
    session_id: str
    sandbox_id: str
    websocket: ServerConnection
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, command: protocol.Command) -> bool:
        """Send one command; False when the connection is already gone."""
        try:
            async with self._send_lock:
                await self.websocket.send(command.to_json())
            return True
        except ConnectionClosed:
            return False

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)


class BridgeConnections:
    """The live bridge connection of each session, for whoever must send it a command."""

    def __init__(self) -> None:
        self._by_session: dict[str, BridgeConnection] = {}

    def get(self, session_id: str) -> BridgeConnection | None:
        return self._by_session.get(session_id)

    async def send(self, session_id: str, command: protocol.Command) -> bool:
        """Send to the session's sandbox; False when none is connected (or it just went)."""
        connection = self._by_session.get(session_id)
        return connection is not None and await connection.send(command)

    def _replace(self, connection: BridgeConnection) -> BridgeConnection | None:
        previous = self._by_session.get(connection.session_id)
        self._by_session[connection.session_id] = connection
        return previous

    def _remove(self, connection: BridgeConnection) -> None:
        if self._by_session.get(connection.session_id) is connection:
            del self._by_session[connection.session_id]


class BridgeHandler(Protocol):
    async def authenticate(self, session_id: str, token: str) -> str:
        """Return the sandbox id the token belongs to, or raise BridgeRefused."""

    async def connected(self, connection: BridgeConnection) -> None: ...

    async def received(self, connection: BridgeConnection, frame: str | bytes) -> None: ...

    async def disconnected(self, connection: BridgeConnection) -> None: ...


class BridgeServer:
    def __init__(self, handler: BridgeHandler, connections: BridgeConnections, host: str, port: int) -> None:
        self.handler = handler
        self.connections = connections
        self.host = host
        self.port = port
        self._server: Server | None = None
        self._authenticated: dict[int, tuple[str, str]] = {}

    async def start(self) -> None:
        self._server = await serve(
            self._serve_connection,
            self.host,
            self.port,
            process_request=self._check_handshake,
            max_size=MAX_FRAME_BYTES,
            ping_interval=20,
            ping_timeout=20,
        )
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("bridge_server.listening", host=self.host, port=self.port)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None

    async def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        checked = check_handshake(request.path, request.headers)
        if isinstance(checked, Refusal):
            return _refuse(connection, checked.status, checked.reason)
        try:
            sandbox_id = await self.handler.authenticate(checked.session_id, checked.token)
        except BridgeRefused as refused:
            return _refuse(connection, refused.status, refused.reason)
        self._authenticated[id(connection)] = (checked.session_id, sandbox_id)
        return None

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        session_id, sandbox_id = self._authenticated.pop(id(websocket))
        connection = BridgeConnection(session_id, sandbox_id, websocket)
        previous = self.connections._replace(connection)
        if previous is not None:
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        try:
            await self.handler.connected(connection)
            async for frame in websocket:
                await self.handler.received(connection, frame)
        except ConnectionClosed:
            pass
        finally:
            self.connections._remove(connection)
            await self.handler.disconnected(connection)


@dataclass(frozen=True)
class Handshake:
    """A handshake that passed the transport's checks; the handler still judges the token."""

    session_id: str
    token: str


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    reason: str


def check_handshake(path: str, headers: Headers) -> Handshake | Refusal:
    """The checks made before the handler sees a handshake: path, protocol version, bearer token (in that order)."""
    path = path.split("?", 1)[0]
    session_id = path.removeprefix(PATH_PREFIX)
    if not path.startswith(PATH_PREFIX) or not session_id or "/" in session_id:
        return Refusal(HTTPStatus.BAD_REQUEST, "expected /bridge/{session_id}")
    version = headers.get(protocol.PROTOCOL_HEADER)
    if version != str(protocol.PROTOCOL_VERSION):
        return Refusal(HTTPStatus.UPGRADE_REQUIRED,
                       f"protocol version {version!r} not supported; this server speaks "
                       f"{protocol.PROTOCOL_VERSION}")
    token = _bearer(headers)
    if token is None:
        return Refusal(HTTPStatus.UNAUTHORIZED, "missing bearer token")
    return Handshake(session_id, token)


def _bearer(headers: Headers) -> str | None:
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _refuse(connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
    log.warning("bridge_server.refused", status=int(status), reason=reason)
    return connection.respond(status, reason + "\n")
