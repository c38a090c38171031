"""REST endpoints for sessions, prompts and events: thin — parse, call a service in a unit of
work, shape the answer. The caller is resolved before any of them runs (``http/authn``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import StreamingResponse
from sqlmodel import select

from openinspect_app.api.cost_routes import with_spend
from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, error_responses
from openinspect_app.api.paging import within_bytes
from openinspect_app.api.schemas import (
    ID_PATTERN,
    CreateSessionIn,
    EventsPage,
    MessageOut,
    PromptIn,
    SandboxLogLineOut,
    SandboxLogOut,
    SessionOut,
)
from openinspect_app.http.authn import still_valid
from openinspect_core.context import AppContext
from openinspect_core.models import Event, Session, User
from openinspect_core.services import prompts, sandbox_logs, sessions, timeline

router = APIRouter(responses=error_responses(*COMMON_ERRORS))

STREAM_KEEPALIVE_SECONDS = 15.0
STREAM_BATCH = 500
MAX_SEQUENCE = 2**31 - 1  # the column is a 32-bit integer

SessionId = Annotated[str, Path(pattern=ID_PATTERN)]
MessageId = Annotated[str, Path(pattern=ID_PATTERN)]
NOT_FOUND = error_responses(404)


@router.get("/health")
async def health(_: System) -> dict[str, str]:
    return {"status": "ok"}


@router.post("/sessions", status_code=201, responses=error_responses(429))
async def create_session(body: CreateSessionIn, system: System, me: Me) -> SessionOut:
    async with system.context.work() as work:
        session = await sessions.create(work.db, repo_url=body.repo_url, creator=me.user, policy=system.sessions,
                                        branch=body.branch, repo=body.repo,
                                        title=body.title, model=body.model, source="api")
        summary = await sessions.summary(work.db, session.id)
        [out] = await with_spend(work.db, [SessionOut.of(summary)], [summary.session],
                                 system.context.settings.session_spend_limit_usd)
        work.changed(session.id)
    return out


@router.get("/sessions")
async def list_sessions(system: System, _: Me, archived: bool = False, limit: int = Query(50, ge=1, le=200),
                        offset: int = Query(0, ge=0, le=MAX_SEQUENCE)) -> list[SessionOut]:
    async with system.context.db.session() as db:
        found = await sessions.list_sessions(db, archived=archived, limit=limit, offset=offset)
        return await with_spend(db, [SessionOut.of(s) for s in found], [s.session for s in found],
                                system.context.settings.session_spend_limit_usd)


@router.get("/sessions/{session_id}", responses=NOT_FOUND)
async def get_session(session_id: SessionId, system: System, _: Me) -> SessionOut:
    async with system.context.db.session() as db:
        summary = await sessions.summary(db, session_id)
        [out] = await with_spend(db, [SessionOut.of(summary)], [summary.session],
                                 system.context.settings.session_spend_limit_usd)
    return out


@router.post("/sessions/{session_id}/prompts", status_code=201,
             responses={200: {"model": MessageOut, "description": "Queued before under this client_request_id"},
                        **error_responses(404, 409, 429)})
async def send_prompt(session_id: SessionId, body: PromptIn, system: System, me: Me, response: Response) -> MessageOut:
    async with system.context.work() as work:
        result = await prompts.enqueue(work.db, session_id=session_id, author=me.user, content=body.content,
                                       client_request_id=body.client_request_id, limits=system.context.limits,
                                       model=body.model)
        message_author = me.user if result.created else await work.db.get(User, result.message.author_id)
        assert message_author is not None
        if result.created:
            work.changed(session_id)
    if not result.created:
        response.status_code = 200  # the same client_request_id again: the prompt queued the first time
    return MessageOut.of(result.message, message_author)


@router.get("/sessions/{session_id}/prompts", responses=NOT_FOUND)
async def list_prompts(session_id: SessionId, system: System, _: Me, unfinished: bool = False) -> list[MessageOut]:
    async with system.context.db.session() as db:
        await sessions.get(db, session_id)
        messages = await prompts.list_for_session(db, session_id, unfinished_only=unfinished)
        authors = {m.author_id: await db.get(User, m.author_id) for m in messages}
    return [MessageOut.of(m, authors[m.author_id]) for m in messages]  # type: ignore[arg-type]


@router.delete("/sessions/{session_id}/prompts/{message_id}", responses=error_responses(404, 409))
async def cancel_prompt(session_id: SessionId, message_id: MessageId, system: System, _: Me) -> MessageOut:
    async with system.context.work() as work:
        message = await prompts.cancel(work.db, session_id, message_id)
        author = await work.db.get(User, message.author_id)
        work.changed(session_id)
    return MessageOut.of(message, author)  # type: ignore[arg-type]


@router.post("/sessions/{session_id}/stop", status_code=202, responses=error_responses(404, 409))
async def stop(session_id: SessionId, system: System, _: Me) -> MessageOut:
    async with system.context.work() as work:
        message = await prompts.request_stop(work.db, session_id)
        author = await work.db.get(User, message.author_id)
        work.changed(session_id)
    return MessageOut.of(message, author)  # type: ignore[arg-type]


@router.get("/sessions/{session_id}/events", responses=NOT_FOUND)
async def list_events(session_id: SessionId, system: System, _: Me, after: int = Query(0, ge=0, le=MAX_SEQUENCE),
                      limit: int = Query(timeline.MAX_PAGE, ge=1, le=timeline.MAX_PAGE)) -> EventsPage:
    """Stored events after ``after``, oldest first: at most ``limit``, and at most
    OPENINSPECT_MAX_PAGE_BYTES of them (at least one); ``has_more`` says whether to ask again."""
    async with system.context.db.session() as db:
        session = await sessions.get(db, session_id)
        events = await timeline.after(db, session_id, after, limit, max_bytes=system.policy.max_page_bytes)
    # The database's cut is by its estimate of each row; this one is by the JSON actually sent.
    page = [out for out, _ in within_bytes(events, system.policy.max_page_bytes)]
    next_after = page[-1].sequence if page else after
    return EventsPage(events=page, next_after=next_after, has_more=next_after < session.last_event_seq)


@router.get("/sessions/{session_id}/sandbox-log", responses=NOT_FOUND)
async def sandbox_log(session_id: SessionId, system: System, _: Me,
                      tail: int = Query(200, ge=1, le=sandbox_logs.MAX_TAIL)) -> SandboxLogOut:
    """The newest ``tail`` lines of the session's sandbox runtime log (every sandbox it had, the ended ones
    too), oldest first: who may read the session's events may read these."""
    async with system.context.db.session() as db:
        await sessions.get(db, session_id)
        rows = await sandbox_logs.tail(db, session_id, tail)
    return SandboxLogOut(lines=[SandboxLogLineOut.of(row) for row in rows])


