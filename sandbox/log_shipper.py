"""The sandbox runtime's own log, shipped to the control plane to be kept with the session.

A :class:`LogShipper` is a logging handler on the runtime's root logger: every record
of the runtime (its supervisor, git, scripts, harness — never the agent's output,
which travels as events) is formatted by the one JSON formatter (so it carries the
bound ids and is scrubbed of secrets) and buffered; :meth:`LogShipper.run` hands the
buffer to the bridge as ``sandbox_log`` events about once a second, and the
supervisor calls :meth:`LogShipper.ship_all` once more before its last flush, so the
lines up to the shutdown reach the control plane too.

It never loops on itself: the bridge's per-frame lines (a rejected frame, an ack
ahead, a bad command) are not shipped (a refused ``sandbox_log`` would otherwise log
a line that is shipped and refused again), and a batch the outbox will not keep (it
is full: a log never ends a turn) is counted as dropped, not retried. The buffer is
bounded too: when the control plane is away long, the oldest lines go (counted).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_BATCH, LogLevel
from openinspect_protocol.logs import JsonFormatter

# Why: the bridge's lines about single frames; shipping them could answer a refused log frame
# with another log frame, forever. Connection-level lines (connected, reconnecting) are shipped.
NOT_SHIPPED = frozenset({"bridge.frame_rejected", "bridge.ack_ahead", "bridge.bad_command"})
# Why: a runtime logs a few lines a second at most; 2,000 covers a control plane away for minutes.
MAX_BUFFERED_LINES = 2000
# Why: well below a frame's limit (MAX_EVENT_BYTES, 256 KiB), so the outbox never has to cut a batch.
MAX_BATCH_BYTES = 64 * 1024
SHIP_INTERVAL_SECONDS = 1.0
TRUNCATED = "…[truncated]"

_LEVELS: dict[int, LogLevel] = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
                                logging.ERROR: "error", logging.CRITICAL: "critical"}

Emit = Callable[[protocol.SandboxEvent], protocol.SandboxEvent]


def _level(levelno: int) -> LogLevel:
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= threshold:
            return _LEVELS[threshold]
    return "debug"


class LogShipper(logging.Handler):
    """Buffers the runtime's formatted log lines and emits them as ``sandbox_log`` batches."""

    def __init__(self, emit: Emit, *, level: int = logging.INFO, max_buffered: int = MAX_BUFFERED_LINES,
                 interval_seconds: float = SHIP_INTERVAL_SECONDS) -> None:
        super().__init__(level)
        self.setFormatter(JsonFormatter())
        self._emit_event = emit
        self._buffer: collections.deque[protocol.SandboxLogLine] = collections.deque()
        self._max_buffered = max_buffered
        self._interval = interval_seconds
        self.dropped = 0  # lines lost since the last batch that got into the outbox

    # ------------------------------------------------------------ logging side

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() in NOT_SHIPPED or record.name.startswith("websockets"):
            return
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if len(line) > MAX_LOG_LINE_CHARS:
            line = line[:MAX_LOG_LINE_CHARS - len(TRUNCATED)] + TRUNCATED
        entry = protocol.SandboxLogLine(ts=datetime.fromtimestamp(record.created, UTC),
                                        level=_level(record.levelno), line=line.replace("\x00", ""))
        if len(self._buffer) >= self._max_buffered:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(entry)

    # ------------------------------------------------------------ bridge side

    def ship(self) -> int:
        """Emit one batch of what is buffered (oldest first); the number of lines it held (0: none)."""
        with self._locked():
            batch: list[protocol.SandboxLogLine] = []
            size = 0
            while self._buffer and len(batch) < MAX_LOG_LINES_PER_BATCH:
                line_bytes = len(self._buffer[0].line.encode("utf-8")) + 64  # ts, level, JSON punctuation
                if batch and size + line_bytes > MAX_BATCH_BYTES:
                    break
                batch.append(self._buffer.popleft())
                size += line_bytes
            if not batch:
                return 0
            dropped, self.dropped = self.dropped, 0
        sent = self._emit_event(protocol.SandboxLog(lines=batch, dropped=dropped))
        if sent.seq == 0:  # the outbox is full and did not keep it: a log never takes the reserve
            with self._locked():
                self.dropped += dropped + len(batch)
        return len(batch)

    def ship_all(self) -> None:
        """Emit everything buffered now (before the bridge's last flush)."""
        while self.ship():
            pass

    async def run(self) -> None:
        """Ship about every second until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            self.ship_all()

    def _locked(self) -> _HandlerLock:
        return _HandlerLock(self)


class _HandlerLock:
    """The handler's own lock (``logging`` holds it around :meth:`LogShipper.emit`), as a context."""

    def __init__(self, handler: logging.Handler) -> None:
        self._handler = handler

    def __enter__(self) -> None:
        self._handler.acquire()

    def __exit__(self, *_: object) -> None:
        self._handler.release()
