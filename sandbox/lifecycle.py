"""The sandbox's lifecycle decisions, as pure functions and plain state.

Nothing here does I/O or awaits: given the state and what just happened, these
say what to do next (run, queue or ignore a prompt; abort or cancel on stop;
restart the agent or give up; what a script's result means and how to tell
people). :mod:`sandbox.supervisor` carries the decisions out. Tested without
mocks in ``tests/sandbox/test_lifecycle.py``.
"""

from __future__ import annotations

import enum
from collections import deque

import openinspect_protocol as protocol

from sandbox.scripts import ScriptResult

# Why 3: one crash is bad luck, two may be a bad prompt, a third in a row means
# the agent cannot run here and the session should fail visibly.
MAX_AGENT_RESTARTS = 3


class ExitCode(enum.IntEnum):
    """How the sandbox process ends; the control plane's backends read these."""

    OK = 0  # shut down on request (shutdown command, SIGTERM, SIGINT)
    FATAL = 1  # a fatal error event was emitted (git sync, start.sh, agent)
    CONFIG = 2  # the environment is incomplete or invalid; nothing was started
    REJECTED = 3  # the control plane refused the bridge (HTTP 401/403/426)


class Offer(enum.Enum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"


class StopAction(enum.Enum):
    ABORT_RUNNING = "abort_running"
    CANCEL_QUEUED = "cancel_queued"
    IGNORE = "ignore"


class PromptBook:
    """Which prompts were seen, which wait, which one runs. One at a time, in arrival order.

    A message id is seen once for the life of the sandbox: the control plane
    re-sends the running prompt after a reconnect, and that copy is ignored.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._queue: deque[protocol.Prompt] = deque()
        self.running: protocol.Prompt | None = None

    @property
    def queued(self) -> tuple[protocol.Prompt, ...]:
        return tuple(self._queue)

    def offer(self, prompt: protocol.Prompt) -> Offer:
        if prompt.message_id in self._seen:
            return Offer.DUPLICATE
        self._seen.add(prompt.message_id)
        self._queue.append(prompt)
        return Offer.QUEUED

    def start_next(self) -> protocol.Prompt | None:
        """The next prompt to run (now marked running), or None when nothing waits or one runs."""
        if self.running is not None or not self._queue:
            return None
        self.running = self._queue.popleft()
        return self.running

    def finish(self) -> None:
        self.running = None

    def stop_action(self, stop: protocol.Stop) -> StopAction:
        """What a ``stop`` means now: abort the running prompt, drop a queued one, or nothing."""
        if self.running is not None and stop.message_id in (None, self.running.message_id):
            return StopAction.ABORT_RUNNING
        if stop.message_id is not None and any(p.message_id == stop.message_id for p in self._queue):
            return StopAction.CANCEL_QUEUED
        return StopAction.IGNORE

    def cancel_queued(self, message_id: str) -> protocol.Prompt | None:
        for prompt in self._queue:
            if prompt.message_id == message_id:
                self._queue.remove(prompt)
                return prompt
        return None


class AgentExitDecision(enum.Enum):
    RESTART = "restart"
    GIVE_UP = "give_up"


def after_agent_exit(restarts_in_a_row: int, max_restarts: int = MAX_AGENT_RESTARTS) -> AgentExitDecision:
    """The agent process died (or a restart failed): try again, unless it already failed too often."""
    return AgentExitDecision.RESTART if restarts_in_a_row < max_restarts else AgentExitDecision.GIVE_UP


def script_failure_reason(result: ScriptResult, timeout_seconds: float) -> str:
    if result.timed_out:
        return f"{result.script}.sh did not finish within {timeout_seconds:g} s and was stopped"
    return f"{result.script}.sh exited with code {result.exit_code}"


def setup_warning(result: ScriptResult, timeout_seconds: float) -> protocol.WarningEvent | None:
    """A failed setup.sh is worth a warning and no more: the agent may still do useful work."""
    if result.ok:
        return None
    reason = script_failure_reason(result, timeout_seconds)
    return protocol.WarningEvent(code="setup_failed", message=f"{reason}; continuing without it")


def start_error(result: ScriptResult, timeout_seconds: float) -> protocol.ErrorEvent | None:
    """A failed start.sh fails the sandbox: whatever it starts, the agent was promised it."""
    if result.ok:
        return None
    message = script_failure_reason(result, timeout_seconds)
    if result.tail:
        message += "; last output:\n" + "\n".join(result.tail)
    return protocol.ErrorEvent(code="start_failed", message=message, fatal=True)


def agent_exited_error(restart_number: int, max_restarts: int, message_id: str | None) -> protocol.ErrorEvent:
    """Told when the agent died and is being restarted (``restart_number`` of ``max_restarts``)."""
    when = "during the prompt" if message_id else "while idle"
    return protocol.ErrorEvent(
        code="agent_exited",
        message=f"the agent process exited {when}; restarting it ({restart_number} of {max_restarts})",
        message_id=message_id,
    )


def agent_gave_up_error(max_restarts: int) -> protocol.ErrorEvent:
    return protocol.ErrorEvent(
        code="agent_exited",
        message=f"the agent process kept exiting; gave up after {max_restarts} restarts in a row",
        fatal=True,
    )
