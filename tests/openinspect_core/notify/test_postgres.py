"""LISTEN/NOTIFY carries "session changed" between processes (real PostgreSQL)."""

from __future__ import annotations

import asyncio

from openinspect_core.notify.local import Notifier
from openinspect_core.notify.postgres import PostgresNotifier, notifier_for


def test_sqlite_uses_the_in_process_signal_and_postgres_listen_notify(postgres_url: str) -> None:
    assert type(notifier_for("sqlite+aiosqlite:///x.db")) is Notifier
    assert type(notifier_for(postgres_url)) is PostgresNotifier


async def test_a_change_published_in_one_process_reaches_the_other(postgres_url: str) -> None:
    web, worker = PostgresNotifier(postgres_url), PostgresNotifier(postgres_url)
    await web.start()
    await worker.start()
    try:
        async with worker.subscribe(control_only=True) as dispatcher, web.subscribe("s1") as stream:
            web.publish("s1", control=True)
            assert await dispatcher.wait(10) == {"s1"}
            assert await stream.wait(1) == {"s1"}  # the local subscriber, told once, at once
            assert await stream.wait(0.5) == set()  # and not a second time by its own echo
            web.publish("s2", control=False)  # timeline only: the dispatcher does not care
            worker.publish("s1", control=False)
            assert await stream.wait(10) == {"s1"}
            assert await dispatcher.wait(0.5) == set()
    finally:
        await web.close()
        await worker.close()


async def test_bursts_reach_the_other_process_for_every_session(postgres_url: str) -> None:
    sender, receiver = PostgresNotifier(postgres_url), PostgresNotifier(postgres_url)
    await sender.start()
    await receiver.start()
    try:
        async with receiver.subscribe() as everything:
            for i in range(200):
                sender.publish(f"s{i % 20}")
            seen: set[str] = set()
            async with asyncio.timeout(10):
                while len(seen) < 20:
                    seen |= await everything.wait(1)
            assert seen == {f"s{i}" for i in range(20)}
    finally:
        await sender.close()
        await receiver.close()
