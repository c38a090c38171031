"""A browserless Reflex 0.10.1 client: one instance is one browser tab, as the backend sees it.

It speaks the wire protocol of the compiled frontend directly (Engine.IO v4 + Socket.IO v5 over a
plain websocket), so a benchmark can hold many tabs in one process and measure what each receives:
the decoded StateUpdate, the time it arrived, and its exact size on the wire.

The protocol, as read from the installed sources (paths under site-packages/):

1. Transport. ``reflex/app.py`` (``App._setup_state``) mounts a python-socketio ``AsyncServer`` at
   ``/_event`` (``reflex_base/constants/event.py``: ``Endpoint.EVENT``) with ``transports=[websocket]``
   (``rx.Config.transport``), ``allow_upgrades=False``, ping interval 25 s / timeout 120 s. The
   Socket.IO namespace is the path of the event URL, also ``/_event``
   (``reflex_base/config.py``: ``get_event_namespace``). The browser (``.web/utils/state.js``,
   ``createSocket``) opens ``ws://host/_event/?EIO=4&transport=websocket&token=<token>`` with the
   Reflex version as websocket subprotocol (the backend only warns on a mismatch).
2. Token. One UUID per browser tab, kept in ``sessionStorage["token"]`` (``state.js``: ``getToken``),
   sent only as the ``token`` query parameter of the connection. The backend maps socket sid ->
   token (``EventNamespace.on_connect`` -> ``link_token_to_sid``); events themselves carry no token.
   If the token is already connected elsewhere the server emits ``new_token`` with a fresh one.
   The token keys the tab's whole state tree on the server.
3. Boot. The hydrate event rides in the Socket.IO CONNECT packet's auth object:
   ``{"event": <hydrate_and_load event>, "state_schema": <hash>}`` (``state.js``: ``bootAuth``;
   ``reflex_base/constants/compiler.py``: ``CONNECT_AUTH_EVENT``). ``state_schema`` is optional; if
   sent and different from the backend's, the server emits ``state_mismatch``. The event is
   ``{"name": "reflex___state____state.hydrate_and_load", "payload": {...}, "router_data": {...}}``
   (``reflex/state.py``: ``State.hydrate_and_load``; payload ``vars`` = client-storage values,
   ``hashes`` = hashes of the compiled initial state so only differing vars come back; both
   optional). The server answers with the full state as a delta, then runs the page's on_load
   handlers *server side* (``on_load_internal`` is enqueued as a backend event), each of which
   sends its own delta; the last one sets ``is_hydrated_rx_state_`` true.
4. Events. ``42/_event,["event", {"name": "<state full name>.<handler>", "payload": {kwargs},
   "router_data": {"pathname", "asPath", "query"}}]`` (``state.js``: ``applyEvent``, ``withRouterData``;
   ``reflex_base/event/__init__.py``: ``Event``). Route parameters travel in ``router_data.query``
   (they become ``router.page.params``; ``reflex/istate/data.py``: ``PageData``). A client-side
   navigation sends ``reflex___state____state.reflex___state____on_load_internal_state.on_load_internal``
   with the new router_data (``reflex_base/compiler/templates.py``: ``onLoadInternalEvent``).
5. Updates. The server emits ``42/_event,["event", StateUpdate]`` where StateUpdate is
   ``{"delta": {"<state full name>": {"<var>_rx_state_": value, ...}}, "events": [...]}`` with empty
   fields dropped (``reflex/state.py``: ``serialize_state_update``; ``final`` is gone since 0.9).
   ``events`` only carries frontend events (names starting with ``_``, e.g. ``_redirect``); backend
   events returned by a handler are chained on the server
   (``reflex_base/event/processor/base_state_processor.py``: ``_route_events``). A changed var is
   always sent whole: appending to a list re-sends the list.
6. Shared state. A ``rx.SharedState`` linked with ``_link_to(key)`` records the tab's token in the
   shared instance's ``_linked_from`` (never pruned). After an event or ``app.modify_state`` that
   touches it, ``_modify_linked_states`` (``reflex/istate/shared.py``) starts one asyncio task per
   other linked token that re-opens that tab's state with ``app.modify_state`` and emits the shared
   state's last dirty vars: one state lock + delta + emit per viewer. Patching the linked state in
   (``_patch_state``) marks the root's router vars dirty, so each such delta also re-sends the tab's
   router data (request headers twice, session, page, url): ~1.3 kB before the change itself.
   Any event of a linked tab, even on an unrelated state, fans the shared state out this way.

Sizes: the backend (Granian) does not accept ``permessage-deflate``, so this client does not offer
it and a frame's wire size is its header plus its text. Sizes are taken per frame as websockets
parses it (fragmented messages are summed); ``tcp_bytes_received`` counts every byte read from the
socket, handshake included, as a cross-check.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

ROOT_STATE_NAME = "reflex___state____state"
HYDRATE_AND_LOAD_EVENT = f"{ROOT_STATE_NAME}.hydrate_and_load"
ON_LOAD_INTERNAL_EVENT = f"{ROOT_STATE_NAME}.reflex___state____on_load_internal_state.on_load_internal"
IS_HYDRATED_VAR = "is_hydrated_rx_state_"
EVENT_PATH = "/_event"  # also the Socket.IO namespace
REFLEX_VERSION = "0.10.1"  # sent as websocket subprotocol, as the browser does
# What Chrome sends on the websocket upgrade besides the handshake fields. The backend copies the
# request headers into the tab's router data, which linked-state updates re-send (see 6. above), so
# headers (a Cookie above all) change the bytes per update; pass these to look like a browser.
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    "Origin": "http://localhost:3000",
    "Pragma": "no-cache",
    "Cache-Control": "no-cache",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-US,en;q=0.9",
}
CONNECT_TIMEOUT_SECONDS = 10.0  # handshake + namespace CONNECT ack; a cold backend answers in < 1 s

# Engine.IO v4 packet types (first character of each websocket text message).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE = "0", "1", "2", "3", "4"
# Socket.IO v5 packet types (second character, after EIO_MESSAGE).
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_CONNECT_ERROR = "0", "1", "2", "4"


def router_data_for(route: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    """The router_data the browser attaches to every event (``state.js``: ``withRouterData``).

    ``route`` is the concrete path (``/sessions/abc``); ``params`` holds the dynamic route args
    (``{"session_id": "abc"}``) plus any query-string values, which is where the backend reads them.
    """
    data: dict[str, Any] = {"pathname": route, "asPath": route}
    if params:
        data["query"] = dict(params)
    return data


def websocket_frame_bytes(payload_bytes: int) -> int:
    """Size on the wire of an unmasked server->client frame (RFC 6455 section 5.2)."""
    if payload_bytes < 126:
        return 2 + payload_bytes
    if payload_bytes < 1 << 16:
        return 4 + payload_bytes
    return 10 + payload_bytes


@dataclass(frozen=True)
class Update:
    """One StateUpdate as a tab received it."""

    delta: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    received_at: float  # time.time() when websockets parsed the last frame of the message
    wire_bytes: int  # websocket frame header(s) + payload, as read from the socket
    text_bytes: int  # the Engine.IO message text (``42/_event,[...]``), UTF-8


class _CountingConnection(ClientConnection):
    """A websockets connection that notes, per received data message, its arrival and wire size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tcp_bytes_received = 0
        self.control_frame_bytes = 0
        self.message_meta: collections.deque[tuple[float, int]] = collections.deque()
        self._fragment_bytes = 0

    def data_received(self, data: bytes) -> None:
        self.tcp_bytes_received += len(data)
        super().data_received(data)

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame):
            size = websocket_frame_bytes(len(event.data))
            if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self._fragment_bytes += size
                if event.fin:
                    self.message_meta.append((time.time(), self._fragment_bytes))
                    self._fragment_bytes = 0
            else:
                self.control_frame_bytes += size
        super().process_event(event)


