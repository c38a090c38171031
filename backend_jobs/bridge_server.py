"""The WebSocket server sandbox bridges connect to.

Transport only: it checks the handshake (path, protocol version, bearer token
via the handler), keeps one live connection per session in a
:class:`BridgeConnections` registry, bounds what a sandbox may send
(:class:`BridgeLimits`), and hands every frame, in order, to the handler. What a
frame means is the handler's business; whoever must send a sandbox a command
asks the registry.

Handshake: ``GET /bridge/{session_id}`` with ``Authorization: Bearer <token>``
and ``X-OpenInspect-Protocol: <version>``. Refusals are plain HTTP answers
before the upgrade, logged (never written into a session's timeline): 400 bad
path, 401 unknown token, 403 token of another session or of a sandbox that has
ended, 426 protocol version mismatch, 409 the session's bridge is connected
already. A live connection is never replaced: the second one is refused until
the first has closed (a bridge that lost its connection reconnects with
backoff, so it gets in once the server has seen the old one go).

Bounds, per frame: a frame above ``max_frame_bytes`` is refused with a reason
(the handler consumes its sequence, so the bridge goes on); one above the
transport limit is not even read (the connection closes with 1009). Each
sandbox has a budget of events and bytes per second (token buckets, kept across
reconnects); a frame over budget is refused with a ``reject`` and the
connection closed with :data:`CLOSE_RATE_LIMITED`. Nothing of it is stored, the
bridge reconnects after its backoff and re-sends from that frame, by which time
the budget has refilled: the sandbox is slowed, and loses nothing.

The same port answers one plain HTTP route, the credential broker: ``GET
/bridge/{session_id}/git-credentials`` with the same bearer token (no protocol
header: git's credential helper asks it). It is answered before any upgrade
(websockets' ``process_request``) by a :class:`CredentialsHandler`; its body is
sent with ``Cache-Control: no-store`` and is never logged. Refusals are the
handshake's (401, 403) and the broker's (404, 502), logged without the token.

And ``GET /bridge/{session_id}/artifacts``: a WebSocket of its own for one artifact upload (a
screenshot), with this handshake's checks (token, session, version) and no rate budget of
the bridge's; what is said on it is :mod:`openinspect_protocol.artifacts`, and an
:class:`UploadHandler` (:mod:`backend_jobs.artifact_uploads`) takes it. It never holds the
session's bridge slot: an upload and the bridge connect side by side.

And ``GET /metrics``: this process's metrics (``openinspect_core.metrics``) for
Prometheus, so a worker running on its own can be scraped too. Only the metrics
token (``OPENINSPECT_METRICS_TOKEN``) is accepted here — sandboxes reach this port,
and no person signs in to it; without the setting the route answers 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol

import openinspect_protocol as protocol
from openinspect_protocol import logs
from openinspect_protocol.artifacts import UPLOAD_PATH_SUFFIX
from openinspect_protocol.events import MAX_EVENT_BYTES
from openinspect_protocol.logs import EventLog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from backend_jobs.rate_limit import FrameBudget
from openinspect_core.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from openinspect_core.metrics import PATH as METRICS_PATH
from openinspect_core.metrics import Metrics, token_matches
from openinspect_core.settings import Settings

log = EventLog(__name__)

PATH_PREFIX = "/bridge/"
CREDENTIALS_SUFFIX = "/git-credentials"
CLOSE_SEQUENCE_GAP = 4002  # the bridge must reconnect and re-send from its oldest unacked event
CLOSE_RATE_LIMITED = 4029  # over the sandbox's budget: reconnect after a backoff, re-send from the refused frame
LOGGED_ID_CHARS = 64  # a session id from the path is attacker-chosen text: logged only this long


@dataclass(frozen=True)
class BridgeLimits:
    """What one sandbox's bridge may send (0 for a rate: no limit)."""

    max_frame_bytes: int = 256 * 1024
    max_events_per_second: int = 500
    max_bytes_per_second: int = 2 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> BridgeLimits:
        return cls(settings.max_frame_bytes, settings.bridge_max_events_per_second,
                   settings.bridge_max_bytes_per_second)

    @property
    def transport_bytes(self) -> int:
        """Frames up to this size are read (and refused with a reason if too large); larger ones
        close the connection unread. Well above what an honest sandbox sends (its outbox shrinks
        every event to MAX_EVENT_BYTES), so only a broken one meets it."""
        return 4 * max(self.max_frame_bytes, MAX_EVENT_BYTES)

    @property
    def rate_limited(self) -> bool:
        return self.max_events_per_second > 0 and self.max_bytes_per_second > 0


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
    _closing: asyncio.Task[None] | None = None

    async def send(self, command: protocol.Command) -> bool:
        """Send one command; False when the connection is already gone."""
        try:
            async with self._send_lock:
                await self.websocket.send(command.to_json())
            return True
        except ConnectionClosed:
            return False

    @property
    def closing(self) -> bool:
        return self._closing is not None

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake and return: the server reads (and drops) what the bridge
        still sends meanwhile, or its close reply would wait behind a full queue of frames."""
        if self._closing is None:
            self._closing = asyncio.create_task(self.websocket.close(code, reason), name="bridge.close")


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

    def _add(self, connection: BridgeConnection) -> None:
        # The handshake refused a second connection while one is registered (409).
        assert connection.session_id not in self._by_session, "a live bridge connection is never replaced"
        self._by_session[connection.session_id] = connection

    def _remove(self, connection: BridgeConnection) -> None:
        if self._by_session.get(connection.session_id) is connection:
            del self._by_session[connection.session_id]


class BridgeHandler(Protocol):
    async def authenticate(self, session_id: str, token: str) -> str:
        """Return the sandbox id the token belongs to, or raise BridgeRefused."""

    async def connected(self, connection: BridgeConnection) -> None: ...

    async def received(self, connection: BridgeConnection, frame: str | bytes) -> None: ...

    async def refused(self, connection: BridgeConnection, frame: str | bytes, reason: str) -> None:
        """A frame the transport refused (too large): tell the bridge, consume its sequence if it has one."""

    async def disconnected(self, connection: BridgeConnection) -> None: ...


class CredentialsHandler(Protocol):
    async def git_credentials(self, session_id: str, token: str) -> str:
        """The JSON body for the sandbox of ``session_id`` holding ``token``, or raise BridgeRefused."""


class UploadHandler(Protocol):
    async def serve(self, websocket: ServerConnection, session_id: str, sandbox_id: str) -> None:
        """Take one upload from the authenticated sandbox on ``websocket``, answer it, close."""


class BridgeServer:
    def __init__(self, handler: BridgeHandler, connections: BridgeConnections, host: str, port: int,
                 limits: BridgeLimits | None = None, *, clock: Callable[[], float] = time.monotonic,
                 credentials: CredentialsHandler | None = None, metrics: Metrics | None = None,
                 metrics_token: str | None = None, uploads: UploadHandler | None = None) -> None:
        """``credentials`` answers the credential broker's route (None: it answers 404); ``metrics`` is
        served at /metrics to whoever holds ``metrics_token`` (no token: 404)."""
        self.handler = handler
        self.credentials = credentials
        self.metrics = metrics
        self.metrics_token = metrics_token
        self.connections = connections
        self.host = host
        self.port = port
        self.limits = limits or BridgeLimits()
        self._clock = clock
        self._server: Server | None = None
        self._authenticated: dict[int, tuple[str, str]] = {}
        # Handshakes accepted but not yet serving, by session: the slot is theirs until they serve or close.
        self._opening: dict[str, ServerConnection] = {}
        self._budgets: dict[str, FrameBudget] = {}  # by sandbox id, kept across its reconnects
        self.uploads = uploads  # None: uploads are answered 404
        self._uploading: dict[int, tuple[str, str]] = {}  # accepted upload handshakes: (session, sandbox)

    @classmethod
    def from_settings(cls, handler: BridgeHandler, connections: BridgeConnections,
                      settings: Settings, *, credentials: CredentialsHandler | None = None,
                      metrics: Metrics | None = None, uploads: UploadHandler | None = None) -> BridgeServer:
        return cls(handler, connections, settings.bridge_host, settings.bridge_port,
                   BridgeLimits.from_settings(settings), credentials=credentials, metrics=metrics,
                   metrics_token=settings.metrics_token, uploads=uploads)

    async def start(self) -> None:
        self._server = await serve(
            self._serve_connection,
            self.host,
            self.port,
            process_request=self._check_handshake,
            max_size=self.limits.transport_bytes,
            ping_interval=20,
            ping_timeout=20,
        )
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("bridge_server.listening", host=self.host, port=self.port,
                 max_frame_bytes=self.limits.max_frame_bytes)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None

    async def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if is_credentials_path(request.path):
            return await self._serve_credentials(connection, request)
        if request.path.split("?", 1)[0] == METRICS_PATH:
            return await self._serve_metrics(connection, request)
        if is_upload_path(request.path):
            return await self._check_upload(connection, request)
        who = await self._authenticate(connection, request, request.path)
        if isinstance(who, Response):
            return who
        session_id, sandbox_id = who
        # No await from here to the reservation: two handshakes cannot both pass.
        if self._busy(session_id):
            return _refuse(connection, HTTPStatus.CONFLICT,
                           "this session's bridge is connected already; retry once it has closed", request.path)
        self._opening[session_id] = connection
        self._authenticated[id(connection)] = (session_id, sandbox_id)
        return None

    async def _authenticate(self, connection: ServerConnection, request: Request,
                            path: str) -> Response | tuple[str, str]:
        """The bridge's handshake checks and the sandbox token: (session, sandbox), or the refusal."""
        checked = check_handshake(path, request.headers)
        if isinstance(checked, Refusal):
            return _refuse(connection, checked.status, checked.reason, request.path)
        try:
            sandbox_id = await self.handler.authenticate(checked.session_id, checked.token)
        except BridgeRefused as refused:
            return _refuse(connection, refused.status, refused.reason, request.path)
        return checked.session_id, sandbox_id

    async def _check_upload(self, connection: ServerConnection, request: Request) -> Response | None:
        """An upload's handshake: the bridge's checks on the path without its suffix; no session slot."""
        if self.uploads is None:
            return _refuse(connection, HTTPStatus.NOT_FOUND, "this server takes no uploads", request.path)
        who = await self._authenticate(connection, request,
                                       request.path.split("?", 1)[0].removesuffix(UPLOAD_PATH_SUFFIX))
        if isinstance(who, Response):
            return who
        self._uploading[id(connection)] = who
        return None

    async def _serve_credentials(self, connection: ServerConnection, request: Request) -> Response:
        """The credential broker's answer: a plain HTTP response, never an upgrade."""
        checked = check_credentials_request(request.path, request.headers)
        if isinstance(checked, Refusal):
            return _refuse(connection, checked.status, checked.reason, request.path)
        if self.credentials is None:
            return _refuse(connection, HTTPStatus.NOT_FOUND, "this server brokers no credentials", request.path)
        try:
            body = await self.credentials.git_credentials(checked.session_id, checked.token)
        except BridgeRefused as refused:
            return _refuse(connection, refused.status, refused.reason, request.path)
        response = connection.respond(HTTPStatus.OK, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["Cache-Control"] = "no-store"  # a token: no proxy or client keeps it
        return response

    async def _serve_metrics(self, connection: ServerConnection, request: Request) -> Response:
        if self.metrics is None or not self.metrics_token:
            return _refuse(connection, HTTPStatus.NOT_FOUND, "set OPENINSPECT_METRICS_TOKEN to scrape this "
                                                             "process's metrics", request.path)
        if not token_matches(self.metrics_token, _bearer(request.headers)):
            return _refuse(connection, HTTPStatus.UNAUTHORIZED, "send the metrics token as "
                                                                "'Authorization: Bearer <token>'", request.path)
        response = connection.respond(HTTPStatus.OK, (await self.metrics.scrape()).decode())
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = METRICS_CONTENT_TYPE
        return response

    def _busy(self, session_id: str) -> bool:
        if self.connections.get(session_id) is not None:
            return True
        opening = self._opening.get(session_id)
        if opening is not None and opening.state is State.CLOSED:  # its handshake never completed
            del self._opening[session_id]
            self._authenticated.pop(id(opening), None)
            return False
        return opening is not None

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        upload = self._uploading.pop(id(websocket), None)
        if upload is not None and self.uploads is not None:
            with logs.bind(session_id=upload[0], sandbox_id=upload[1]):
                await self.uploads.serve(websocket, *upload)
            return
        session_id, sandbox_id = self._authenticated.pop(id(websocket))
        # Every line about this connection, its frames and what they cause names the session and sandbox.
        with logs.bind(session_id=session_id, sandbox_id=sandbox_id):
            await self._serve_authenticated(websocket, session_id, sandbox_id)

    async def _serve_authenticated(self, websocket: ServerConnection, session_id: str, sandbox_id: str) -> None:
        if self._opening.get(session_id) is websocket:
            del self._opening[session_id]
        connection = BridgeConnection(session_id, sandbox_id, websocket)
        self.connections._add(connection)
        self._forget_full_budgets()
        try:
            await self.handler.connected(connection)
            async for frame in websocket:
                if not connection.closing:  # once closing, the rest is read and dropped, never handed on
                    await self._admit(connection, frame)
        except ConnectionClosed:
            pass
        finally:
            if connection._closing is not None:
                await asyncio.gather(connection._closing, return_exceptions=True)
            self.connections._remove(connection)
            await self.handler.disconnected(connection)

    async def _admit(self, connection: BridgeConnection, frame: str | bytes) -> None:
        """Pass one frame on, or refuse it (closing the connection when it is over the budget)."""
        size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))
        if self.limits.rate_limited:
            wait = self._take_budget(connection.sandbox_id, size)
            if wait > 0:
                reason = (f"rate limit: this sandbox may send {self.limits.max_events_per_second} events and "
                          f"{self.limits.max_bytes_per_second} bytes per second; retry in {wait:.2f} s")
                log.warning("bridge_server.rate_limited", session_id=connection.session_id,
                            sandbox_id=connection.sandbox_id, frame_bytes=size, retry_in_seconds=round(wait, 3))
                await connection.send(protocol.Reject(reason=reason))
                await connection.close(CLOSE_RATE_LIMITED, f"rate limited; retry in {wait:.2f} s")
                return
        if size > self.limits.max_frame_bytes:
            log.warning("bridge_server.frame_too_large", session_id=connection.session_id,
                        sandbox_id=connection.sandbox_id, frame_bytes=size)
            await self.handler.refused(connection, frame, f"frame of {size} bytes is larger than the "
                                                          f"limit of {self.limits.max_frame_bytes} bytes")
            return
        await self.handler.received(connection, frame)

    def _take_budget(self, sandbox_id: str, size: int) -> float:
        now = self._clock()
        budget = self._budgets.get(sandbox_id) or FrameBudget.full(
            self.limits.max_events_per_second, self.limits.max_bytes_per_second, now,
            largest_frame=self.limits.transport_bytes)
        self._budgets[sandbox_id], wait = budget.take(size, now)
        return wait

    def _forget_full_budgets(self) -> None:
        # A full budget is the same as none: drop those of sandboxes not connected (bounded memory).
        now = self._clock()
        connected = {c.sandbox_id for c in self.connections._by_session.values()}
        for sandbox_id in [s for s, b in self._budgets.items() if s not in connected and b.is_full(now)]:
            del self._budgets[sandbox_id]


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


