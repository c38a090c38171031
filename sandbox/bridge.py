"""The sandbox's WebSocket link to the control plane.

The bridge owns the connection: it connects to ``{control_plane_url}/bridge/
{session_id}`` with the sandbox token and the protocol version, sends events
from its :class:`~sandbox.outbox.Outbox`, and hands the control plane's
commands to whoever reads :attr:`Bridge.commands`. It never reaches back into
its owner: callers give it events (:meth:`Bridge.emit`), read commands from a
queue, and await :meth:`Bridge.run`, which returns on :meth:`Bridge.close` and
raises :class:`BridgeRejected` when the control plane refuses the sandbox.

Delivery: on every (re)connect the bridge first re-sends every unacknowledged
event in order, then new events as they are emitted, over one sender task per
connection, so the control plane sees sequence numbers in order. ``ack`` drops
events from the outbox; :meth:`Bridge.flush` waits until it is empty.

Reconnects: connection loss, any server close, refused connections, timeouts
and HTTP answers other than 401/403/426 are retried with exponential backoff
and jitter (restarting from the smallest step after a connection that held or
got events acknowledged);
401/403 (wrong token) and 426 (wrong protocol version) are final.
Heartbeats are emitted (and numbered like every event) only while connected:
a heartbeat queued during an outage would only say something stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import Redactor
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sandbox.config import BridgeSettings
from sandbox.outbox import Outbox
from sandbox.scrubbing import EventScrubber

log = EventLog("sandbox.bridge")

# HTTP answers to the handshake that no retry can fix: the token (401, 403) or
# the protocol version (426 Upgrade Required) is wrong.
FATAL_HANDSHAKE_STATUSES = frozenset({401, 403, 426})

# Why: a connection attempt to a live control plane on a cluster network takes
# milliseconds; 10 s means the peer is gone and the backoff should take over.
OPEN_TIMEOUT_SECONDS = 10.0
# Why: a connection that held this long was a working one; its loss is news, not
# a symptom of a control plane that accepts and immediately fails.
STABLE_CONNECTION_SECONDS = 10.0
# Why: prompts carry user text and could be long; commands are never huge.
MAX_COMMAND_BYTES = 16 * 2**20
# Why: the normal WebSocket close; the control plane reads it as "sandbox left on purpose".
CLOSE_CODE_NORMAL = 1000

BridgeCommand = protocol.Prompt | protocol.Stop | protocol.Shutdown | protocol.Push | protocol.PullRequestResult


class BridgeRejected(Exception):
    """The control plane refused the sandbox at the handshake; retrying cannot help."""

    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(f"control plane refused the bridge: HTTP {status_code} {body}".strip())


def backoff_delay_seconds(
    attempt: int,
    *,
    initial_seconds: float,
    max_seconds: float,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """The wait before reconnect ``attempt`` (1-based): doubling from ``initial`` to ``max``, jittered.

    "Equal jitter": a random value in the upper half of the doubled delay, so
    many sandboxes losing one control plane do not come back in lockstep while
    each still waits at least half its step.
    """
    ceiling = min(max_seconds, initial_seconds * 2 ** max(0, attempt - 1))
    return rng(ceiling / 2, ceiling)


def handshake_fatal_status(exc: BaseException) -> int | None:
    """The HTTP status when ``exc`` is a handshake refusal retrying cannot fix, else None."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code in FATAL_HANDSHAKE_STATUSES:
        return exc.response.status_code
    return None


def _response_text(exc: BaseException) -> str:
    body = exc.response.body if isinstance(exc, InvalidStatus) else None
    return body.decode("utf-8", "replace")[:200] if body else ""


