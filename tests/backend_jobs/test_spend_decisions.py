"""The spend limit's decisions (pure, as the rest of ``lifecycle``): the running turn finishes, the queue
waits and says why once, a raised limit releases it; a held queue keeps no sandbox busy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend_jobs import lifecycle
from backend_jobs.lifecycle import Dispatch, HoldForSpend, ReleaseSpendHold, SendStop, SessionView, Spawn, decide
from backend_jobs.supervision import timer_verdicts
from openinspect_core.models import Sandbox, SandboxStatus, Session
from openinspect_core.settings import Settings

REASON = lifecycle.spend_refusal(spent_usd=1.5, limit_usd=1.0)


def a_view(**values: object) -> SessionView:
    base: dict[str, object] = dict(archived=False, has_live_sandbox=True, sandbox_ready=True, ever_had_sandbox=True,
                                   warm_requested=False, breaker_open=False, running_message_id=None,
                                   stop_pending=False, oldest_queued_id="m2")
    return SessionView(**{**base, **values})  # type: ignore[arg-type]


def test_the_refusal_says_what_was_spent_and_the_limit() -> None:
    assert lifecycle.spend_refusal(spent_usd=0.5, limit_usd=1.0) is None
    assert lifecycle.spend_refusal(spent_usd=2.0, limit_usd=None) is None
    assert REASON is not None
    assert "$1.50" in REASON and "$1.00" in REASON and "raises" in REASON


def test_under_the_limit_the_next_prompt_is_dispatched() -> None:
    assert decide(a_view()) == [Dispatch("m2")]


def test_at_the_limit_the_queue_waits_and_says_why_once() -> None:
    assert decide(a_view(spend_refusal=REASON)) == [HoldForSpend(REASON)]  # type: ignore[arg-type]
    assert decide(a_view(spend_refusal=REASON, spend_held=True)) == []  # said already: nothing more


def test_the_running_turn_is_never_stopped_by_the_limit() -> None:
    running = a_view(running_message_id="m1", spend_refusal=REASON)
    assert decide(running) == []  # neither a stop nor a hold while it runs: it finishes
    stopping = a_view(running_message_id="m1", stop_pending=True, spend_refusal=REASON)
    assert decide(stopping) == [SendStop("m1")]  # a person's own stop still goes through


def test_a_raised_limit_releases_the_queue() -> None:
    assert decide(a_view(spend_held=True)) == [Dispatch("m2"), ReleaseSpendHold()]


def test_a_hold_with_nothing_left_waiting_is_cleared() -> None:
    assert decide(a_view(oldest_queued_id=None, spend_refusal=REASON, spend_held=True)) == [ReleaseSpendHold()]


def test_no_sandbox_is_started_for_prompts_the_limit_holds() -> None:
    idle = a_view(has_live_sandbox=False, sandbox_ready=False)
    assert decide(idle) == [Spawn()]
    assert decide(idle.__class__(**{**idle.__dict__, "spend_refusal": REASON})) == [HoldForSpend(REASON)]  # type: ignore[arg-type]
    # Someone typing still warms a sandbox (it costs no model call); the hold is said all the same.
    typing = a_view(has_live_sandbox=False, sandbox_ready=False, warm_requested=True, spend_refusal=REASON)
    assert decide(typing) == [Spawn(), HoldForSpend(REASON)]  # type: ignore[arg-type]


def test_an_archived_session_only_shuts_down() -> None:
    assert decide(a_view(archived=True, spend_refusal=REASON)) == [lifecycle.Shutdown("session archived")]


@pytest.mark.parametrize(("held", "idle"), [(False, False), (True, True)])
def test_prompts_held_by_the_limit_keep_no_sandbox_busy(held: bool, idle: bool) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    settings = Settings.from_env({}, sandbox_idle_timeout_seconds=60.0)
    session = Session(id="s1", repo_id="r1", created_by="u1", last_activity_at=now - timedelta(minutes=5),
                      spend_held_at=now - timedelta(minutes=4) if held else None)
    sandbox = Sandbox(id="sb1", session_id="s1", backend="local", auth_token_hash="h", status=SandboxStatus.READY,
                      last_heartbeat_at=now)
    _, idle_ids = timer_verdicts([(sandbox, session)], busy={"s1"}, now=now, settings=settings)
    assert (idle_ids == ["sb1"]) is idle
