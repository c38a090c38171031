"""The timeline on a real database (SQLite and PostgreSQL): dense sequences, typed events back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import openinspect_protocol as p
import pytest
from openinspect_protocol.status import MessageStatus, SessionStatus
from openinspect_protocol.timeline import (
    BridgeRejected,
    PromptAuthor,
    PromptFinished,
    PromptQueued,
    SandboxExited,
    SandboxSpawning,
    SessionArchived,
    SessionStatusChanged,
    TimelineEvent,
)

from openinspect_core.db import Database
from openinspect_core.models import Event
from openinspect_core.services import sessions, timeline
from tests.openinspect_core.services.seed import Seeded, seed

TS = datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def append_all(database: Database, session_id: str, events: list[TimelineEvent]) -> list[int]:
    async with database.session() as db:
        sequences = [await timeline.append(db, session_id, event) for event in events]
        await db.commit()
        return sequences


async def sequences_of(database: Database, session_id: str) -> list[int]:
    async with database.session() as db:
        return [row.sequence for row in await timeline.after(db, session_id)]


async def test_sequences_are_dense_per_session(database: Database, seeded: Seeded) -> None:
    other = await seed(database, repo_url="/tmp/other")
    assert await append_all(database, seeded.session_id, [SessionArchived()] * 3) == [2, 3, 4]  # 1: its creation
    assert await append_all(database, other.session_id, [SessionArchived()] * 2) == [2, 3]
    assert await append_all(database, seeded.session_id, [SessionArchived()]) == [5]
    assert await sequences_of(database, seeded.session_id) == [1, 2, 3, 4, 5]
    assert await sequences_of(database, other.session_id) == [1, 2, 3]


async def test_concurrent_writers_never_share_or_skip_a_sequence(database: Database, seeded: Seeded) -> None:
    async def writer(n: int) -> list[int]:
        async with database.session() as db:
            sequences = [await timeline.append(db, seeded.session_id, BridgeRejected(reason=f"w{n}.{i}"))
                         for i in range(5)]
            await db.commit()
            return sequences

    written = await asyncio.gather(*(writer(n) for n in range(4)))
    allocated = sorted(seq for sequences in written for seq in sequences)
    assert allocated == list(range(2, 22))
    assert all(sequences == list(range(sequences[0], sequences[0] + 5)) for sequences in written)  # one at a time
    assert await sequences_of(database, seeded.session_id) == list(range(1, 22))


async def test_a_rolled_back_append_leaves_no_hole(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        await timeline.append(db, seeded.session_id, SessionArchived())
        await db.rollback()
    assert await append_all(database, seeded.session_id, [SessionArchived()]) == [2]


async def test_after_pages_through_the_timeline(database: Database, seeded: Seeded) -> None:
    await append_all(database, seeded.session_id, [BridgeRejected(reason=str(n)) for n in range(9)])  # 2..10
    async with database.session() as db:
        assert [r.sequence for r in await timeline.after(db, seeded.session_id, 3, limit=4)] == [4, 5, 6, 7]
        assert [r.sequence for r in await timeline.after(db, seeded.session_id, 7)] == [8, 9, 10]
        assert await timeline.after(db, seeded.session_id, 10) == []
        assert [r.sequence for r in await timeline.after(db, seeded.session_id, 0, limit=0)] == [1]  # at least one
        assert await timeline.after(db, "no-such-session") == []


async def test_a_page_holds_no_more_bytes_than_asked_but_always_one_event(database: Database,
                                                                           seeded: Seeded) -> None:
    # 1: its creation; 2..21 each carry 10,000 characters (one of them 2-byte, so bytes, not characters, count).
    await append_all(database, seeded.session_id, [BridgeRejected(reason="é" + "x" * 9_999) for _ in range(20)])
    async with database.session() as db:
        rows = await timeline.after(db, seeded.session_id, 1)
        sizes = [timeline.row_bytes(row) for row in rows]
        assert len(set(sizes)) == 1 and sizes[0] > 10_001 + timeline.ROW_OVERHEAD_BYTES  # the é is 2 bytes
        size = sizes[0]

        page = await timeline.after(db, seeded.session_id, 1, max_bytes=5 * size)
        assert [r.sequence for r in page] == [2, 3, 4, 5, 6]
        assert sum(timeline.row_bytes(r) for r in page) <= 5 * size
        page = await timeline.after(db, seeded.session_id, 1, max_bytes=5 * size - 1)
        assert [r.sequence for r in page] == [2, 3, 4, 5]
        # One event larger than the budget still comes, alone: a reader always moves on.
        assert [r.sequence for r in await timeline.after(db, seeded.session_id, 1, max_bytes=10)] == [2]
        # The count limit still holds, and so does the end of the timeline.
        assert [r.sequence for r in await timeline.after(db, seeded.session_id, 1, limit=2,
                                                         max_bytes=10**9)] == [2, 3]
        assert [r.sequence for r in await timeline.after(db, seeded.session_id, 19, max_bytes=10**9)] == [20, 21]
        assert await timeline.after(db, seeded.session_id, 21, max_bytes=10) == []


async def test_typed_returns_the_event_appended(database: Database, seeded: Seeded) -> None:
    author = PromptAuthor(id=seeded.user.id, name="Ada", email="ada@example.com")
    control: list[TimelineEvent] = [
        SessionStatusChanged(status=SessionStatus.FAILED, reason="exit code 1"),
        SandboxSpawning(sandbox_id="sb1", backend="local"),
        SandboxExited(sandbox_id="sb1", exit_code=None, reason="gone", log_tail="last words"),
        PromptQueued(message_id="m1", author=author, content="fix it", source="web", position=1),
        PromptFinished(message_id="m1", status=MessageStatus.FAILED, error="no"),
        BridgeRejected(reason="bad frame", frame='{"type": "x"}'),
        SessionArchived(),
    ]
    from_sandbox: list[TimelineEvent] = [
        p.TokenDelta(seq=4, ts=TS, message_id="m1", part_id="a", text="héllo"),
        p.ToolCall(seq=5, ts=TS, message_id="m1", call_id="c1", tool="bash", input={"command": "ls", "n": [1, 2]}),
        p.StageChanged(seq=6, ts=TS, stage="setup"),
    ]
    async with database.session() as db:
        for event in control:
            await timeline.append(db, seeded.session_id, event)
        for event in from_sandbox:
            await timeline.append(db, seeded.session_id, event, sandbox_id="sb1", sandbox_seq=event.seq)
        await db.commit()
    async with database.session() as db:
        rows = (await timeline.after(db, seeded.session_id))[1:]
    assert [timeline.typed(row) for row in rows] == control + from_sandbox
    assert [(r.message_id, r.sandbox_seq) for r in rows[-3:]] == [("m1", 4), ("m1", 5), (None, 6)]


def test_typed_refuses_a_row_that_holds_no_event() -> None:
    with pytest.raises(p.ProtocolError):
        timeline.typed(Event(session_id="s1", sequence=1, type="no_such_event", data={}))


async def test_a_session_loaded_in_the_transaction_follows_the_allocator(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        session = await sessions.get(db, seeded.session_id)
        before = session.last_activity_at
        sequence = await timeline.append(db, seeded.session_id, SessionArchived())
        assert (session.last_event_seq, session.last_activity_at > before) == (sequence, True)
        assert not db.dirty
        await db.commit()
    async with database.session() as db:
        assert (await sessions.get(db, seeded.session_id)).last_event_seq == sequence
