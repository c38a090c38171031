"""Token buckets, with the time given: a budget of events and bytes per second."""

from __future__ import annotations

import pytest

from backend_jobs.rate_limit import BURST_SECONDS, FrameBudget, TokenBucket


def test_a_full_bucket_holds_the_burst_and_refills_at_its_rate() -> None:
    bucket = TokenBucket.full(rate=10, now=0.0)
    assert bucket.capacity == 10 * BURST_SECONDS
    bucket, ok = bucket.take(100, now=0.0)
    assert ok and bucket.tokens == 0
    bucket, ok = bucket.take(1, now=0.0)
    assert not ok and bucket.tokens == 0  # a refusal takes nothing
    assert bucket.seconds_until(5, now=0.0) == pytest.approx(0.5)
    bucket, ok = bucket.take(5, now=0.5)
    assert ok and bucket.tokens == pytest.approx(0)
    assert bucket.refilled(now=1000.0).tokens == bucket.capacity  # never more than full
    assert bucket.is_full(now=1000.0) and not bucket.is_full(now=0.6)


def test_time_going_backwards_adds_nothing() -> None:
    bucket, _ = TokenBucket.full(rate=10, now=5.0).take(100, now=5.0)
    assert bucket.refilled(now=1.0).tokens == 0


def test_the_largest_single_amount_always_fits_eventually() -> None:
    bucket = TokenBucket.full(rate=100, now=0.0, min_capacity=4096)
    assert bucket.capacity == 4096  # 100/s * 10 s would never let a 4 KiB frame through
    assert bucket.take(4096, now=0.0)[1]
    assert bucket.seconds_until(10**9, now=0.0) == 0  # capped at a full bucket


def test_a_frame_needs_room_in_both_buckets_and_takes_from_neither_when_refused() -> None:
    budget = FrameBudget.full(events_per_second=2, bytes_per_second=100, now=0.0, largest_frame=1000)
    assert (budget.events.capacity, budget.bytes.capacity) == (20, 1000)
    budget, wait = budget.take(990, now=0.0)
    assert wait == 0 and (budget.events.tokens, budget.bytes.tokens) == (19, 10)
    budget, wait = budget.take(50, now=0.0)  # events left, bytes not
    assert wait == pytest.approx(0.4) and (budget.events.tokens, budget.bytes.tokens) == (19, 10)
    for _ in range(19):
        budget, wait = budget.take(0, now=0.0)
        assert wait == 0
    budget, wait = budget.take(0, now=0.0)  # bytes left, events not
    assert wait == pytest.approx(0.5)
    budget, wait = budget.take(50, now=0.5)  # one event and 50 bytes refilled
    assert wait == 0 and not budget.is_full(now=0.5) and budget.is_full(now=100.0)
