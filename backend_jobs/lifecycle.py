"""Pure lifecycle decisions: (state, event) -> what should happen.

Nothing here touches a database, a socket or a process; the dispatcher,
ingestion and supervision modules carry the decisions out. Tested without mocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import openinspect_protocol as p
from openinspect_protocol.status import MessageStatus, SessionStatus

from openinspect_core import costs

# --------------------------------------------------------------------------
# Session status
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    status: SessionStatus
    reason: str | None = None


def status_for_event(event: p.SandboxEvent, *, prompt_running: bool) -> StatusChange | None:
    """The session status a sandbox event implies, if any."""
    match event:
        case p.StageChanged(stage=stage):
            return StatusChange(SessionStatus(stage))
        case p.Ready():
            return StatusChange(SessionStatus.RUNNING if prompt_running else SessionStatus.READY)
        case p.ErrorEvent(fatal=True, message=message):
            return StatusChange(SessionStatus.FAILED, message)
        case p.ExecutionComplete():
            return StatusChange(SessionStatus.IDLE)
    return None


def message_outcome(event: p.ExecutionComplete) -> tuple[MessageStatus, str | None]:
    """The finished status of a prompt and its error text."""
    if event.stopped:
        return MessageStatus.STOPPED, None
    if event.success:
        return MessageStatus.COMPLETED, None
    return MessageStatus.FAILED, event.error or "the agent reported a failure"


def status_for_exit(*, requested: bool, failure: str | None, exit_reason: str) -> StatusChange:
    """What a sandbox's end means for its session.

    ``failure`` is the fatal reason the sandbox reported before it ended (more
    precise than its exit code), when it reported one.
    """
    if requested:
        return StatusChange(SessionStatus.STOPPED, None)
    return StatusChange(SessionStatus.FAILED, failure or exit_reason)


def is_stale(*, seconds_since_contact: float, stale_seconds: float) -> bool:
    """A live sandbox silent for too long is declared failed.

    The bridge connects before the clone and heartbeats through setup, so the
    same limit holds from the first second (counted from creation until the
    first frame arrives).
    """
    return seconds_since_contact > stale_seconds


def is_idle(*, sandbox_ready: bool, has_work: bool, seconds_since_activity: float,
            idle_timeout_seconds: float) -> bool:
    """A ready sandbox with nothing queued and nothing happening for a while is stopped.

    Its session keeps everything; the next prompt starts a new sandbox (which,
    on a backend with a persistent workspace, continues in the same files).
    """
    return sandbox_ready and not has_work and idle_timeout_seconds > 0 and (
        seconds_since_activity > idle_timeout_seconds)


# Why 3 in 5 minutes: a sandbox that fails that fast and that often fails for a
# reason a retry will not fix (bad image, quota, broken start script).
BREAKER_FAILURES = 3
BREAKER_WINDOW_SECONDS = 300.0


def breaker_open(failure_ages_seconds: list[float], *, threshold: int = BREAKER_FAILURES,
                 window_seconds: float = BREAKER_WINDOW_SECONDS) -> bool:
    """Stop starting sandboxes for a session whose recent ones keep failing."""
    return sum(1 for age in failure_ages_seconds if age <= window_seconds) >= threshold


# --------------------------------------------------------------------------
# Dispatch: what the background manager should do for one session now
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxSlots:
    """Sandboxes alive now (spawning to stopping), overall and of the session's owner, and the limits."""

    alive: int = 0
    limit: int = 1
    owner_alive: int = 0
    owner_limit: int = 1


def slot_refusal(slots: SandboxSlots) -> str | None:
    """Why no sandbox may start now (a limit is reached), or None when one may."""
    if slots.alive >= slots.limit:
        return (f"waiting for a sandbox: {slots.alive} of {slots.limit} are in use (OPENINSPECT_MAX_SANDBOXES); "
                "this one starts when another ends")
    if slots.owner_alive >= slots.owner_limit:
        return (f"waiting for a sandbox: this session's owner has {slots.owner_alive} of {slots.owner_limit} "
                "running (OPENINSPECT_MAX_SANDBOXES_PER_USER); this one starts when one of them ends")
    return None


