"""Numbering and keeping sandbox events until the control plane has stored them.

The outbox owns the sequence: every event added gets the next ``seq`` (from 1,
per sandbox) and stays, in order, until a cumulative ``ack`` covers it. The
bridge asks it for "everything unacknowledged after seq N" when it sends, and
for everything unacknowledged when it reconnects. It does no I/O and knows
nothing of sockets; sending, waiting and retrying are the bridge's job.

It is bounded twice:

- **Each event** fits in one frame the control plane accepts
  (:data:`~openinspect_protocol.events.MAX_EVENT_BYTES`): a larger one has its
  long strings and lists cut (:func:`fit`), and is replaced by a warning if even
  that is not enough, so the bridge never sends a frame that cannot be stored.
- **The number kept** (``max_events``, the launch spec's ``max_outbox_events``):
  when that many are unacknowledged — the control plane is away or slow — a
  streamed event (tokens, tool calls, script output) raises :class:`OutboxFull`,
  which ends the turn that produced it with that error instead of growing without
  bound. Events that move the session (a prompt's completion, an error, ready...)
  still get a small reserve, so the control plane learns how the turn ended; a
  heartbeat is not kept at all (it would only say something stale), and neither is
  a batch of the runtime's own log lines (``sandbox_log``): a log must never end a
  turn nor take the reserve; the shipper counts what was dropped.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_EVENT_BYTES
from openinspect_protocol.launch import MAX_OUTBOX_EVENTS

# Streamed events: most of what a sandbox sends, and what a full outbox refuses first.
STREAMED = (protocol.TokenDelta, protocol.ToolCall, protocol.ToolResult, protocol.StepStart, protocol.StepFinish,
            protocol.ScriptOutput, protocol.WarningEvent)
# Why 100: enough for how a turn ends (its commits, completion, an error) after the outbox filled.
RESERVE_EVENTS = 100
TRUNCATED = "…[truncated]"
_ENVELOPE = frozenset({"type", "seq", "ts", "message_id"})


class OutboxFull(Exception):
    """Too many events are unacknowledged to keep another; the message says how many and why."""


class Outbox:
    """Sequence numbers and the unacknowledged events, in order."""

    def __init__(self, max_events: int = MAX_OUTBOX_EVENTS, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pending: deque[protocol.SandboxEvent] = deque()
        self._last_seq = 0
        self._acked_seq = 0
        self.max_events = max_events
        self.max_event_bytes = max_event_bytes

    @property
    def last_seq(self) -> int:
        """The sequence number given to the newest event (0 before the first)."""
        return self._last_seq

    @property
    def acked_seq(self) -> int:
        """The highest sequence number the control plane has acknowledged."""
        return self._acked_seq

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def empty(self) -> bool:
        """True when everything added has been acknowledged."""
        return not self._pending

    @property
    def full(self) -> bool:
        """True when a streamed event would be refused."""
        return len(self._pending) >= self.max_events

    def add(self, event: protocol.SandboxEvent) -> protocol.SandboxEvent:
        """Number ``event`` with the next sequence; keep and return the numbered copy.

        Raises :class:`OutboxFull` when it cannot be kept; a heartbeat or a log batch
        then is returned unnumbered (``seq`` 0) and not kept.
        """
        if len(self._pending) >= self.max_events:
            if isinstance(event, protocol.Heartbeat | protocol.SandboxLog):
                return event  # unnumbered: not kept
            if isinstance(event, STREAMED) or len(self._pending) >= self.max_events + RESERVE_EVENTS:
                raise OutboxFull(
                    f"the sandbox holds {len(self._pending)} events the control plane has not acknowledged "
                    f"(limit {self.max_events}, OPENINSPECT_MAX_OUTBOX_EVENTS); the turn was stopped")
        numbered = fit(event.model_copy(update={"seq": self._last_seq + 1}), self.max_event_bytes)
        self._last_seq += 1
        self._pending.append(numbered)
        return numbered

    def ack(self, seq: int) -> int:
        """Drop every event with ``seq`` at or below ``seq``; return how many were dropped.

        An ack beyond the newest sequence is clamped (the control plane cannot
        have stored what was never sent); an older ack than one already seen
        changes nothing (acks are cumulative).
        """
        seq = min(seq, self._last_seq)
        if seq <= self._acked_seq:
            return 0
        self._acked_seq = seq
        dropped = 0
        while self._pending and self._pending[0].seq <= seq:
            self._pending.popleft()
            dropped += 1
        return dropped

    def unacked(self) -> list[protocol.SandboxEvent]:
        """Every event not yet acknowledged, oldest first (what a reconnect re-sends)."""
        return list(self._pending)

    def after(self, seq: int) -> list[protocol.SandboxEvent]:
        """The unacknowledged events numbered above ``seq``, oldest first."""
        if not self._pending or self._pending[-1].seq <= seq:
            return []
        return [event for event in self._pending if event.seq > seq]


# ------------------------------------------------------------------ event size


def frame_bytes(event: protocol.SandboxEvent) -> int:
    """The size of the frame that carries ``event`` (what the control plane's limit counts)."""
    return len(event.to_json().encode("utf-8"))


def fit(event: protocol.SandboxEvent, max_bytes: int) -> protocol.SandboxEvent:
    """``event`` if its frame fits in ``max_bytes``; else a copy with its long values cut until it
    does; else (nothing left to cut) a warning saying what was dropped, with the same number."""
    size = frame_bytes(event)
    if size <= max_bytes:
        return event
    data = event.model_dump(mode="json")
    limit = max_bytes // 2
    while limit >= 16:
        try:
            shrunk = protocol.parse_sandbox_event(_json(_cut(data, limit)))
        except protocol.ProtocolError:
            shrunk = None
        if shrunk is not None and frame_bytes(shrunk) <= max_bytes:
            return shrunk
        limit //= 4
    return protocol.WarningEvent(
        seq=event.seq, message_id=event.message_id, code="event_too_large",
        message=f"a {event.type} event of {size} bytes was dropped: larger than the limit of {max_bytes} bytes")


def _cut(data: dict[str, Any], limit: int) -> dict[str, Any]:
    return {key: value if key in _ENVELOPE else _cut_value(value, limit) for key, value in data.items()}


def _cut_value(value: Any, limit: int) -> Any:
    items = max(1, limit // 64)
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + TRUNCATED
    if isinstance(value, list):
        kept = [_cut_value(item, limit) for item in value[:items]]
        return [*kept, TRUNCATED] if len(value) > items else kept
    if isinstance(value, dict):
        cut = {_cut_value(str(key), limit): _cut_value(item, limit) for key, item in list(value.items())[:items]}
        if len(value) > items:
            cut[TRUNCATED] = len(value) - items  # how many entries were left out
        return cut
    return value


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)
