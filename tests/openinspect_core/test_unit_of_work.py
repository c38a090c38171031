"""The unit of work on a real database (SQLite and PostgreSQL) with the real in-process notifier."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.models import User
from openinspect_core.notify.local import Notifier, Subscription
from openinspect_core.services import users
from openinspect_core.unit_of_work import UnitOfWork


class Boom(Exception):
    pass


async def emails(database: Database) -> list[str]:
    async with database.session() as db:
        return sorted((await db.exec(select(User.email))).all())


async def add_user(work: UnitOfWork, email: str) -> None:
    work.db.add(User(name="Ada", email=email))
    await work.db.flush()  # written, not committed


async def pending(subscription: Subscription) -> set[str]:
    """What the subscription holds right now, without waiting."""
    return await subscription.wait(0)


async def test_it_commits_then_publishes(database: Database) -> None:
    notifier = Notifier()
    async with notifier.subscribe() as everything, notifier.subscribe("s1") as one:
        async with UnitOfWork(database, notifier) as work:
            await add_user(work, "ada@example.com")
            work.changed("s1")
            work.changed("s2")
            work.changed("s1")
            assert await pending(everything) == set()  # nothing before the commit
            assert await emails(database) == []  # and the row is not visible to others yet
        assert await emails(database) == ["ada@example.com"]
        assert await pending(everything) == {"s1", "s2"}
        assert await pending(one) == {"s1"}
        assert await pending(everything) == set()  # each change once


async def test_a_woken_watcher_reads_what_was_committed(database: Database) -> None:
    notifier = Notifier()
    async with notifier.subscribe("s1") as subscription:
        async def watcher() -> list[str]:
            await subscription.wait(5)
            return await emails(database)

        watching = asyncio.create_task(watcher())
        await asyncio.sleep(0)  # the watcher is waiting
        async with UnitOfWork(database, notifier) as work:
            await add_user(work, "ada@example.com")
            work.changed("s1")
            await asyncio.sleep(0.05)  # time for a watcher woken too early to read
        assert await asyncio.wait_for(watching, 5) == ["ada@example.com"]


async def test_an_exception_rolls_back_and_publishes_nothing(database: Database) -> None:
    notifier = Notifier()
    async with notifier.subscribe() as everything:
        with pytest.raises(Boom):
            async with UnitOfWork(database, notifier) as work:
                await add_user(work, "ada@example.com")
                work.changed("s1")
                raise Boom
        assert await pending(everything) == set()
    assert await emails(database) == []
    async with UnitOfWork(database, notifier) as work:  # the database is usable afterwards
        await add_user(work, "ada@example.com")
    assert await emails(database) == ["ada@example.com"]


async def test_a_timeline_only_change_skips_control_only_subscribers(database: Database) -> None:
    notifier = Notifier()
    async with notifier.subscribe() as viewer, notifier.subscribe(control_only=True) as dispatcher:
        async with UnitOfWork(database, notifier) as work:
            work.changed("s1", control=False)
        assert (await pending(viewer), await pending(dispatcher)) == ({"s1"}, set())


@pytest.mark.parametrize(
    "marks",
    [
        [("s1", True), ("s1", False)],
        [("s1", False), ("s1", True)],
        [("s1", False), ("s1", False), ("s1", True), ("s1", False)],
    ],
)
async def test_one_control_change_makes_the_unit_a_control_change(database: Database,
                                                                  marks: list[tuple[str, bool]]) -> None:
    notifier = Notifier()
    async with notifier.subscribe(control_only=True) as dispatcher:
        async with UnitOfWork(database, notifier) as work:
            for session_id, control in marks:
                work.changed(session_id, control=control)
        assert await pending(dispatcher) == {"s1"}


async def test_nothing_changed_nothing_published(database: Database) -> None:
    notifier = Notifier()
    async with notifier.subscribe() as everything:
        async with UnitOfWork(database, notifier) as work:
            await add_user(work, "ada@example.com")
        assert await pending(everything) == set()
    assert await emails(database) == ["ada@example.com"]



async def test_a_service_savepoint_stays_inside_the_unit(database: Database) -> None:
    """Services insert through ``begin_nested()`` (a SAVEPOINT) to survive a concurrent duplicate.

    On SQLite the driver would open no transaction before that SAVEPOINT (only before DML), so the
    SAVEPOINT was the outermost transaction and its RELEASE committed at once: the row escaped the
    unit's rollback. ``openinspect_core.db`` now begins every transaction itself.
    """
    with pytest.raises(Boom):
        async with UnitOfWork(database, Notifier()) as work:
            await users.get_or_create(work.db, "Ada", "ada@example.com")
            raise Boom
    assert await emails(database) == []
