"""The prompt queue: one FIFO per session, one prompt running at a time.

The rows are the queue; the background dispatcher takes the oldest queued one
when the sandbox is free. Every status change is a guarded UPDATE ("... WHERE
status = 'queued'"), so a cancel racing a dispatch has exactly one winner.
"""

from __future__ import annotations

from dataclasses import dataclass

from openinspect_protocol import logs
from openinspect_protocol.status import UNFINISHED_MESSAGE_STATUSES, MessageStatus
from openinspect_protocol.timeline import (
    PromptAuthor,
    PromptCancelled,
    PromptFinished,
    PromptQueued,
    PromptStarted,
    StopRequested,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Message, User, utcnow
from openinspect_core.services import sessions, spend, timeline, transitions
from openinspect_core.services.errors import Conflict, InvalidInput, LimitReached, NotFound, TooLarge

log = logs.EventLog(__name__)

MAX_CLIENT_REQUEST_ID_CHARS = 200  # the columns' lengths: a longer value is refused here, never by the database
MAX_MODEL_CHARS = 200
MAX_SOURCE_CHARS = 16


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_pending_prompts: int


@dataclass(frozen=True)
class Enqueued:
    message: Message
    created: bool  # False: the client_request_id was seen before; nothing new was queued


def author_payload(user: User) -> PromptAuthor:
    return PromptAuthor(id=user.id, name=user.name, email=user.email)


async def enqueue(
    db: AsyncSession,
    *,
    session_id: str,
    author: User,
    content: str,
    client_request_id: str,
    limits: Limits,
    source: str = "api",
    model: str | None = None,
) -> Enqueued:
    if not client_request_id or len(client_request_id) > MAX_CLIENT_REQUEST_ID_CHARS:
        raise InvalidInput(
            f"client_request_id must be 1..{MAX_CLIENT_REQUEST_ID_CHARS} characters",
            code="invalid_client_request_id",
        )
    if len(content) > limits.max_prompt_chars:
        raise TooLarge(
            f"the prompt has {len(content)} characters; the limit is {limits.max_prompt_chars}",
            code="prompt_too_long",
        )
    if not content.strip():
        raise InvalidInput("the prompt is empty", code="empty_prompt")
    if "\x00" in content or "\x00" in client_request_id:
        raise InvalidInput("the prompt must not contain NUL characters", code="invalid_prompt")
    model = (model or "").strip() or None
    if model is not None and len(model) > MAX_MODEL_CHARS:
        raise InvalidInput(f"model is longer than {MAX_MODEL_CHARS} characters", code="model_too_long")
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidInput(f"source is longer than {MAX_SOURCE_CHARS} characters", code="invalid_source")
    session = await sessions.get_active(db, session_id)

    existing = await _by_request_id(db, session_id, client_request_id)
    if existing is not None:
        return Enqueued(existing, created=False)
    pending = await count_unfinished(db, session_id)
    if pending >= limits.max_pending_prompts:
        raise LimitReached(
            f"the session already has {pending} unfinished prompts (limit {limits.max_pending_prompts})",
            code="queue_full",
        )
    message = Message(
        session_id=session.id,
        author_id=author.id,
        content=content,
        source=source,
        client_request_id=client_request_id,
        model=model,
        # The request being served (bound by the HTTP middleware or the Reflex gate): the worker's
        # dispatch and the sandbox's turn log it, so the prompt can be followed by it.
        request_id=logs.bound().get("request_id"),
    )
    try:
        async with db.begin_nested():
            db.add(message)
    except IntegrityError:  # the same client_request_id, sent twice at once
        existing = await _by_request_id(db, session_id, client_request_id)
        assert existing is not None
        return Enqueued(existing, created=False)
    await timeline.append(db, session.id, PromptQueued(message_id=message.id, author=author_payload(author),
                                                       content=content, source=source, position=pending + 1))
    log.info("prompts.queued", session_id=session.id, message_id=message.id, source=source, position=pending + 1)
    return Enqueued(message, created=True)


async def _by_request_id(db: AsyncSession, session_id: str, client_request_id: str) -> Message | None:
    return (
        await db.exec(
            select(Message).where(
                Message.session_id == session_id, Message.client_request_id == client_request_id
            )
        )
    ).first()


async def count_unfinished(db: AsyncSession, session_id: str) -> int:
    return (
        await db.exec(
            select(func.count()).where(
                Message.session_id == session_id, col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES)
            )
        )
    ).one()


