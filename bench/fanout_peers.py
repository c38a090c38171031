"""The peers of the fan-out benchmark (``bench/fanout.py``), each one class.

* :class:`SyntheticBridge` — one sandbox as the control plane sees it: the real handshake
  (``GET /bridge/<id>``, bearer token, protocol header), protocol frames numbered from 1, acks;
  ``token`` events whose text carries their send time (``"t=<time_ns> "``).
* :class:`Viewer` — a signed-in browser tab on a session page (``bench/reflex_client.py``): the two
  LocalStorage values of the sign-in go with ``hydrate_and_load``, as the compiled frontend sends
  them (``hydrateClientStorage`` in ``.web/utils/state.js``: ``payload.vars`` keyed by
  ``<state full name>.<var>_rx_state_``); presence is reported over HTTP as the page's script does.
* :class:`BaselineViewer` and :func:`serve_baseline` — the baseline: a bare ``websockets`` server
  that re-sends a bridge's frames as they are to the viewers of its session
  (``python -m bench.fanout_peers PORT`` runs it).

Every viewer keeps a :class:`Tab`: per message received, its arrival time, wire size and the
newest send time it brought.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openinspect_protocol as p
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.reflex_client import BROWSER_HEADERS, ReflexClient, Update, _CountingConnection
from openinspect_app.live.presence import HEARTBEAT_INTERVAL_SECONDS as PRESENCE_INTERVAL_SECONDS
from openinspect_app.routes import session_url
from openinspect_app.state.session import SessionShared

ACK_TIMEOUT_SECONDS = 30
HYDRATE_TIMEOUT_SECONDS = 60  # a page open folds the whole history once (10,000 events: seconds)
SHARED_STATE = SessionShared.get_full_name()
TAIL_VAR = "tail_rx_state_"
SESSION_ID_VAR = "session_id_rx_state_"
TIMESTAMP = re.compile(r"t=(\d{19})")


# ---------------------------------------------------------- the bridges


def _take_token(env: dict[str, str]) -> str:
    """The bridge token from the file the launch spec names (the manual backend writes it beside the env)."""
    return Path(env["OPENINSPECT_SANDBOX_TOKEN_FILE"]).read_text().strip()


class SyntheticBridge:
    """One sandbox as the control plane sees it: the real handshake, protocol frames, acks.

    ``path`` is where it connects (``/bridge/<session id>`` on the system); ``headers`` are the
    handshake's. Events are numbered from 1 and their send times kept until acknowledged.
    """

    def __init__(self, url: str, label: str, headers: dict[str, str] | None = None, *, acked: bool = True) -> None:
        self.url = url
        self.label = label  # part ids start with it, so a viewer can tell its session's text
        self.headers = headers or {}
        self.expects_acks = acked  # the baseline server stores nothing and acknowledges nothing
        self.sent = 0
        self.first_send_at = 0.0
        self.last_text_ns = 0
        self.acked = 0
        self.last_ack_at = 0.0
        self.ack_seconds: list[float] = []
        self.rejected: list[str] = []
        self._tokens = 0  # token events sent so far (they fill text parts in turn)
        self._unacked: dict[int, float] = {}
        self._ack_arrived = asyncio.Event()
        self._lock = asyncio.Lock()
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_sandbox(cls, env: dict[str, str]) -> SyntheticBridge:
        session_id = env["OPENINSPECT_SESSION_ID"]
        return cls(f"{env['OPENINSPECT_CONTROL_PLANE_URL'].rstrip('/')}/bridge/{session_id}", session_id[:12],
                   {"Authorization": f"Bearer {_take_token(env)}",
                    p.PROTOCOL_HEADER: str(p.PROTOCOL_VERSION)})

    async def connect(self, *, heartbeat_seconds: float | None = p.HEARTBEAT_INTERVAL_SECONDS) -> None:
        self._ws = await connect(self.url, additional_headers=self.headers, proxy=None, open_timeout=30)
        self._tasks.append(asyncio.create_task(self._read(self._ws)))
        if heartbeat_seconds:
            self._tasks.append(asyncio.create_task(self._beat(heartbeat_seconds)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()

    async def send(self, make: Callable[[int], p.SandboxEvent]) -> int:
        """Number, build (``make(seq)``) and send one event; returns its seq."""
        assert self._ws is not None
        async with self._lock:
            seq = self.sent + 1
            frame = make(seq).to_json()
            now = time.time()
            self._unacked[seq] = now
            self.first_send_at = self.first_send_at or now
            await self._ws.send(frame)
            self.sent = seq
            return seq

    async def ready(self) -> None:
        seq = await self.send(lambda seq: p.Ready(seq=seq, agent="synthetic", agent_version="0"))
        await self.wait_acked(seq)

    async def wait_acked(self, seq: int, timeout_seconds: float = ACK_TIMEOUT_SECONDS) -> None:
        async with asyncio.timeout(timeout_seconds):
            while self.acked < seq:
                self._ack_arrived.clear()
                await self._ack_arrived.wait()

    async def stream(self, rate: float | None, count: int, tokens_per_part: int) -> None:
        """``count`` token events at ``rate`` per second (None: back to back), each text carrying its send time."""
        interval = 1.0 / rate if rate else 0.0
        next_at = time.monotonic() + random.random() * interval  # sessions do not tick in step
        for _ in range(count):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            part = f"{self.label}-{self._tokens // tokens_per_part}"
            self._tokens += 1
            await self.send(lambda seq, part=part: self._token(seq, part))
            next_at += interval

    def _token(self, seq: int, part: str) -> p.TokenDelta:
        self.last_text_ns = time.time_ns()
        return p.TokenDelta(seq=seq, part_id=part, text=f"t={self.last_text_ns} ")

    async def _beat(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            await self.send(lambda seq: p.Heartbeat(seq=seq))

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                match p.parse_command(frame):
                    case p.Ack(seq=seq):
                        now = time.time()
                        for done in [s for s in self._unacked if s <= seq]:
                            self.ack_seconds.append(now - self._unacked.pop(done))
                        self.acked, self.last_ack_at = max(self.acked, seq), now
                        self._ack_arrived.set()
                    case p.Reject(reason=reason):
                        self.rejected.append(reason)
                    case p.Shutdown():
                        await ws.close()


# ---------------------------------------------------------- the viewers


@dataclass
class Sample:
    """One message as one viewer received it."""

    phase: str
    received_at: float
    wire_bytes: int
    latency_seconds: float | None  # receive time - newest send time it brought; None: nothing newer
    shared: bool = True  # it carried the session's shared state (else: only the tab's own vars)
    foreign: bool = False  # it carried another session's data


@dataclass
class Tab:
    """What one viewer (a Reflex tab, or a baseline websocket) has received."""

    session_id: str
    label: str
    phase: str = "join"
    newest_ns: int = 0
    samples: list[Sample] = field(default_factory=list)

    def record(self, received_at: float, wire_bytes: int, texts: list[str], *, shared: bool = True,
               foreign: bool = False) -> None:
        newest = max((int(t) for text in texts for t in TIMESTAMP.findall(text)), default=0)
        latency = None
        if newest > self.newest_ns:
            self.newest_ns = newest
            latency = received_at - newest / 1e9
        self.samples.append(Sample(self.phase, received_at, wire_bytes, latency, shared, foreign))

    def of(self, phase: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == phase]


def sign_in_cookie(base_url: str, person: int) -> str:
    """``Cookie:`` header value for viewer ``person``, got by local sign-in (the server is on loopback)."""
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        answer = http.post("/api/auth/local", json={"name": f"Viewer {person}", "email": f"viewer{person}@bench.local"},
                           headers={"Origin": base_url})
        answer.raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


class Viewer(ReflexClient):
    """A signed-in browser tab on one session page."""

    def __init__(self, base_url: str, session_id: str, label: str, cookie: str) -> None:
        # Signed in as a browser is: the HttpOnly sign-in cookie goes with the event socket's upgrade
        # (and so with the tab's router data, as in a browser).
        self.cookie = cookie
        self.base_url = base_url
        super().__init__(base_url, on_update=self._on_update,
                         headers={**BROWSER_HEADERS, "Origin": base_url, "Cookie": cookie})
        self.tab = Tab(session_id, label)

    async def open(self) -> None:
        session_id = self.tab.session_id
        await self.connect(session_url(session_id), {"session_id": session_id})
        await self.wait_hydrated(HYDRATE_TIMEOUT_SECONDS)

    async def report_presence(self, http: httpx.AsyncClient) -> None:
        """What the page's script does every few seconds (its own HTTP request, not a Reflex event)."""
        await asyncio.sleep(random.random() * PRESENCE_INTERVAL_SECONDS)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await http.post(f"/_ui/presence/{self.tab.session_id}", json={"token": self.token},
                                headers={"Cookie": self.cookie, "Origin": self.base_url})
            await asyncio.sleep(PRESENCE_INTERVAL_SECONDS)

    def _on_update(self, _: ReflexClient, update: Update) -> None:
        shared = update.delta.get(SHARED_STATE)
        if not shared:
            self.tab.record(update.received_at, update.wire_bytes, [], shared=False)
            return
        tail = shared.get(TAIL_VAR) or []
        keys = [entry.get("key", "") for entry in tail]
        foreign = (shared.get(SESSION_ID_VAR, self.tab.session_id) != self.tab.session_id
                   or any(k.startswith("text:") and not k.startswith(f"text:{self.tab.label}-") for k in keys))
        self.tab.record(update.received_at, update.wire_bytes, [entry.get("text", "") for entry in tail],
                        foreign=foreign)


