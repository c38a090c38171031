"""Token buckets: how much a sandbox's bridge may send, in events and in bytes per second.

Pure values, no clock of their own: every call is given ``now`` (a monotonic time
in seconds), so the arithmetic is tested without waiting. A bucket holds up to
``capacity`` tokens and refills at ``rate`` per second; taking more than it
holds fails and takes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Why 10 s of burst: a bridge that reconnects re-sends everything unacknowledged at once;
# ten seconds' worth of the sustained rate lets a short outage's backlog through.
BURST_SECONDS = 10.0


@dataclass(frozen=True)
class TokenBucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: float, now: float, *, burst_seconds: float = BURST_SECONDS,
             min_capacity: float = 1.0) -> TokenBucket:
        """A full bucket holding ``burst_seconds`` of ``rate`` (at least ``min_capacity``: the
        largest single amount ever taken must fit, or it would never pass)."""
        capacity = max(rate * burst_seconds, min_capacity)
        return cls(rate=rate, capacity=capacity, tokens=capacity, updated_at=now)

    def refilled(self, now: float) -> TokenBucket:
        elapsed = max(0.0, now - self.updated_at)
        return replace(self, tokens=min(self.capacity, self.tokens + elapsed * self.rate), updated_at=now)

    def take(self, amount: float, now: float) -> tuple[TokenBucket, bool]:
        """The bucket after taking ``amount`` at ``now``, and whether there was enough."""
        current = self.refilled(now)
        if amount > current.tokens:
            return current, False
        return replace(current, tokens=current.tokens - amount), True

    def seconds_until(self, amount: float, now: float) -> float:
        """How long until ``amount`` could be taken (0 if now; never more than a full refill)."""
        missing = min(amount, self.capacity) - self.refilled(now).tokens
        return max(0.0, missing / self.rate) if self.rate > 0 else float("inf")

    def is_full(self, now: float) -> bool:
        return self.refilled(now).tokens >= self.capacity


@dataclass(frozen=True)
class FrameBudget:
    """One sandbox's two buckets: events per second and bytes per second."""

    events: TokenBucket
    bytes: TokenBucket

    @classmethod
    def full(cls, events_per_second: float, bytes_per_second: float, now: float, *,
             largest_frame: int) -> FrameBudget:
        return cls(TokenBucket.full(events_per_second, now),
                   TokenBucket.full(bytes_per_second, now, min_capacity=largest_frame))

    def take(self, size: int, now: float) -> tuple[FrameBudget, float]:
        """Take one frame of ``size`` bytes: the budget after, and 0.0 when it fit — else how many
        seconds until it would (and nothing was taken)."""
        events, events_ok = self.events.take(1, now)
        sizes, bytes_ok = self.bytes.take(size, now)
        if events_ok and bytes_ok:
            return FrameBudget(events, sizes), 0.0
        wait = max(self.events.seconds_until(1, now), self.bytes.seconds_until(size, now))
        return FrameBudget(self.events.refilled(now), self.bytes.refilled(now)), max(wait, 1e-3)

    def is_full(self, now: float) -> bool:
        return self.events.is_full(now) and self.bytes.is_full(now)