@dataclass(frozen=True)
class SessionView:
    archived: bool
    has_live_sandbox: bool
    sandbox_ready: bool  # the live sandbox reported ready and its bridge is connected
    ever_had_sandbox: bool
    warm_requested: bool  # someone started typing since the last sandbox began
    breaker_open: bool  # too many recent sandbox failures: do not start another one
    running_message_id: str | None
    stop_pending: bool  # a stop was requested for the running prompt and not yet sent
    oldest_queued_id: str | None
    slots: SandboxSlots = SandboxSlots()  # only read when a sandbox is wanted
    # Why the session may not spend more (its limit is reached), or None; and whether its queue is already
    # marked as held by it (the reason said once on the timeline).
    spend_refusal: str | None = None
    spend_held: bool = False


@dataclass(frozen=True)
class Spawn:
    pass


@dataclass(frozen=True)
class Dispatch:
    message_id: str


@dataclass(frozen=True)
class SendStop:
    message_id: str


@dataclass(frozen=True)
class Shutdown:
    reason: str


@dataclass(frozen=True)
class RefuseSpawn:
    """A sandbox is wanted but the circuit breaker is open: fail the waiting prompts instead."""


@dataclass(frozen=True)
class WaitForSlot:
    """A sandbox is wanted but a limit on sandboxes is reached: say why, start it when a slot frees."""

    reason: str


@dataclass(frozen=True)
class HoldForSpend:
    """The spend limit is reached and prompts wait: mark the queue held and say why (once)."""

    reason: str


@dataclass(frozen=True)
class ReleaseSpendHold:
    """The queue was held by the limit and no longer is (raised, or nothing waits): clear the mark."""


Action = Spawn | Dispatch | SendStop | Shutdown | RefuseSpawn | WaitForSlot | HoldForSpend | ReleaseSpendHold


def decide(view: SessionView) -> list[Action]:
    if view.archived:
        return [Shutdown("session archived")] if view.has_live_sandbox else []
    # The limit never stops a running turn (it finishes, its cost counted); it keeps the next from starting.
    held = view.spend_refusal is not None and view.oldest_queued_id is not None and view.running_message_id is None
    spending: list[Action] = []
    if held and not view.spend_held:
        assert view.spend_refusal is not None
        spending.append(HoldForSpend(view.spend_refusal))
    elif view.spend_held and not held and view.running_message_id is None:
        spending.append(ReleaseSpendHold())
    if not view.has_live_sandbox:
        # A new session warms its sandbox at once; later ones start on demand: a
        # prompt (unless the limit holds it), or someone typing one.
        wanted = (view.oldest_queued_id is not None and not held) or not view.ever_had_sandbox or view.warm_requested
        if not wanted:
            return spending
        if view.breaker_open:
            return [RefuseSpawn()]
        refusal = slot_refusal(view.slots)
        return [WaitForSlot(refusal), *spending] if refusal is not None else [Spawn(), *spending]
    actions: list[Action] = []
    if view.sandbox_ready:
        if view.running_message_id is not None and view.stop_pending:
            actions.append(SendStop(view.running_message_id))
        if view.running_message_id is None and view.oldest_queued_id is not None and not held:
            actions.append(Dispatch(view.oldest_queued_id))
    return [*actions, *spending]


def for_this_process(actions: list[Action], *, leader: bool) -> list[Action]:
    """With several workers, the one holding the sandbox's bridge delivers its commands, and the
    leader alone takes every other decision (so a sandbox is started or stopped once)."""
    return actions if leader else [a for a in actions if isinstance(a, Dispatch | SendStop)]


def spend_refusal(*, spent_usd: float, limit_usd: float | None) -> str | None:
    """Why the session may not start another turn (its spend limit is reached), or None."""
    if not costs.limit_reached(spent_usd, limit_usd):
        return None
    return (f"spend limit reached: this session has spent {costs.usd(spent_usd)} of its {costs.usd(limit_usd or 0)} "
            "limit; queued prompts wait until someone raises it")


# --------------------------------------------------------------------------
# Pushing the session's branch
# --------------------------------------------------------------------------


def push_after_turn(*, work_branch: str | None, unpushed_commits: int, message_id: str | None) -> p.Push | None:
    """The push to ask for when a turn ends, or None.

    ``unpushed_commits`` counts the commits the sandbox reported since the branch
    was last pushed (this turn's, and those of a turn whose push failed or was
    lost), so a failed push is retried after the next turn rather than forgotten.
    A session without its own branch (a local repository) is never pushed.
    A stopped or failed turn is pushed too: its commits are work that should
    outlive the sandbox.
    """
    if not work_branch or unpushed_commits <= 0:
        return None
    return p.Push(branch=work_branch, message_id=message_id)
