"""REST endpoints: thin — parse, call a service in a unit of work, shape the answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_app.api.schemas import (
    AuthorIn,
    CreateSessionIn,
    EventOut,
    EventsPage,
    MessageOut,
    PromptIn,
    SessionOut,
)
from openinspect_core.context import AppContext
from openinspect_core.models import Event, User
from openinspect_core.services import prompts, sessions, timeline, users

router = APIRouter()

MAX_BODY_BYTES = 1024 * 1024  # a 64,000-character prompt is at most 256 KB of UTF-8
STREAM_KEEPALIVE_SECONDS = 15.0
STREAM_BATCH = 500


def context(request: Request) -> AppContext:
    ctx: AppContext | None = request.app.state.context
    if ctx is None:
        raise HTTPException(503, "the system is starting; try again shortly")
    return ctx


def body_size_guard(content_length: Annotated[int | None, Header()] = None) -> None:
    if content_length is not None and content_length > MAX_BODY_BYTES:
        raise HTTPException(413, f"request body over {MAX_BODY_BYTES} bytes")


Ctx = Annotated[AppContext, Depends(context)]


async def _author(db: AsyncSession, ctx: AppContext, given: AuthorIn | None) -> User:
    # Embedded default: no sign-in yet, so a prompt names its author or gets the local default.
    if given is None:
        return await users.get_or_create(db, ctx.settings.default_author_name, ctx.settings.default_author_email)
    return await users.get_or_create(db, given.name, given.email)


@router.get("/health")
async def health(ctx: Ctx) -> dict[str, str]:
    return {"status": "ok"}


@router.post("/sessions", status_code=201, dependencies=[Depends(body_size_guard)])
async def create_session(body: CreateSessionIn, ctx: Ctx) -> SessionOut:
    async with ctx.work() as work:
        creator = await _author(work.db, ctx, body.author)
        session = await sessions.create(work.db, repo_url=body.repo_url, creator=creator, branch=body.branch,
                                        title=body.title, model=body.model)
        summary = await sessions.summary(work.db, session.id)
        work.changed(session.id)
    return SessionOut.of(summary)


@router.get("/sessions")
async def list_sessions(ctx: Ctx, archived: bool = False, limit: int = Query(50, ge=1, le=200),
                        offset: int = Query(0, ge=0)) -> list[SessionOut]:
    async with ctx.db.session() as db:
        return [SessionOut.of(s) for s in await sessions.list_sessions(db, archived=archived, limit=limit,
                                                                        offset=offset)]


@router.get("/sessions/{session_id}")
async def get_session(session_id: str, ctx: Ctx) -> SessionOut:
    async with ctx.db.session() as db:
        return SessionOut.of(await sessions.summary(db, session_id))


@router.post("/sessions/{session_id}/prompts", status_code=201, dependencies=[Depends(body_size_guard)])
async def send_prompt(session_id: str, body: PromptIn, ctx: Ctx, response: Response) -> MessageOut:
    async with ctx.work() as work:
        author = await _author(work.db, ctx, body.author)
        result = await prompts.enqueue(work.db, session_id=session_id, author=author, content=body.content,
                                       client_request_id=body.client_request_id, limits=ctx.limits,
                                       model=body.model)
        message_author = author if result.created else await work.db.get(User, result.message.author_id)
        assert message_author is not None
        if result.created:
            work.changed(session_id)
    if not result.created:
        response.status_code = 200  # the same client_request_id again: the prompt queued the first time
    return MessageOut.of(result.message, message_author)


@router.get("/sessions/{session_id}/prompts")
async def list_prompts(session_id: str, ctx: Ctx, unfinished: bool = False) -> list[MessageOut]:
    async with ctx.db.session() as db:
        await sessions.get(db, session_id)
        messages = await prompts.list_for_session(db, session_id, unfinished_only=unfinished)
        authors = {m.author_id: await db.get(User, m.author_id) for m in messages}
    return [MessageOut.of(m, authors[m.author_id]) for m in messages]  # type: ignore[arg-type]


@router.delete("/sessions/{session_id}/prompts/{message_id}")
async def cancel_prompt(session_id: str, message_id: str, ctx: Ctx) -> MessageOut:
    async with ctx.work() as work:
        message = await prompts.cancel(work.db, session_id, message_id)
        author = await work.db.get(User, message.author_id)
        work.changed(session_id)
    return MessageOut.of(message, author)  # type: ignore[arg-type]


@router.post("/sessions/{session_id}/stop", status_code=202)
async def stop(session_id: str, ctx: Ctx) -> MessageOut:
    async with ctx.work() as work:
        message = await prompts.request_stop(work.db, session_id)
        author = await work.db.get(User, message.author_id)
        work.changed(session_id)
    return MessageOut.of(message, author)  # type: ignore[arg-type]


@router.get("/sessions/{session_id}/events")
async def list_events(session_id: str, ctx: Ctx, after: int = Query(0, ge=0),
                      limit: int = Query(timeline.MAX_PAGE, ge=1, le=timeline.MAX_PAGE)) -> EventsPage:
    async with ctx.db.session() as db:
        session = await sessions.get(db, session_id)
        events = await timeline.after(db, session_id, after, limit)
    next_after = events[-1].sequence if events else after
    return EventsPage(events=[EventOut.of(e) for e in events], next_after=next_after,
                      has_more=next_after < session.last_event_seq)


@router.get("/sessions/{session_id}/events/stream")
async def stream_events(session_id: str, ctx: Ctx, after: int = Query(0, ge=0),
                        last_event_id: Annotated[int | None, Header()] = None) -> StreamingResponse:
    """Server-sent events: every event after ``after`` (or Last-Event-ID), then the live stream."""
    async with ctx.db.session() as db:
        await sessions.get(db, session_id)
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(_sse(ctx, session_id, start), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _sse(ctx: AppContext, session_id: str, after: int) -> AsyncIterator[str]:
    # Subscribe before the first read: a change between the read and the wait is not missed.
    async with ctx.notifier.subscribe(session_id) as subscription:
        while True:
            # Shielded: a client that leaves cancels this generator, and a read cancelled
            # halfway would abandon its database connection mid-query.
            events = await asyncio.shield(_read_after(ctx, session_id, after))
            for event in events:
                payload = json.dumps(EventOut.of(event).model_dump(mode="json"), separators=(",", ":"))
                yield f"id: {event.sequence}\nevent: {event.type}\ndata: {payload}\n\n"
                after = event.sequence
            if len(events) == STREAM_BATCH:
                continue
            # Read again after a notification, and after every quiet interval too: a
            # notification from another process can be lost (it is a hint, not data).
            if not await subscription.wait(STREAM_KEEPALIVE_SECONDS):
                yield ": keepalive\n\n"


async def _read_after(ctx: AppContext, session_id: str, after: int) -> list[Event]:
    async with ctx.db.session() as db:
        return await timeline.after(db, session_id, after, STREAM_BATCH)