async def get(db: AsyncSession, session_id: str, message_id: str) -> Message:
    message = await db.get(Message, message_id)
    if message is None or message.session_id != session_id:
        raise NotFound(f"no prompt {message_id!r} in session {session_id!r}", code="prompt_not_found")
    return message


async def list_for_session(db: AsyncSession, session_id: str, *, unfinished_only: bool = False) -> list[Message]:
    query = select(Message).where(Message.session_id == session_id)
    if unfinished_only:
        query = query.where(col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES))
    rows = await db.exec(query.order_by(col(Message.created_at), col(Message.id)))
    return list(rows.all())


async def cancel(db: AsyncSession, session_id: str, message_id: str) -> Message:
    """Cancel a prompt that has not started; a running one must be stopped instead."""
    message = await get(db, session_id, message_id)
    changed = await _transition(db, message, MessageStatus.QUEUED, MessageStatus.CANCELLED)
    if not changed:
        await db.refresh(message)
        raise Conflict(
            f"the prompt is {message.status}, only a queued prompt can be cancelled", code="not_queued"
        )
    await timeline.append(db, session_id, PromptCancelled(message_id=message.id))
    return message


async def request_stop(db: AsyncSession, session_id: str) -> Message:
    """Ask for the running prompt to be aborted; the dispatcher delivers the stop."""
    await sessions.get(db, session_id)
    running = await running_message(db, session_id)
    if running is None:
        raise Conflict("no prompt is running in this session", code="not_running")
    if running.stop_requested_at is None:
        running.stop_requested_at = utcnow()
        db.add(running)
        await timeline.append(db, session_id, StopRequested(message_id=running.id))
    return running


async def running_message(db: AsyncSession, session_id: str) -> Message | None:
    return (
        await db.exec(select(Message).where(Message.session_id == session_id, Message.status == MessageStatus.RUNNING))
    ).first()


async def oldest_queued(db: AsyncSession, session_id: str) -> Message | None:
    return (
        await db.exec(
            select(Message)
            .where(Message.session_id == session_id, Message.status == MessageStatus.QUEUED)
            .order_by(col(Message.created_at), col(Message.id))
            .limit(1)
        )
    ).first()


async def start(db: AsyncSession, message: Message, sandbox_id: str) -> bool:
    """queued -> running; False when somebody cancelled it first."""
    if not await _transition(db, message, MessageStatus.QUEUED, MessageStatus.RUNNING, sandbox_id=sandbox_id,
                             started_at=utcnow()):
        return False
    await timeline.append(db, message.session_id, PromptStarted(message_id=message.id))
    return True


async def finish(db: AsyncSession, message: Message, status: MessageStatus, error: str | None = None) -> bool:
    """running (or queued, when the sandbox died first) -> a finished status."""
    assert status.finished
    changed = False
    for before in UNFINISHED_MESSAGE_STATUSES:
        if await _transition(db, message, before, status, error=error, finished_at=utcnow()):
            changed = True
            break
    if changed:
        # What its model calls cost (the proxy records each call before its answer ends, so all are in).
        used = await spend.of_prompt(db, message.id) if message.started_at else None
        usage = spend.turn_usage(used) if used is not None and used.calls else None
        await timeline.append(db, message.session_id, PromptFinished(message_id=message.id, status=status, error=error,
                                                                     usage=usage))
    return changed


async def fail_queued(db: AsyncSession, session_id: str, reason: str) -> int:
    """End every waiting prompt (its sandbox cannot come); returns how many."""
    queued = (await db.exec(select(Message).where(Message.session_id == session_id,
                                                  Message.status == MessageStatus.QUEUED))).all()
    for message in queued:
        await finish(db, message, MessageStatus.FAILED, f"not run: {reason}")
    return len(queued)


async def _transition(db: AsyncSession, message: Message, before: MessageStatus, after: MessageStatus,
                      **values: object) -> bool:
    return await transitions.move(db, message, (before,), after, **values)
