"""The pure lifecycle rules, without mocks."""

from __future__ import annotations

import openinspect_protocol as p
import pytest

from backend_jobs import lifecycle as lc


def view(**overrides: object) -> lc.SessionView:
    base = dict(archived=False, has_live_sandbox=True, sandbox_ready=True, ever_had_sandbox=True,
                warm_requested=False, breaker_open=False, running_message_id=None, stop_pending=False,
                oldest_queued_id=None)
    base.update(overrides)
    return lc.SessionView(**base)  # type: ignore[arg-type]


def test_a_new_session_warms_a_sandbox() -> None:
    assert lc.decide(view(has_live_sandbox=False, sandbox_ready=False, ever_had_sandbox=False)) == [lc.Spawn()]


def test_a_stopped_session_starts_a_sandbox_only_for_work() -> None:
    idle = view(has_live_sandbox=False, sandbox_ready=False)
    assert lc.decide(idle) == []
    assert lc.decide(view(has_live_sandbox=False, sandbox_ready=False, oldest_queued_id="m1")) == [lc.Spawn()]


def test_typing_warms_a_stopped_session() -> None:
    assert lc.decide(view(has_live_sandbox=False, sandbox_ready=False, warm_requested=True)) == [lc.Spawn()]
    assert lc.decide(view(warm_requested=True)) == []  # already has one


def test_the_oldest_queued_prompt_goes_to_a_ready_sandbox() -> None:
    assert lc.decide(view(oldest_queued_id="m1")) == [lc.Dispatch("m1")]


def test_nothing_is_dispatched_while_a_prompt_runs_or_the_sandbox_starts() -> None:
    assert lc.decide(view(running_message_id="m0", oldest_queued_id="m1")) == []
    assert lc.decide(view(sandbox_ready=False, oldest_queued_id="m1")) == []


def test_a_pending_stop_is_sent_once_the_sandbox_can_hear_it() -> None:
    assert lc.decide(view(running_message_id="m0", stop_pending=True)) == [lc.SendStop("m0")]
    assert lc.decide(view(running_message_id="m0", stop_pending=True, sandbox_ready=False)) == []


def test_an_archived_session_shuts_its_sandbox_down_and_never_spawns() -> None:
    assert lc.decide(view(archived=True, oldest_queued_id="m1")) == [lc.Shutdown("session archived")]
    assert lc.decide(view(archived=True, has_live_sandbox=False, ever_had_sandbox=False)) == []


@pytest.mark.parametrize(
    ("event", "running", "expected"),
    [
        (p.StageChanged(stage="syncing"), False, lc.StatusChange("syncing")),
        (p.StageChanged(stage="setup"), False, lc.StatusChange("setup")),
        (p.StageChanged(stage="starting_agent"), False, lc.StatusChange("starting_agent")),
        (p.Ready(agent="opencode", agent_version="1"), False, lc.StatusChange("ready")),
        (p.Ready(agent="opencode", agent_version="1"), True, lc.StatusChange("running")),
        (p.ErrorEvent(code="start_failed", message="start.sh exited 3", fatal=True), False,
         lc.StatusChange("failed", "start.sh exited 3")),
        (p.ErrorEvent(code="agent_exited", message="restarting", fatal=False), True, None),
        (p.ExecutionComplete(message_id="m", success=True), True, lc.StatusChange("idle")),
        (p.TokenDelta(part_id="x", text="hi"), True, None),
        (p.WarningEvent(code="setup_failed", message="exit 1"), False, None),
    ],
)
def test_status_for_event(event: p.SandboxEvent, running: bool, expected: lc.StatusChange | None) -> None:
    assert lc.status_for_event(event, prompt_running=running) == expected


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        (p.ExecutionComplete(success=True), ("completed", None)),
        (p.ExecutionComplete(success=False, stopped=True), ("stopped", None)),
        (p.ExecutionComplete(success=False, error="model said no"), ("failed", "model said no")),
        (p.ExecutionComplete(success=False), ("failed", "the agent reported a failure")),
    ],
)
def test_message_outcome(event: p.ExecutionComplete, outcome: tuple[str, str | None]) -> None:
    assert lc.message_outcome(event) == outcome


def test_an_exit_means_stopped_when_asked_for_and_failed_otherwise() -> None:
    assert lc.status_for_exit(requested=True, failure=None, exit_reason="x") == lc.StatusChange("stopped")
    assert lc.status_for_exit(requested=False, failure=None, exit_reason="code 1") == lc.StatusChange(
        "failed", "code 1")
    # The sandbox's own fatal report beats its bare exit code.
    assert lc.status_for_exit(requested=False, failure="repository not found", exit_reason="code 1") == (
        lc.StatusChange("failed", "repository not found"))


def test_staleness() -> None:
    assert not lc.is_stale(seconds_since_contact=89, stale_seconds=90)
    assert lc.is_stale(seconds_since_contact=91, stale_seconds=90)


