"""The prompt queue on a real database (SQLite and PostgreSQL): guarded transitions and their timeline."""

from __future__ import annotations

import pytest
from openinspect_protocol.status import MessageStatus
from openinspect_protocol.timeline import (
    PromptAuthor,
    PromptCancelled,
    PromptFinished,
    PromptQueued,
    PromptStarted,
    StopRequested,
)

from openinspect_core.db import Database
from openinspect_core.models import Message
from openinspect_core.services import prompts, sessions
from openinspect_core.services.errors import Conflict, InvalidInput, LimitReached, NotFound, ServiceError, TooLarge
from tests.openinspect_core.services.seed import Seeded, seed, timeline_of, types_of

LIMITS = prompts.Limits(max_prompt_chars=50, max_pending_prompts=3)


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def enqueue(database: Database, seeded: Seeded, request_id: str = "r1", content: str = "fix the bug",
                  limits: prompts.Limits = LIMITS) -> prompts.Enqueued:
    async with database.session() as db:
        result = await prompts.enqueue(db, session_id=seeded.session_id, author=seeded.user, content=content,
                                       client_request_id=request_id, limits=limits)
        await db.commit()
        return result


async def load(database: Database, message_id: str) -> Message:
    async with database.session() as db:
        message = await db.get(Message, message_id)
        assert message is not None
        return message


async def start(database: Database, message_id: str, sandbox_id: str = "sb1") -> bool:
    async with database.session() as db:
        message = await db.get(Message, message_id)
        assert message is not None
        started = await prompts.start(db, message, sandbox_id)
        await db.commit()
        return started


async def finish(database: Database, message_id: str, status: MessageStatus, error: str | None = None) -> bool:
    async with database.session() as db:
        message = await db.get(Message, message_id)
        assert message is not None
        finished = await prompts.finish(db, message, status, error)
        await db.commit()
        return finished


async def prompt_events(database: Database, session_id: str) -> list[object]:
    return [e for e in await timeline_of(database, session_id) if e.type != "session_status"]


# ------------------------------------------------------------------ enqueue


async def test_enqueue_queues_the_prompt_and_says_where_it_stands(database: Database, seeded: Seeded) -> None:
    first = await enqueue(database, seeded, "r1", "fix the bug")
    second = await enqueue(database, seeded, "r2", "then the docs")
    assert first.created and second.created
    assert (first.message.status, first.message.content, first.message.source) == ("queued", "fix the bug", "api")
    author = PromptAuthor(id=seeded.user.id, name="Ada", email="ada@example.com")
    assert await prompt_events(database, seeded.session_id) == [
        PromptQueued(message_id=first.message.id, author=author, content="fix the bug", source="api", position=1),
        PromptQueued(message_id=second.message.id, author=author, content="then the docs", source="api",
                     position=2),
    ]
    async with database.session() as db:
        assert (await prompts.oldest_queued(db, seeded.session_id)).id == first.message.id  # type: ignore[union-attr]
        assert await prompts.count_unfinished(db, seeded.session_id) == 2


async def test_the_same_client_request_id_queues_once(database: Database, seeded: Seeded) -> None:
    first = await enqueue(database, seeded, "r1", "fix the bug")
    again = await enqueue(database, seeded, "r1", "a retry may even differ")
    assert (again.created, again.message.id, again.message.content) == (False, first.message.id, "fix the bug")
    assert await types_of(database, seeded.session_id) == ["session_status", "prompt_queued"]


async def test_a_retry_is_answered_even_when_the_queue_is_full(database: Database, seeded: Seeded) -> None:
    full = prompts.Limits(max_prompt_chars=50, max_pending_prompts=1)
    first = await enqueue(database, seeded, "r1", limits=full)
    assert (await enqueue(database, seeded, "r1", limits=full)).message.id == first.message.id
    with pytest.raises(LimitReached) as refused:
        await enqueue(database, seeded, "r2", limits=full)
    assert refused.value.code == "queue_full"


async def test_the_queue_counts_unfinished_prompts_only(database: Database, seeded: Seeded) -> None:
    ids = [(await enqueue(database, seeded, f"r{n}")).message.id for n in range(3)]
    with pytest.raises(LimitReached):
        await enqueue(database, seeded, "r3")
    async with database.session() as db:
        await prompts.cancel(db, seeded.session_id, ids[0])
        await db.commit()
    assert (await enqueue(database, seeded, "r3")).created
    assert await start(database, ids[1])  # running still counts
    with pytest.raises(LimitReached):
        await enqueue(database, seeded, "r4")