class Bridge:
    """Connects, sends the outbox in order, receives commands, reconnects."""

    def __init__(
        self,
        settings: BridgeSettings,
        outbox: Outbox | None = None,
        *,
        rng: Callable[[float, float], float] = random.uniform,
        redactor: Redactor | None = None,
    ) -> None:
        self._settings = settings
        self._outbox = outbox or Outbox()
        # Every event is scrubbed before the outbox numbers and keeps it (see sandbox.scrubbing).
        self._scrubber = EventScrubber(redactor or Redactor())
        self._rng = rng
        self.commands: asyncio.Queue[BridgeCommand] = asyncio.Queue()
        self._new_event = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._connected = asyncio.Event()
        self._ever_connected = asyncio.Event()
        self._closing = False
        self._close_requested = asyncio.Event()
        self._ws: ClientConnection | None = None
        self.connections = 0  # successful handshakes so far (for logs and tests)

    # ------------------------------------------------------------ public API

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def emit(self, event: protocol.SandboxEvent) -> protocol.SandboxEvent:
        """Scrub ``event``, number it, keep it until acknowledged, and send it when connected. Never blocks.

        Returns the numbered event; a token delta whose text is all held back (it may end in the start
        of a secret) is not numbered yet and comes back as it was given.
        """
        return self._add(self._scrubber.scrub(event)) or event

    def _add(self, events: list[protocol.SandboxEvent]) -> protocol.SandboxEvent | None:
        numbered = None
        for event in events:
            numbered = self._outbox.add(event)
        if events:
            self._drained.clear()
            self._new_event.set()
        return numbered

    async def wait_connected(self) -> None:
        """Return once the first handshake has succeeded."""
        await self._ever_connected.wait()

    async def flush(self, timeout_seconds: float) -> bool:
        """Wait until every emitted event is acknowledged; False if the timeout passed first."""
        self._add(self._scrubber.flush_all())  # streamed text still held back goes too
        try:
            async with asyncio.timeout(timeout_seconds):
                await self._drained.wait()
        except TimeoutError:
            log.warning("bridge.flush_timeout", unacked=len(self._outbox), timeout_seconds=timeout_seconds)
            return False
        return True

    async def close(self) -> None:
        """Close the connection normally; :meth:`run` then returns."""
        self._closing = True
        self._close_requested.set()
        self._new_event.set()
        ws = self._ws
        if ws is not None:
            await ws.close(CLOSE_CODE_NORMAL, "sandbox shutting down")

    async def run(self) -> None:
        """Connect and stay connected until :meth:`close`; raise :class:`BridgeRejected` if refused."""
        url = self._settings.url
        headers = {
            "Authorization": f"Bearer {self._settings.sandbox_token}",
            protocol.PROTOCOL_HEADER: str(protocol.PROTOCOL_VERSION),
        }
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._closing:
            try:
                ws = await connect(
                    url,
                    additional_headers=headers,
                    proxy=None,  # the control plane is reached directly, never via HTTP(S)_PROXY
                    open_timeout=OPEN_TIMEOUT_SECONDS,
                    max_size=MAX_COMMAND_BYTES,
                )
            except Exception as exc:
                status = handshake_fatal_status(exc)
                if status is not None:
                    body = _response_text(exc)
                    log.error("bridge.rejected", url=url, status=status, body=body)
                    raise BridgeRejected(status, body) from None
                failures += 1
                await self._pause(failures, "bridge.connect_failed", url=url, attempt=failures,
                                  error=f"{type(exc).__name__}: {exc}")
                continue
            if self._closing:
                await ws.close(CLOSE_CODE_NORMAL, "sandbox shutting down")
                break
            connected_at, acked_before = loop.time(), self._outbox.acked_seq
            await self._serve(ws, url)
            if self._closing:
                break
            # A connection that lasted, or got events acknowledged, starts the backoff afresh (a
            # flaky network between two healthy ends); one dropped at once with nothing done (a
            # control plane that accepts and fails) keeps it growing.
            if loop.time() - connected_at >= STABLE_CONNECTION_SECONDS or self._outbox.acked_seq > acked_before:
                failures = 0
            failures += 1
            await self._pause(failures, "bridge.reconnecting", url=url, attempt=failures)
        log.info("bridge.closed", url=url, unacked=len(self._outbox))

    # ------------------------------------------------------------ internals

    async def _pause(self, failures: int, event: str, **fields: object) -> None:
        delay = backoff_delay_seconds(
            failures,
            initial_seconds=self._settings.reconnect_initial_delay_seconds,
            max_seconds=self._settings.reconnect_max_delay_seconds,
            rng=self._rng,
        )
        log.info(event, retry_in_seconds=round(delay, 3), **fields)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._close_requested.wait()

    async def _serve(self, ws: ClientConnection, url: str) -> None:
        self._ws = ws
        self.connections += 1
        self._connected.set()
        self._ever_connected.set()
        log.info("bridge.connected", url=url, connection=self.connections,
                 resending=len(self._outbox), acked_seq=self._outbox.acked_seq)
        tasks = [
            asyncio.create_task(self._send_loop(ws), name="bridge.send"),
            asyncio.create_task(self._receive_loop(ws), name="bridge.receive"),
            asyncio.create_task(self._heartbeat_loop(), name="bridge.heartbeat"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, ConnectionClosed | OSError):
                    raise exc
        finally:
            self._connected.clear()
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            reason = "sandbox shutting down" if self._closing else "reconnecting"
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_CODE_NORMAL, reason)
        if not self._closing:
            log.info("bridge.disconnected", url=url, code=ws.close_code, reason=ws.close_reason,
                     unacked=len(self._outbox))

    async def _send_loop(self, ws: ClientConnection) -> None:
        # Everything unacknowledged goes first, in order, then whatever is emitted next.
        sent_seq = self._outbox.acked_seq
        while True:
            batch = self._outbox.after(sent_seq)
            if not batch:
                self._new_event.clear()
                await self._new_event.wait()
                continue
            for event in batch:
                await ws.send(event.to_json())
                sent_seq = event.seq

    async def _receive_loop(self, ws: ClientConnection) -> None:
        async for frame in ws:
            try:
                command = protocol.parse_command(frame)
            except protocol.ProtocolError as exc:
                log.warning("bridge.bad_command", error=str(exc))
                continue
            match command:
                case protocol.Ack(seq=seq):
                    if seq > self._outbox.last_seq:
                        log.warning("bridge.ack_ahead", seq=seq, last_seq=self._outbox.last_seq)
                    self._outbox.ack(seq)
                    if self._outbox.empty:
                        self._drained.set()
                case protocol.Reject(reason=reason):
                    log.warning("bridge.frame_rejected", reason=reason)
                case (protocol.Prompt() | protocol.Stop() | protocol.Shutdown() | protocol.Push()
                      | protocol.PullRequestResult()):
                    log.info("bridge.command", type=command.type,
                             message_id=getattr(command, "message_id", None),
                             request_id=command.request_id if isinstance(command, protocol.Prompt) else None)
                    self.commands.put_nowait(command)
        # The server closed the connection (any code): the caller reconnects.

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.heartbeat_interval_seconds)
            self.emit(protocol.Heartbeat())
