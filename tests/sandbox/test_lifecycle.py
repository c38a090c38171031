"""The pure lifecycle decisions, without mocks or I/O."""

import openinspect_protocol as protocol

from sandbox.lifecycle import (
    MAX_AGENT_RESTARTS,
    AgentExitDecision,
    ExitCode,
    Offer,
    PromptBook,
    StopAction,
    after_agent_exit,
    agent_exited_error,
    agent_gave_up_error,
    setup_warning,
    start_error,
)
from sandbox.scripts import ScriptResult

ADA = protocol.Author(name="Ada", email="ada@example.com")


def prompt(message_id: str) -> protocol.Prompt:
    return protocol.Prompt(message_id=message_id, content=f"do {message_id}", author=ADA)


def test_prompts_run_one_at_a_time_in_arrival_order():
    book = PromptBook()
    assert book.offer(prompt("a")) is Offer.QUEUED
    assert book.offer(prompt("b")) is Offer.QUEUED
    assert book.start_next() == prompt("a")
    assert book.start_next() is None  # "a" still runs
    book.finish()
    assert book.start_next() == prompt("b")
    book.finish()
    assert book.start_next() is None


def test_a_message_id_seen_before_is_a_duplicate_whether_running_queued_or_finished():
    book = PromptBook()
    book.offer(prompt("a"))
    book.offer(prompt("b"))
    book.start_next()
    assert book.offer(prompt("a")) is Offer.DUPLICATE  # running
    assert book.offer(prompt("b")) is Offer.DUPLICATE  # queued
    book.finish()
    assert book.offer(prompt("a")) is Offer.DUPLICATE  # finished
    assert book.queued == (prompt("b"),)


def test_stop_aborts_the_running_prompt_when_it_names_it_or_nothing():
    book = PromptBook()
    book.offer(prompt("a"))
    book.start_next()
    assert book.stop_action(protocol.Stop(message_id="a")) is StopAction.ABORT_RUNNING
    assert book.stop_action(protocol.Stop()) is StopAction.ABORT_RUNNING
    assert book.stop_action(protocol.Stop(message_id="other")) is StopAction.IGNORE


def test_stop_of_a_queued_prompt_cancels_it_and_stop_when_idle_does_nothing():
    book = PromptBook()
    assert book.stop_action(protocol.Stop()) is StopAction.IGNORE
    book.offer(prompt("a"))
    book.offer(prompt("b"))
    book.start_next()
    assert book.stop_action(protocol.Stop(message_id="b")) is StopAction.CANCEL_QUEUED
    assert book.cancel_queued("b") == prompt("b")
    assert book.queued == ()
    assert book.cancel_queued("b") is None


def test_the_agent_is_restarted_three_times_in_a_row_then_given_up():
    decisions = [after_agent_exit(n) for n in range(5)]
    assert MAX_AGENT_RESTARTS == 3
    assert decisions == [AgentExitDecision.RESTART] * 3 + [AgentExitDecision.GIVE_UP] * 2


def test_agent_exit_errors_say_what_happens():
    notice = agent_exited_error(1, 3, "m1")
    assert (notice.code, notice.fatal, notice.message_id) == ("agent_exited", False, "m1")
    assert "during the prompt" in notice.message and "1 of 3" in notice.message
    assert "while idle" in agent_exited_error(2, 3, None).message
    final = agent_gave_up_error(3)
    assert (final.code, final.fatal) == ("agent_exited", True)


def result(exit_code: int | None, timed_out: bool = False, tail: tuple[str, ...] = ()) -> ScriptResult:
    return ScriptResult("setup", exit_code, timed_out, 10, tail)


def test_setup_failure_is_a_warning_and_success_is_silent():
    assert setup_warning(result(0), 300) is None
    warning = setup_warning(result(2), 300)
    assert warning is not None
    assert (warning.code, warning.message) == ("setup_failed", "setup.sh exited with code 2; continuing without it")
    timed_out = setup_warning(result(None, timed_out=True), 300)
    assert timed_out is not None and "did not finish within 300 s" in timed_out.message


def test_start_failure_is_fatal_and_carries_the_last_output():
    assert start_error(ScriptResult("start", 0, False, 5, ()), 120) is None
    error = start_error(ScriptResult("start", 1, False, 5, ("npm ERR! missing script", "exit")), 120)
    assert error is not None
    assert (error.code, error.fatal) == ("start_failed", True)
    assert error.message == "start.sh exited with code 1; last output:\nnpm ERR! missing script\nexit"
    timed_out = start_error(ScriptResult("start", None, True, 5, ()), 120)
    assert timed_out is not None and timed_out.message == "start.sh did not finish within 120 s and was stopped"


def test_exit_codes_are_distinct():
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3]