class BaselineViewer:
    """A plain websocket on the baseline server, counting wire bytes as ``ReflexClient`` does."""

    def __init__(self, url: str, session_id: str, label: str) -> None:
        self.url = url
        self.tab = Tab(session_id, label)
        self._ws: _CountingConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._ws = await connect(self.url, create_connection=_CountingConnection, compression=None, max_size=None)
        self._reader = asyncio.create_task(self._read(self._ws))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()

    async def _read(self, ws: _CountingConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                received_at, wire_bytes = ws.message_meta.popleft()
                text = message if isinstance(message, str) else message.decode()
                self.tab.record(received_at, wire_bytes, [text])


async def serve_baseline(port: int) -> None:
    """The baseline server: ``/bridge/<key>`` frames go, as they are, to every ``/view/<key>``."""
    viewers: dict[str, set[ServerConnection]] = defaultdict(set)

    async def handler(ws: ServerConnection) -> None:
        kind, _, key = (ws.request.path if ws.request else "").strip("/").partition("/")
        if kind == "view":
            viewers[key].add(ws)
            try:
                await ws.wait_closed()
            finally:
                viewers[key].discard(ws)
            return
        async for frame in ws:
            broadcast(viewers[key], frame)

    async with serve(handler, "127.0.0.1", port, max_size=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_baseline(int(sys.argv[1])))
