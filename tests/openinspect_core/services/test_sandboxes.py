"""Sandbox rows: the allowed moves (pure), and guarded moves on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest

from openinspect_core.db import Database
from openinspect_core.models import ENDED_SANDBOX_STATUSES, LIVE_SANDBOX_STATUSES, Sandbox, SandboxStatus
from openinspect_core.services import sandboxes
from tests.openinspect_core.services.seed import Seeded, seed

S = SandboxStatus

# The documented lifecycle, spawning -> connected -> ready -> stopping -> stopped | failed: a sandbox
# only moves forward along it (a step may be skipped: an archived session stops a sandbox still
# starting), any live status may end at once, and nothing leaves an ended one.
ALLOWED = {
    (S.SPAWNING, S.CONNECTED), (S.SPAWNING, S.READY), (S.CONNECTED, S.READY),
    (S.SPAWNING, S.STOPPING), (S.CONNECTED, S.STOPPING), (S.READY, S.STOPPING),
    *((before, end) for before in (*LIVE_SANDBOX_STATUSES, S.STOPPING) for end in ENDED_SANDBOX_STATUSES),
}


@pytest.mark.parametrize(("before", "after"), list(itertools.product(SandboxStatus, repeat=2)))
def test_can_move(before: SandboxStatus, after: SandboxStatus) -> None:
    assert sandboxes.can_move(before, after) is ((before, after) in ALLOWED)


def test_the_lifecycle_is_forward_only() -> None:
    order = {S.SPAWNING: 0, S.CONNECTED: 1, S.READY: 2, S.STOPPING: 3, S.STOPPED: 4, S.FAILED: 4}
    for before, after in itertools.product(SandboxStatus, repeat=2):
        forward = before not in ENDED_SANDBOX_STATUSES and order[after] > order[before]
        assert sandboxes.can_move(before, after) is forward, (before, after)
    assert all(not sandboxes.can_move(ended, after) for ended in ENDED_SANDBOX_STATUSES for after in S)
    assert all(sandboxes.can_move(live, end) for live in LIVE_SANDBOX_STATUSES for end in ENDED_SANDBOX_STATUSES)
    assert set(sandboxes.ALLOWED_FROM) == set(SandboxStatus)  # every status has its rule
    assert sandboxes.WATCHED_STATUSES == (*LIVE_SANDBOX_STATUSES, S.STOPPING)


# ------------------------------------------------------------ on a database


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def new_sandbox(database: Database, session_id: str, token_hash: str = "hash-1") -> str:
    async with database.session() as db:
        sandbox = await sandboxes.create(db, session_id=session_id, backend="test", token_hash=token_hash)
        await db.commit()
        return sandbox.id


async def load(database: Database, sandbox_id: str) -> Sandbox:
    async with database.session() as db:
        sandbox = await db.get(Sandbox, sandbox_id)
        assert sandbox is not None
        return sandbox


async def test_a_move_is_written_and_mirrored_in_the_loaded_row(database: Database, seeded: Seeded) -> None:
    sandbox_id = await new_sandbox(database, seeded.session_id)
    async with database.session() as db:
        sandbox = await db.get(Sandbox, sandbox_id)
        assert sandbox is not None and sandbox.status == S.SPAWNING
        assert await sandboxes.move(db, sandbox, S.CONNECTED)
        assert not await sandboxes.move(db, sandbox, S.CONNECTED)  # not from where it is now
        assert await sandboxes.move(db, sandbox, S.READY, exit_code=7)
        assert (sandbox.status, sandbox.exit_code) == (S.READY, 7)
        assert not db.dirty  # mirrored without a second UPDATE waiting
        await db.commit()
    stored = await load(database, sandbox_id)
    assert (stored.status, stored.exit_code) == (S.READY, 7)


async def test_a_second_conflicting_move_loses_and_leaves_the_row(database: Database, seeded: Seeded) -> None:
    sandbox_id = await new_sandbox(database, seeded.session_id)
    async with database.session() as timer_db:
        seen_by_timer = await timer_db.get(Sandbox, sandbox_id)
        await timer_db.commit()
    async with database.session() as exit_db:
        seen_at_exit = await exit_db.get(Sandbox, sandbox_id)
        await exit_db.commit()
    assert seen_by_timer is not None and seen_at_exit is not None
    async with database.session() as timer_db:
        assert await sandboxes.end(timer_db, seen_by_timer, failed=True, exit_code=None,
                                   failure_reason="no heartbeat for 61 s")
        await timer_db.commit()
    async with database.session() as exit_db:  # the process exit arrives second, from a stale read
        assert not await sandboxes.end(exit_db, seen_at_exit, failed=False, exit_code=0, failure_reason=None)
        assert not await sandboxes.move(exit_db, seen_at_exit, S.STOPPING)
        await exit_db.commit()
    assert seen_at_exit.status == S.SPAWNING  # the loser's object is left as it was read
    stored = await load(database, sandbox_id)
    assert (stored.status, stored.exit_code, stored.failure_reason) == (S.FAILED, None, "no heartbeat for 61 s")
    assert stored.stopped_at is not None


async def test_a_move_of_a_sandbox_that_is_gone_returns_false(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        ghost = Sandbox(session_id=seeded.session_id, backend="test", auth_token_hash="never-written")
        assert not await sandboxes.move(db, ghost, S.STOPPING)


async def test_end_keeps_the_first_failure_reason(database: Database, seeded: Seeded) -> None:
    reported = await new_sandbox(database, seeded.session_id, "hash-1")
    silent = await new_sandbox(database, seeded.session_id, "hash-2")
    stopped = await new_sandbox(database, seeded.session_id, "hash-3")
    async with database.session() as db:
        sandbox = await db.get(Sandbox, reported)
        assert sandbox is not None
        sandbox.failure_reason = "start.sh exited 3"  # what the sandbox said before it ended (ingestion)
        db.add(sandbox)
        await db.commit()
    async with database.session() as db:
        for sandbox_id, failed in ((reported, True), (silent, True), (stopped, False)):
            sandbox = await db.get(Sandbox, sandbox_id)
            assert sandbox is not None
            assert await sandboxes.end(db, sandbox, failed=failed, exit_code=1, failure_reason="exit code 1")
        await db.commit()
    assert [((s := await load(database, i)).status, s.failure_reason) for i in (reported, silent, stopped)] == [
        (S.FAILED, "start.sh exited 3"), (S.FAILED, "exit code 1"), (S.STOPPED, None)]


async def test_claim_sequence_takes_only_the_next_number(database: Database, seeded: Seeded) -> None:
    sandbox_id = await new_sandbox(database, seeded.session_id)
    claims = []
    for seq in (1, 1, 3, 2, 3, 0):
        async with database.session() as db:
            claims.append(await sandboxes.claim_sequence(db, sandbox_id, seq))
            await db.commit()
    assert claims == [
        (True, 1),  # the next one
        (False, 1),  # a duplicate: already stored
        (False, 1),  # a gap: 2 is missing
        (True, 2),
        (True, 3),
        (False, 3),
    ]
    stored = await load(database, sandbox_id)
    assert stored.last_acked_seq == 3 and stored.last_heartbeat_at is not None  # a stored frame is contact


async def test_the_newest_sandbox_is_the_current_one(database: Database, seeded: Seeded) -> None:
    old = await new_sandbox(database, seeded.session_id, "hash-1")
    async with database.session() as db:
        sandbox = await db.get(Sandbox, old)
        assert sandbox is not None
        await sandboxes.end(db, sandbox, failed=True, exit_code=1, failure_reason="exit code 1")
        await db.commit()
    new = await new_sandbox(database, seeded.session_id, "hash-2")
    async with database.session() as db:
        assert (await sandboxes.is_current(db, seeded.session_id, new),
                await sandboxes.is_current(db, seeded.session_id, old)) == (True, False)
        assert (await sandboxes.newest_watched(db, seeded.session_id)).id == new  # type: ignore[union-attr]
        assert [s.id for s in await sandboxes.all_in(db, ENDED_SANDBOX_STATUSES)] == [old]
        assert (await sandboxes.by_token_hash(db, "hash-2")).id == new  # type: ignore[union-attr]
        assert await sandboxes.by_token_hash(db, "hash-unknown") is None