@pytest.mark.parametrize(
    ("ready", "work", "seconds", "timeout", "expected"),
    [
        (True, False, 1801, 1800, True),
        (True, False, 1799, 1800, False),
        (True, True, 9999, 1800, False),  # a queued or running prompt keeps it
        (False, False, 9999, 1800, False),  # still starting: not idle
        (True, False, 9999, 0, False),  # 0 turns the timeout off
    ],
)
def test_idleness(ready: bool, work: bool, seconds: float, timeout: float, expected: bool) -> None:
    assert lc.is_idle(sandbox_ready=ready, has_work=work, seconds_since_activity=seconds,
                      idle_timeout_seconds=timeout) is expected


def test_the_circuit_breaker_refuses_to_spawn_after_three_quick_failures() -> None:
    assert lc.breaker_open([10, 100, 299])
    assert not lc.breaker_open([10, 100])
    assert not lc.breaker_open([10, 100, 301])  # one fell out of the five-minute window
    stopped = dict(has_live_sandbox=False, sandbox_ready=False)
    assert lc.decide(view(**stopped, oldest_queued_id="m1", breaker_open=True)) == [lc.RefuseSpawn()]
    assert lc.decide(view(**stopped, breaker_open=True)) == []  # nobody waiting: nothing to refuse


@pytest.mark.parametrize(
    ("slots", "waits_because"),
    [
        (lc.SandboxSlots(alive=19, limit=20, owner_alive=4, owner_limit=5), None),
        (lc.SandboxSlots(alive=20, limit=20, owner_alive=0, owner_limit=5), "20 of 20 are in use"),
        (lc.SandboxSlots(alive=25, limit=20, owner_alive=0, owner_limit=5), "25 of 20"),  # the limit was lowered
        (lc.SandboxSlots(alive=3, limit=20, owner_alive=5, owner_limit=5), "owner has 5 of 5"),
        (lc.SandboxSlots(alive=0, limit=0, owner_alive=0, owner_limit=5), "0 of 0"),
    ],
)
def test_a_sandbox_is_started_only_with_a_free_slot_overall_and_for_its_owner(
        slots: lc.SandboxSlots, waits_because: str | None) -> None:
    wanted = dict(has_live_sandbox=False, sandbox_ready=False, oldest_queued_id="m1", slots=slots)
    actions = lc.decide(view(**wanted))
    if waits_because is None:
        assert actions == [lc.Spawn()] and lc.slot_refusal(slots) is None
    else:
        assert len(actions) == 1 and isinstance(actions[0], lc.WaitForSlot)
        assert waits_because in actions[0].reason and "starts when" in actions[0].reason


def test_the_slots_matter_only_when_a_sandbox_is_wanted() -> None:
    full = lc.SandboxSlots(alive=20, limit=20, owner_alive=5, owner_limit=5)
    assert lc.decide(view(oldest_queued_id="m1", slots=full)) == [lc.Dispatch("m1")]  # it has its sandbox
    assert lc.decide(view(has_live_sandbox=False, sandbox_ready=False, slots=full)) == []  # nothing wanted
    stopped = dict(has_live_sandbox=False, sandbox_ready=False, oldest_queued_id="m1", slots=full)
    assert lc.decide(view(**stopped, breaker_open=True)) == [lc.RefuseSpawn()]  # the breaker speaks first


# ------------------------------------------------------------------ pushing after a turn


def test_a_turn_with_new_commits_pushes_the_sessions_branch() -> None:
    assert lc.push_after_turn(work_branch="openinspect/ab-x", unpushed_commits=2, message_id="m1") == p.Push(
        branch="openinspect/ab-x", message_id="m1")


def test_commits_a_failed_push_left_behind_are_pushed_after_the_next_turn() -> None:
    # The counting is the caller's: commits since the last push, not only this turn's.
    assert lc.push_after_turn(work_branch="b", unpushed_commits=1, message_id="m2") == p.Push(branch="b",
                                                                                             message_id="m2")


@pytest.mark.parametrize(("work_branch", "unpushed"), [("b", 0), (None, 3), ("", 3)])
def test_nothing_is_pushed_without_new_commits_or_without_a_branch(work_branch: str | None, unpushed: int) -> None:
    assert lc.push_after_turn(work_branch=work_branch, unpushed_commits=unpushed, message_id="m1") is None


def test_a_follower_only_delivers_to_the_bridges_it_holds() -> None:
    every: list[lc.Action] = [lc.Spawn(), lc.Dispatch("m1"), lc.SendStop("m0"), lc.Shutdown("idle"), lc.RefuseSpawn(),
                              lc.WaitForSlot("full"), lc.HoldForSpend("spent"), lc.ReleaseSpendHold()]
    assert lc.for_this_process(every, leader=True) == every
    assert lc.for_this_process(every, leader=False) == [lc.Dispatch("m1"), lc.SendStop("m0")]