@router.get("/sessions/{session_id}/events/stream", responses={
    **NOT_FOUND, 200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}})
async def stream_events(session_id: SessionId, system: System, me: Me, after: int = Query(0, ge=0, le=MAX_SEQUENCE),
                        last_event_id: Annotated[int | None, Header(ge=0, le=MAX_SEQUENCE)] = None,
                        ) -> StreamingResponse:
    """Server-sent events: every event after ``after`` (or Last-Event-ID), then the live stream.
    The stream ends when the credential it was opened with stops working (signed out, revoked)."""
    ctx = system.context
    async with ctx.db.session() as db:
        await sessions.get(db, session_id)
    start = last_event_id if last_event_id is not None else after

    async def credential_works() -> bool:
        return await still_valid(ctx, me)

    return StreamingResponse(_sse(ctx, session_id, start, system.policy.max_page_bytes, credential_works),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _sse(ctx: AppContext, session_id: str, after: int, max_bytes: int,
               credential_works: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    # Subscribe before the first read: a change between the read and the wait is not missed.
    async with ctx.notifier.subscribe(session_id) as subscription:
        while True:
            # Shielded: a client that leaves cancels this generator, and a read cancelled
            # halfway would abandon its database connection mid-query.
            events, last_stored = await asyncio.shield(_read_after(ctx, session_id, after, max_bytes))
            for out, payload in within_bytes(events, max_bytes):
                yield f"id: {out.sequence}\nevent: {out.type}\ndata: {payload}\n\n"
                after = out.sequence
            if after < last_stored:
                continue  # the batch was cut (by count or bytes): more is stored already
            # Read again after a notification, and after every quiet interval too: a
            # notification from another process can be lost (it is a hint, not data).
            if not await subscription.wait(STREAM_KEEPALIVE_SECONDS):
                if not await asyncio.shield(credential_works()):
                    return
                yield ": keepalive\n\n"


async def _read_after(ctx: AppContext, session_id: str, after: int, max_bytes: int) -> tuple[list[Event], int]:
    """The next batch, and the session's last stored sequence (read after it, so never behind it)."""
    async with ctx.db.session() as db:
        events = await timeline.after(db, session_id, after, STREAM_BATCH, max_bytes=max_bytes)
        last = (await db.exec(select(Session.last_event_seq).where(Session.id == session_id))).first()
    return events, last or 0