def is_credentials_path(path: str) -> bool:
    path = path.split("?", 1)[0]
    return path.startswith(PATH_PREFIX) and path.endswith(CREDENTIALS_SUFFIX)


def is_upload_path(path: str) -> bool:
    path = path.split("?", 1)[0]
    return path.startswith(PATH_PREFIX) and path.endswith(UPLOAD_PATH_SUFFIX)


def check_credentials_request(path: str, headers: Headers) -> Handshake | Refusal:
    """A credential broker request's session and bearer token (no protocol version: git asks, not a bridge)."""
    session_id = path.split("?", 1)[0].removeprefix(PATH_PREFIX).removesuffix(CREDENTIALS_SUFFIX)
    if not session_id or "/" in session_id:
        return Refusal(HTTPStatus.BAD_REQUEST, "expected /bridge/{session_id}/git-credentials")
    token = _bearer(headers)
    if token is None:
        return Refusal(HTTPStatus.UNAUTHORIZED, "missing bearer token")
    return Handshake(session_id, token)


def _bearer(headers: Headers) -> str | None:
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _refuse(connection: ServerConnection, status: HTTPStatus, reason: str, path: str) -> Response:
    # Logged for operators, never written into a timeline: whoever knocks cannot write to one.
    log.warning("bridge_server.refused", status=int(status), reason=reason,
                path=path.split("?", 1)[0][:LOGGED_ID_CHARS + len(PATH_PREFIX)],
                remote=_remote(connection))
    return connection.respond(status, reason + "\n")


def _remote(connection: ServerConnection) -> str:
    try:
        address = connection.remote_address
    except Exception:  # the transport may be gone already
        return ""
    return str(address[0]) if address else ""