@dataclass
class ClientStats:
    """Counters for one tab; ``tcp_bytes_received`` minus the others is the HTTP handshake."""

    messages: int = 0
    pings_answered: int = 0  # Engine.IO heartbeats (server "2" every 25 s -> client "3")
    frame_bytes: int = 0  # all data frames, Engine.IO pings and acks included
    update_bytes: int = 0  # frames that carried a StateUpdate
    other_events: list[tuple[str, Any]] = field(default_factory=list)


class ReflexClient:
    """One emulated browser tab: connect (+ hydrate), send events, receive StateUpdates, close.

    Received updates are merged into ``state`` (``{state full name: {var: value}}``) and handed to
    ``on_update`` if given, else put on the ``updates`` queue. The client never interprets a
    delta beyond that merge.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        on_update: Callable[[ReflexClient, Update], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
        self._ws_base = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{EVENT_PATH}/"
        self.token = token or str(uuid.uuid4())  # a tab's sessionStorage token
        self.on_update = on_update
        self.headers = dict(headers or {})  # extra upgrade-request headers, e.g. BROWSER_HEADERS
        self.updates: asyncio.Queue[Update] = asyncio.Queue()
        self.state: dict[str, dict[str, Any]] = {}
        self.stats = ClientStats()
        self.router_data: dict[str, Any] = router_data_for("/")
        self.sid: str | None = None  # Socket.IO session id of the namespace
        self._ws: _CountingConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._hydrated = asyncio.Event()
        self._connect_error: Any = None

    @property
    def tcp_bytes_received(self) -> int:
        """Every byte read from the socket, HTTP upgrade response included."""
        return self._ws.tcp_bytes_received if self._ws else 0

    @property
    def control_frame_bytes(self) -> int:
        """Websocket ping/pong/close frames (Engine.IO pings are data frames, in ``stats``)."""
        return self._ws.control_frame_bytes if self._ws else 0

    async def connect(
        self,
        route: str = "/",
        params: dict[str, str] | None = None,
        *,
        hydrate: bool = True,
        state_schema: str | None = None,
    ) -> None:
        """Open the socket and join the namespace; with ``hydrate`` the CONNECT packet carries
        ``hydrate_and_load`` for ``route``, exactly as a page load does. Returns once the server
        acknowledged the namespace (not once hydrated: see ``wait_hydrated``)."""
        self.router_data = router_data_for(route, params)
        self._connected.clear()
        self._hydrated.clear()
        self._connect_error = None
        query = urlencode({"EIO": "4", "transport": "websocket", "token": self.token})
        headers = dict(self.headers)
        user_agent = headers.pop("User-Agent", None)
        self._ws = await connect(
            f"{self._ws_base}?{query}",
            additional_headers=headers,
            **({"user_agent_header": user_agent} if user_agent else {}),
            create_connection=_CountingConnection,
            subprotocols=[REFLEX_VERSION],  # type: ignore[list-item]
            compression=None,  # the backend does not negotiate permessage-deflate
            max_size=None,  # a delta can exceed the 1 MB the server accepts inbound
            open_timeout=CONNECT_TIMEOUT_SECONDS,
            ping_interval=None,  # liveness is Engine.IO's job (server "2" -> client "3")
        )
        self._reader = asyncio.create_task(self._read_loop(), name=f"reflex-client-{self.token[:8]}")
        auth: dict[str, Any] = {}
        if hydrate:
            auth["event"] = self._event(HYDRATE_AND_LOAD_EVENT, {})
        if state_schema is not None:
            auth["state_schema"] = state_schema
        await self._ws.send(f"{EIO_MESSAGE}{SIO_CONNECT}{EVENT_PATH},{json.dumps(auth)}")
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            await self._connected.wait()
        if self._connect_error is not None:
            raise ConnectionError(f"Socket.IO connect refused: {self._connect_error}")

    async def wait_hydrated(self, timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
        """Wait for the delta that sets ``is_hydrated`` (sent after the page's on_load handlers)."""
        async with asyncio.timeout(timeout_seconds):
            await self._hydrated.wait()

    async def send_event(
        self,
        handler_full_name: str,
        payload: dict[str, Any] | None = None,
        router_data: dict[str, Any] | None = None,
    ) -> None:
        """Send ``<state full name>.<handler>`` with kwargs ``payload`` from the current route."""
        if self._ws is None:
            raise RuntimeError("not connected")
        event = self._event(handler_full_name, payload or {}, router_data)
        await self._ws.send(f"{EIO_MESSAGE}{SIO_EVENT}{EVENT_PATH},{json.dumps(['event', event])}")

    async def navigate(self, route: str, params: dict[str, str] | None = None) -> None:
        """A client-side navigation: the new page's on_load handlers run on the server."""
        self.router_data = router_data_for(route, params)
        self._hydrated.clear()
        await self.send_event(ON_LOAD_INTERNAL_EVENT)

    async def close(self) -> None:
        """Leave the namespace and close the socket, like a tab being closed.

        Raises what the reader raised, e.g. an exception from ``on_update``."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.send(f"{EIO_MESSAGE}{SIO_DISCONNECT}{EVENT_PATH},")
                await ws.send(EIO_CLOSE)
            await ws.close()
            self._ws = ws  # keep the byte counters readable
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    def _event(self, name: str, payload: dict[str, Any], router_data: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"name": name, "router_data": router_data or self.router_data}
        if payload:
            event["payload"] = payload
        return event

    async def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        with contextlib.suppress(ConnectionClosed):  # the server went away: the loop just ends
            async for message in ws:
                received_at, wire_bytes = ws.message_meta.popleft()
                self.stats.messages += 1
                self.stats.frame_bytes += wire_bytes
                text = message if isinstance(message, str) else message.decode()
                await self._handle(text, received_at, wire_bytes)
        if not self._connected.is_set():  # unblock a connect() that is still waiting
            self._connect_error = "socket closed before the CONNECT acknowledgement"
            self._connected.set()

    async def _handle(self, text: str, received_at: float, wire_bytes: int) -> None:
        kind = text[:1]
        if kind == EIO_PING:
            assert self._ws is not None
            await self._ws.send(EIO_PONG)
            self.stats.pings_answered += 1
            return
        if kind != EIO_MESSAGE:  # EIO_OPEN (handshake info) or EIO_CLOSE
            return
        sio_type, body = text[1:2], text[2:]
        if body.startswith(EVENT_PATH):
            body = body[len(EVENT_PATH) :].removeprefix(",")
        if sio_type == SIO_CONNECT:
            self.sid = json.loads(body).get("sid")
            self._connected.set()
        elif sio_type == SIO_CONNECT_ERROR:
            self._connect_error = json.loads(body) if body else "refused"
            self._connected.set()
        elif sio_type == SIO_EVENT:
            name, *args = json.loads(body)
            data = args[0] if args else None
            if name == "event":
                self._on_state_update(data, received_at, wire_bytes, len(text.encode()))
            elif name == "new_token":  # token already in use by another tab: adopt the new one
                self.token = data
                self.stats.other_events.append((name, data))
            else:  # state_mismatch, ping replies, ...
                self.stats.other_events.append((name, data))

    def _on_state_update(self, data: dict[str, Any], received_at: float, wire_bytes: int, text_bytes: int) -> None:
        update = Update(
            delta=data.get("delta") or {},
            events=data.get("events") or [],
            received_at=received_at,
            wire_bytes=wire_bytes,
            text_bytes=text_bytes,
        )
        self.stats.update_bytes += wire_bytes
        for state_name, changes in update.delta.items():
            self.state.setdefault(state_name, {}).update(changes)
        if update.delta.get(ROOT_STATE_NAME, {}).get(IS_HYDRATED_VAR):
            self._hydrated.set()
        if self.on_update is not None:
            self.on_update(self, update)
        else:
            self.updates.put_nowait(update)
