"""One leader among the workers, on a real PostgreSQL: the advisory lock, its loss, the takeover."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg

from backend_jobs.leadership import LOCK_KEY, AdvisoryLeadership, Leadership, SoleLeader, leadership_for
from openinspect_core.notify.postgres import libpq_url

QUICK = 0.1  # seconds between rounds in these tests


class Recorded:
    def __init__(self, leadership: Leadership) -> None:
        self.leadership = leadership
        self.changes: list[str] = []
        leadership.on_change(gained=self._gained, lost=self._lost)

    async def _gained(self) -> None:
        self.changes.append("gained")

    async def _lost(self) -> None:
        self.changes.append("lost")


@contextlib.asynccontextmanager
async def running(leadership: Leadership) -> AsyncIterator[None]:
    task = asyncio.create_task(leadership.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: object, seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def lock_holder_pid(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        row = await (await conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s",
            (LOCK_KEY & 0xFFFF_FFFF,))).fetchone()
        assert row is not None, "nobody holds the leader's lock"
        return int(row[0])


async def test_one_leads_and_the_other_follows(postgres_url: str) -> None:
    first, second = Recorded(AdvisoryLeadership(postgres_url, try_seconds=QUICK)), \
        Recorded(AdvisoryLeadership(postgres_url, try_seconds=QUICK))
    await first.leadership.start()
    await second.leadership.start()
    assert (first.leadership.is_leader, second.leadership.is_leader) == (True, False)
    async with running(first.leadership), running(second.leadership):
        await asyncio.sleep(QUICK * 10)  # many rounds: the follower keeps trying and keeps failing
        assert (first.changes, second.changes) == (["gained"], [])
    # Cancelled: the leader stepped down and closed its connection, which let go of the lock.
    assert first.changes == ["gained", "lost"] and not first.leadership.is_leader


async def test_the_follower_takes_over_when_the_leader_s_connection_dies(postgres_url: str) -> None:
    first, second = Recorded(AdvisoryLeadership(postgres_url, try_seconds=QUICK)), \
        Recorded(AdvisoryLeadership(postgres_url, try_seconds=QUICK))
    await first.leadership.start()
    await second.leadership.start()
    async with running(first.leadership), running(second.leadership):
        # What a kill -9 of the leader looks like from the database: its connection ends.
        async with await psycopg.AsyncConnection.connect(libpq_url(postgres_url), autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (await lock_holder_pid(postgres_url),))
        await until(lambda: second.leadership.is_leader)
        await until(lambda: "lost" in first.changes)  # the old leader noticed and stepped down
        await asyncio.sleep(QUICK * 10)
        assert second.leadership.is_leader and not first.leadership.is_leader  # and it does not come back
        assert second.changes == ["gained"]


async def test_a_stopped_leader_hands_over(postgres_url: str) -> None:
    first, second = Recorded(AdvisoryLeadership(postgres_url, try_seconds=QUICK)), \
        Recorded(AdvisoryLeadership(postgres_url, try_seconds=QUICK))
    await first.leadership.start()
    async with running(second.leadership):
        async with running(first.leadership):
            await second.leadership.start()
            assert not second.leadership.is_leader
        await until(lambda: second.leadership.is_leader)
    assert first.changes == ["gained", "lost"] and second.changes == ["gained", "lost"]


async def test_an_unreachable_database_makes_no_leader() -> None:
    nowhere = Recorded(AdvisoryLeadership("postgresql+psycopg://nobody@127.0.0.1:1/none", try_seconds=QUICK))
    await nowhere.leadership.start()
    assert not nowhere.leadership.is_leader and nowhere.changes == []


async def test_one_process_on_sqlite_always_leads(tmp_path: object) -> None:
    sole = leadership_for("sqlite+aiosqlite:///x.db")
    assert isinstance(sole, SoleLeader)
    recorded = Recorded(sole)
    await sole.start()
    assert sole.is_leader and recorded.changes == ["gained"]
