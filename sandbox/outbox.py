"""Numbering and keeping sandbox events until the control plane has stored them.

The outbox owns the sequence: every event added gets the next ``seq`` (from 1,
per sandbox) and stays, in order, until a cumulative ``ack`` covers it. The
bridge asks it for "everything unacknowledged after seq N" when it sends, and
for everything unacknowledged when it reconnects. It does no I/O and knows
nothing of sockets; sending, waiting and retrying are the bridge's job.
"""

from __future__ import annotations

from collections import deque

import openinspect_protocol as protocol


class Outbox:
    """Sequence numbers and the unacknowledged events, in order."""

    def __init__(self) -> None:
        self._pending: deque[protocol.SandboxEvent] = deque()
        self._last_seq = 0
        self._acked_seq = 0

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

    def add(self, event: protocol.SandboxEvent) -> protocol.SandboxEvent:
        """Number ``event`` with the next sequence; keep and return the numbered copy."""
        self._last_seq += 1
        numbered = event.model_copy(update={"seq": self._last_seq})
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