@pytest.mark.parametrize(
    ("request_id", "content", "error", "code"),
    [
        ("", "fix it", InvalidInput, "invalid_client_request_id"),
        ("x" * 201, "fix it", InvalidInput, "invalid_client_request_id"),
        ("r1", "x" * 51, TooLarge, "prompt_too_long"),
        ("r1", "", InvalidInput, "empty_prompt"),
        ("r1", " \n\t ", InvalidInput, "empty_prompt"),
        ("r1", "fix\x00it", InvalidInput, "invalid_prompt"),  # PostgreSQL's text cannot hold NUL
        ("r\x001", "fix it", InvalidInput, "invalid_prompt"),
    ],
)
async def test_bad_prompts_are_refused_and_nothing_is_queued(
        database: Database, seeded: Seeded, request_id: str, content: str, error: type[ServiceError],
        code: str) -> None:
    with pytest.raises(error) as refused:
        await enqueue(database, seeded, request_id, content)
    assert refused.value.code == code
    assert await types_of(database, seeded.session_id) == ["session_status"]


async def test_the_limits_are_inclusive(database: Database, seeded: Seeded) -> None:
    assert (await enqueue(database, seeded, "x" * 200, "y" * 50)).created


async def test_a_model_longer_than_its_column_is_refused(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        with pytest.raises(InvalidInput) as refused:
            await prompts.enqueue(db, session_id=seeded.session_id, author=seeded.user, content="hi",
                                  client_request_id="r1", limits=LIMITS, model="p/" + "m" * 199)
        stored = await prompts.enqueue(db, session_id=seeded.session_id, author=seeded.user, content="hi",
                                       client_request_id="r2", limits=LIMITS, model="p/" + "m" * 198)
        await db.commit()
    assert refused.value.code == "model_too_long" and len(stored.message.model or "") == 200


async def test_an_archived_session_takes_no_prompts(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        await sessions.archive(db, seeded.session_id)
        await db.commit()
    with pytest.raises(Conflict) as refused:
        await enqueue(database, seeded)
    assert refused.value.code == "session_archived"


# ------------------------------------------------------------------- cancel


async def test_only_a_queued_prompt_can_be_cancelled(database: Database, seeded: Seeded) -> None:
    queued = (await enqueue(database, seeded, "r1")).message
    running = (await enqueue(database, seeded, "r2")).message
    assert await start(database, running.id)
    async with database.session() as db:
        cancelled = await prompts.cancel(db, seeded.session_id, queued.id)
        await db.commit()
    assert cancelled.status == MessageStatus.CANCELLED
    for message_id in (queued.id, running.id):
        async with database.session() as db:
            with pytest.raises(Conflict) as refused:
                await prompts.cancel(db, seeded.session_id, message_id)
        assert refused.value.code == "not_queued"
    assert (await load(database, running.id)).status == MessageStatus.RUNNING
    assert [e for e in await prompt_events(database, seeded.session_id) if isinstance(e, PromptCancelled)] == [
        PromptCancelled(message_id=queued.id)]


async def test_a_prompt_of_another_session_is_not_found(database: Database, seeded: Seeded) -> None:
    message = (await enqueue(database, seeded)).message
    other = await seed(database, repo_url="/tmp/other")
    for session_id, message_id in ((other.session_id, message.id), (seeded.session_id, "nope")):
        async with database.session() as db:
            with pytest.raises(NotFound) as refused:
                await prompts.cancel(db, session_id, message_id)
        assert refused.value.code == "prompt_not_found"


# ------------------------------------------------------------ start, finish


async def test_start_moves_a_queued_prompt_once(database: Database, seeded: Seeded) -> None:
    message = (await enqueue(database, seeded)).message
    assert await start(database, message.id, "sb1")
    assert not await start(database, message.id, "sb2")
    stored = await load(database, message.id)
    assert (stored.status, stored.sandbox_id, stored.started_at is not None) == (MessageStatus.RUNNING, "sb1", True)
    assert [e for e in await prompt_events(database, seeded.session_id) if isinstance(e, PromptStarted)] == [
        PromptStarted(message_id=message.id)]
    async with database.session() as db:
        assert (await prompts.running_message(db, seeded.session_id)).id == message.id  # type: ignore[union-attr]
        assert await prompts.oldest_queued(db, seeded.session_id) is None


async def test_a_cancel_and_a_start_racing_have_one_winner(database: Database, seeded: Seeded) -> None:
    message_id = (await enqueue(database, seeded)).message.id
    async with database.session() as dispatcher_db:
        seen_by_dispatcher = await dispatcher_db.get(Message, message_id)  # read while still queued
        assert seen_by_dispatcher is not None
        await dispatcher_db.commit()  # ends its read; the object stays loaded as it was
        async with database.session() as api_db:
            await prompts.cancel(api_db, seeded.session_id, message_id)
            await api_db.commit()
        assert not await prompts.start(dispatcher_db, seen_by_dispatcher, "sb1")
        await dispatcher_db.commit()
    assert seen_by_dispatcher.status == MessageStatus.QUEUED  # the loser's copy is left as it was read
    assert (await load(database, message_id)).status == MessageStatus.CANCELLED
    assert await types_of(database, seeded.session_id) == ["session_status", "prompt_queued", "prompt_cancelled"]


async def test_finish_ends_a_running_prompt_once(database: Database, seeded: Seeded) -> None:
    message = (await enqueue(database, seeded)).message
    await start(database, message.id)
    assert await finish(database, message.id, MessageStatus.FAILED, "model said no")
    assert not await finish(database, message.id, MessageStatus.COMPLETED)
    stored = await load(database, message.id)
    assert (stored.status, stored.error, stored.finished_at is not None) == ("failed", "model said no", True)
    assert [e for e in await prompt_events(database, seeded.session_id) if isinstance(e, PromptFinished)] == [
        PromptFinished(message_id=message.id, status=MessageStatus.FAILED, error="model said no")]


async def test_finish_takes_a_queued_prompt_too_but_never_a_cancelled_one(database: Database, seeded: Seeded) -> None:
    queued = (await enqueue(database, seeded, "r1")).message
    cancelled = (await enqueue(database, seeded, "r2")).message
    async with database.session() as db:
        await prompts.cancel(db, seeded.session_id, cancelled.id)
        await db.commit()
    assert await finish(database, queued.id, MessageStatus.FAILED, "the sandbox died first")
    assert not await finish(database, cancelled.id, MessageStatus.FAILED, "too late")
    assert (await load(database, cancelled.id)).status == MessageStatus.CANCELLED


async def test_fail_queued_ends_the_waiting_prompts_and_leaves_the_running_one(
        database: Database, seeded: Seeded) -> None:
    running, first, second = [(await enqueue(database, seeded, f"r{n}")).message for n in range(3)]
    await start(database, running.id)
    async with database.session() as db:
        assert await prompts.fail_queued(db, seeded.session_id, "circuit breaker open") == 2
        await db.commit()
    assert [(m.id, m.status, m.error) for m in [await load(database, m.id) for m in (running, first, second)]] == [
        (running.id, MessageStatus.RUNNING, None),
        (first.id, MessageStatus.FAILED, "not run: circuit breaker open"),
        (second.id, MessageStatus.FAILED, "not run: circuit breaker open"),
    ]
    finished = [e for e in await prompt_events(database, seeded.session_id) if isinstance(e, PromptFinished)]
    assert [(e.message_id, e.error) for e in finished] == [
        (first.id, "not run: circuit breaker open"), (second.id, "not run: circuit breaker open")]
    async with database.session() as db:
        assert await prompts.fail_queued(db, seeded.session_id, "again") == 0


async def test_a_stop_is_requested_once_and_only_for_a_running_prompt(database: Database, seeded: Seeded) -> None:
    message = (await enqueue(database, seeded)).message
    async with database.session() as db:
        with pytest.raises(Conflict) as refused:
            await prompts.request_stop(db, seeded.session_id)
    assert refused.value.code == "not_running"
    await start(database, message.id)
    for _ in range(2):
        async with database.session() as db:
            assert (await prompts.request_stop(db, seeded.session_id)).id == message.id
            await db.commit()
    assert (await load(database, message.id)).stop_requested_at is not None
    assert [e for e in await prompt_events(database, seeded.session_id) if isinstance(e, StopRequested)] == [
        StopRequested(message_id=message.id)]
