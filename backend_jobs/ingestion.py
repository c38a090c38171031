"""Stores what bridges send, exactly once and in order.

Idempotency: each sandbox event carries the bridge's sequence number. One
guarded UPDATE claims it (``last_acked_seq = seq WHERE last_acked_seq = seq-1``,
:func:`~openinspect_core.services.sandboxes.claim_sequence`) in the same
transaction that stores the event and applies its effects, so a re-sent event is
recognised as a duplicate, an event after a hole is refused (the bridge
reconnects and re-sends from the hole), and a crash between the two writes
leaves neither. The returned ``ack_seq`` is always "everything up to here is
stored", which is what the bridge may forget.

Pushes and pull requests: a turn that ends with commits not yet on the remote
asks for a ``push`` (``lifecycle.push_after_turn``); ``push_complete`` records
the branch (``session.pushed_sha``, the branch artifact); ``push_error`` stays
on the timeline as the sandbox said it (with anything token-shaped removed);
``pull_request_requested`` is handed back to the caller, which opens the PR
outside this transaction. What to send is returned (:class:`IngestResult`),
never sent from here: the caller sends it once the event is acknowledged.

Secrets, in depth: the sandbox scrubs every event before sending it; each event is
scrubbed here again, whole fields, with that session's values
(:class:`SessionRedactors`: its secrets and the tokens its sandboxes were handed), so a
sandbox that failed to scrub still stores ``[secret:NAME]``, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import openinspect_protocol as p
from openinspect_protocol.events import MAX_SEQ
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import Redactor, scrub_message
from openinspect_protocol.timeline import BridgeRejected
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_jobs import lifecycle
from openinspect_core.db import Database
from openinspect_core.github import pull_records
from openinspect_core.models import ENDED_SANDBOX_STATUSES, Artifact, Message, Sandbox, SandboxStatus, utcnow
from openinspect_core.notify.local import Notifier
from openinspect_core.services import changes, prompts, sandbox_logs, sandboxes, sessions, timeline
from openinspect_core.unit_of_work import UnitOfWork

log = EventLog(__name__)

# Events that change what the dispatcher should do (the rest only extend the timeline).
CONTROL_EVENTS = (p.Ready, p.ExecutionComplete, p.ErrorEvent, p.StageChanged, p.GitSync)
# Events that only extend the timeline: stored with two statements, nothing else read or
# written (a streamed token must be cheap; it is most of what a sandbox sends).
TIMELINE_ONLY = (p.TokenDelta, p.ToolCall, p.ToolResult, p.StepStart, p.StepFinish, p.ScriptOutput,
                 p.ScriptFinished, p.WarningEvent, p.VerifyFinished)
FRAME_PREVIEW_CHARS = 500


@dataclass(frozen=True)
class IngestResult:
    outcome: Literal["stored", "duplicate", "gap"]
    ack_seq: int
    control: bool = False  # the dispatcher should look at the session again
    send: tuple[p.Push, ...] = ()  # commands for the sandbox, once the event is acknowledged
    pull_request: p.PullRequestRequested | None = None  # the agent asked for a PR: open it, then answer


@dataclass
class _After:
    """What follows an event once its transaction has committed."""

    send: list[p.Push] = field(default_factory=list)
    pull_request: p.PullRequestRequested | None = None


SecretsLoader = Callable[[str], Awaitable[Mapping[str, str]]]


class SessionRedactors:
    """Per session, the values its stored events are scrubbed of.

    Filled at each sandbox start (its secrets, its bridge token, its model-proxy key) and when
    the credential broker hands out a git token; values of earlier sandboxes stay (a file the
    agent wrote may still hold one). A session this process never started a sandbox for (a
    Kubernetes sandbox that outlived a restart) gets its secrets from ``load`` on first use.
    """

    def __init__(self, load: SecretsLoader | None = None) -> None:
        self._load = load
        self._redactors: dict[str, Redactor] = {}

    def add(self, session_id: str, values: Mapping[str, str]) -> None:
        self._redactors.setdefault(session_id, Redactor()).update(values)

    async def get(self, session_id: str) -> Redactor:
        redactor = self._redactors.get(session_id)
        if redactor is None:
            redactor = self._redactors[session_id] = Redactor()
            if self._load is not None:
                try:
                    redactor.update(await self._load(session_id))
                except Exception as exc:  # scrubbing in depth must not stop ingestion; the sandbox scrubbed
                    log.warning("ingestion.secrets_unavailable", session_id=session_id, error=str(exc))
        return redactor


class Ingestor:
    def __init__(self, db: Database, notifier: Notifier, redactors: SessionRedactors | None = None) -> None:
        self.db = db
        self.notifier = notifier
        self.redactors = redactors or SessionRedactors()

    async def ingest(self, session_id: str, sandbox_id: str, event: p.SandboxEvent) -> IngestResult:
        """Store one event of ``sandbox_id`` (which the bridge authenticated for ``session_id``)."""
        control = isinstance(event, CONTROL_EVENTS)
        if isinstance(event, p.PushError):  # git's own words may quote a URL; never store a token from one
            event = event.model_copy(update={"message": pull_records.scrub(event.message)})
        event = scrub_message(await self.redactors.get(session_id), event)
        after = _After()
        async with UnitOfWork(self.db, self.notifier) as work:
            claimed, last = await sandboxes.claim_sequence(work.db, sandbox_id, event.seq)
            if not claimed:
                outcome: Literal["duplicate", "gap"] = "duplicate" if event.seq <= last else "gap"
                return IngestResult(outcome, last)
            # A heartbeat is liveness only: kept on the sandbox row (by the claim), not on the timeline;
            # the runtime's own log lines are kept as the session's sandbox log, not on the timeline either.
            if isinstance(event, p.SandboxLog):
                await sandbox_logs.append(work.db, session_id, sandbox_id, event)
            elif isinstance(event, p.ChangesSnapshot):  # kept apart (large); the timeline gets its summary
                await changes.store(work.db, session_id, sandbox_id, event)
                work.changed(session_id, control=False)
            elif not isinstance(event, p.Heartbeat):
                await timeline.append(work.db, session_id, event, sandbox_id=sandbox_id, sandbox_seq=event.seq)
                if not isinstance(event, TIMELINE_ONLY):
                    after = await self._apply(work.db, session_id, sandbox_id, event)
                work.changed(session_id, control=control)
        return IngestResult("stored", event.seq, control, tuple(after.send), after.pull_request)

    async def reject(self, sandbox_id: str, frame: str | bytes, reason: str) -> int | None:
        """Record a frame that cannot be stored. Returns the sequence to acknowledge, if any.

        A refused frame that still carries the next sequence number takes that
        number (so later events are not held up behind it; a re-send of it is
        acknowledged again, so the bridge can forget it); the rejection is stored
        on the sandbox's own session's timeline either way, so nothing vanishes
        silently.
        """
        seq = _sequence_of(frame)
        async with UnitOfWork(self.db, self.notifier) as work:
            sandbox = await work.db.get(Sandbox, sandbox_id)
            if sandbox is None:
                return None
            redactor = await self.redactors.get(sandbox.session_id)
            reason, frame = redactor.scrub(reason), redactor.scrub(frame if isinstance(frame, str) else
                                                                   frame.decode("utf-8", "replace"))
            consumed, ack_seq = None, None
            if seq is not None:
                claimed, last = await sandboxes.claim_sequence(work.db, sandbox_id, seq)
                consumed = seq if claimed else None
                ack_seq = seq if claimed else (last if seq <= last else None)
            await timeline.append(work.db, sandbox.session_id,
                                  BridgeRejected(reason=reason[:FRAME_PREVIEW_CHARS], frame=_preview(frame)),
                                  sandbox_id=sandbox_id if consumed else None, sandbox_seq=consumed)
            work.changed(sandbox.session_id, control=False)  # only the timeline grew: nothing for the dispatcher
        return ack_seq

    async def _apply(self, db: AsyncSession, session_id: str, sandbox_id: str,
                     event: p.StoredSandboxEvent) -> _After:
        """What an event means beyond the timeline: sandbox and prompt state, artifacts, status;
        and what should follow once it is stored."""
        after = _After()
        sandbox = await db.get(Sandbox, sandbox_id)
        assert sandbox is not None
        if sandbox.status in ENDED_SANDBOX_STATUSES:
            # Already declared ended (e.g. its Pod was judged failed) while its bridge still talked:
            # keep what it said on the timeline, but it no longer moves the session or the queue.
            return after
        session = await sessions.get(db, session_id)
        running = await prompts.running_message(db, session.id)
        match event:
            case p.Ready():
                await sandboxes.move(db, sandbox, SandboxStatus.READY, ready_at=utcnow())
            case p.ExecutionComplete(message_id=message_id) if message_id:
                message = await db.get(Message, message_id)
                if message is not None and message.session_id == session.id:
                    status, error = lifecycle.message_outcome(event)
                    log.info("ingestion.execution_complete", session_id=session.id, message_id=message_id,
                             request_id=message.request_id, status=status.value)
                    await prompts.finish(db, message, status, error)
                    if running is not None and running.id == message_id:
                        running = None
                    unpushed = await pull_records.unpushed_commits(db, session.id) if session.work_branch else 0
                    push = lifecycle.push_after_turn(work_branch=session.work_branch, unpushed_commits=unpushed,
                                                     message_id=message_id)
                    if push is not None:
                        after.send.append(push)
            case p.PushComplete(branch=branch, head_sha=head_sha):
                if branch == session.work_branch:
                    await pull_records.record_push(db, session, branch, head_sha)
                else:  # the sandbox pushes only the session's branch; anything else is not ours to record
                    log.warning("ingestion.push_of_another_branch", session_id=session.id, branch=branch[:100])
            case p.PushError(code=code):
                log.warning("ingestion.push_failed", session_id=session.id, sandbox_id=sandbox_id, code=code[:50])
            case p.PullRequestRequested():
                after.pull_request = event
            case p.Artifact(kind=kind, ref=ref, data=data):
                db.add(Artifact(session_id=session.id, message_id=event.message_id, kind=kind, ref=ref,
                                data=data))
            case p.SessionTitle(title=title) if not session.title_from_user:
                session.title = title
                db.add(session)
            case p.ErrorEvent(fatal=True, message=message):
                sandbox.failure_reason = message
                db.add(sandbox)
                # What waited for this sandbox will not run; what is sent from now on waits for the next.
                await prompts.fail_queued(db, session.id, message)
        change = lifecycle.status_for_event(event, prompt_running=running is not None)
        if change is not None and session.status != p.SessionStatus.STOPPED:
            await sessions.set_status(db, session, change.status, change.reason)
        return after


def _sequence_of(frame: str | bytes) -> int | None:
    """The frame's ``seq``, if it is a JSON object with a usable one (whatever else is wrong with it)."""
    try:
        value = json.loads(frame)
    except (ValueError, RecursionError):
        return None
    seq = value.get("seq") if isinstance(value, dict) else None
    usable = isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq <= MAX_SEQ
    return seq if usable else None


def _preview(frame: str | bytes, limit: int = FRAME_PREVIEW_CHARS) -> str:
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    return text if len(text) <= limit else text[:limit] + "…"
