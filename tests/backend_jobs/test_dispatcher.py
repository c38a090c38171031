"""The dispatcher's pure parts: what it makes of what it read, and why it refuses to start a sandbox."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from backend_jobs import lifecycle
from backend_jobs.dispatcher import breaker_refusal, session_view
from openinspect_core.models import Message, Sandbox, SandboxStatus, Session

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def a_session(*, archived: bool = False, warm_requested_at: datetime | None = None) -> Session:
    return Session(id="s1", repo_id="r1", created_by="u1", archived_at=ago(1) if archived else None,
                   warm_requested_at=warm_requested_at)


def a_sandbox(status: SandboxStatus = SandboxStatus.READY, sandbox_id: str = "sb1") -> Sandbox:
    return Sandbox(id=sandbox_id, session_id="s1", backend="test", auth_token_hash=f"hash-{sandbox_id}",
                   status=status, created_at=ago(60))


def a_prompt(message_id: str, *, stop_requested: bool = False) -> Message:
    return Message(id=message_id, session_id="s1", author_id="u1", content="hi", client_request_id=message_id,
                   stop_requested_at=ago(1) if stop_requested else None)


def view(session: Session | None = None, *, live: Sandbox | None = None, connected: str | None = None,
         newest: datetime | None = None, running: Message | None = None, queued: Message | None = None,
         stops_sent: Collection[str] = (), failed_at: Sequence[datetime] = ()) -> lifecycle.SessionView:
    return session_view(session or a_session(), live=live, connected_sandbox_id=connected,
                        newest_sandbox_at=newest, running=running, queued=queued, stops_sent=stops_sent,
                        failed_at=failed_at, now=NOW)


def test_a_session_that_never_had_a_sandbox() -> None:
    assert view() == lifecycle.SessionView(
        archived=False, has_live_sandbox=False, sandbox_ready=False, ever_had_sandbox=False, warm_requested=False,
        breaker_open=False, running_message_id=None, stop_pending=False, oldest_queued_id=None)


@pytest.mark.parametrize(
    ("live", "connected", "ready"),
    [
        (a_sandbox(SandboxStatus.READY), "sb1", True),
        (a_sandbox(SandboxStatus.READY), None, False),  # ready, but its bridge is not connected (now)
        (a_sandbox(SandboxStatus.READY), "sb0", False),  # the bridge connected is an older sandbox's
        (a_sandbox(SandboxStatus.CONNECTED), "sb1", False),  # connected, still starting
        (a_sandbox(SandboxStatus.SPAWNING), None, False),
        (a_sandbox(SandboxStatus.STOPPING), "sb1", False),
        (None, "sb1", False),
    ],
)
def test_a_sandbox_is_ready_only_when_it_said_so_and_its_bridge_is_connected(
        live: Sandbox | None, connected: str | None, ready: bool) -> None:
    result = view(live=live, connected=connected, newest=ago(60))
    assert (result.has_live_sandbox, result.sandbox_ready) == (live is not None, ready)


@pytest.mark.parametrize(
    ("warm_requested_at", "newest", "warm"),
    [
        (None, None, False),
        (ago(5), None, True),  # typed before the session's first sandbox
        (ago(5), ago(10), True),  # typed since the last sandbox began
        (ago(10), ago(5), False),  # the sandbox began after the typing: it was the answer
        (ago(5), ago(10).replace(tzinfo=None), True),  # SQLite's max() hands back naive UTC values
        (ago(10), ago(5).replace(tzinfo=None), False),
    ],
)
def test_warm_requested_counts_only_typing_since_the_newest_sandbox(
        warm_requested_at: datetime | None, newest: datetime | None, warm: bool) -> None:
    result = view(a_session(warm_requested_at=warm_requested_at), newest=newest)
    assert (result.warm_requested, result.ever_had_sandbox) == (warm, newest is not None)


@pytest.mark.parametrize(
    ("running", "stops_sent", "pending"),
    [
        (None, (), False),
        (a_prompt("m1"), (), False),
        (a_prompt("m1", stop_requested=True), (), True),
        (a_prompt("m1", stop_requested=True), ("m1",), False),  # delivered already
        (a_prompt("m1", stop_requested=True), ("m0",), True),  # a stop of an earlier prompt does not count
    ],
)
def test_a_stop_is_pending_until_it_was_sent(running: Message | None, stops_sent: tuple[str, ...],
                                              pending: bool) -> None:
    result = view(live=a_sandbox(), connected="sb1", newest=ago(60), running=running, stops_sent=stops_sent)
    assert result.stop_pending is pending
    assert result.running_message_id == (running.id if running else None)


@pytest.mark.parametrize(
    ("failed_at", "open_"),
    [
        ([], False),
        ([ago(200), ago(100)], False),
        ([ago(200), ago(100), ago(10)], True),
        ([ago(301), ago(100), ago(10)], False),  # one of them is older than the window
        ([ago(300), ago(100), ago(10)], True),  # the window's edge is inside it
        ([ago(200).replace(tzinfo=None), ago(100), ago(10)], True),  # naive values are UTC
    ],
)
def test_the_breaker_counts_failures_in_the_window(failed_at: list[datetime], open_: bool) -> None:
    assert view(newest=ago(5), failed_at=failed_at).breaker_open is open_


def test_the_view_carries_the_queue_and_the_archive() -> None:
    result = view(a_session(archived=True), queued=a_prompt("m2"))
    assert (result.archived, result.oldest_queued_id) == (True, "m2")


def test_what_was_read_decides_the_round() -> None:
    """From rows to actions: a ready, connected sandbox and a queued prompt make a dispatch."""
    ready = view(live=a_sandbox(), connected="sb1", newest=ago(60), queued=a_prompt("m2"))
    assert lifecycle.decide(ready) == [lifecycle.Dispatch("m2")]
    still_connecting = view(live=a_sandbox(), connected=None, newest=ago(60), queued=a_prompt("m2"))
    assert lifecycle.decide(still_connecting) == []
    broken = view(newest=ago(5), queued=a_prompt("m2"), failed_at=[ago(30), ago(20), ago(10)])
    assert lifecycle.decide(broken) == [lifecycle.RefuseSpawn()]


@pytest.mark.parametrize(
    ("reasons", "text"),
    [
        (["exit code 1", "exit code 1", "start.sh exited 3"],
         "circuit breaker open: 3 sandboxes failed in the last 5 minutes (last: start.sh exited 3); "
         "fix the cause, then send again"),
        ([], "circuit breaker open: 0 sandboxes failed in the last 5 minutes (last: unknown); "
             "fix the cause, then send again"),
    ],
)
def test_the_refusal_names_the_count_the_window_and_the_last_reason(reasons: list[str], text: str) -> None:
    assert breaker_refusal(reasons) == text
