"""Threads, pending requests and deliveries: what must hold when two copies of the same thing race."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.models import SlackDelivery, SlackPending, SlackThread, utcnow
from openinspect_core.services.errors import InvalidInput
from openinspect_core.slack import deliveries, starts, threads
from tests.openinspect_core.slack.world import CHANNEL, SLACK_ADA, TEAM, World, make_world


async def first_time(world: World, key: str) -> bool:
    async with world.context.work() as work:
        return await deliveries.first_time(work.db, key, "event_callback")


async def test_a_delivery_counts_once_even_when_its_copies_race(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    assert await first_time(world, "Ev0PV52K21")
    assert not await first_time(world, "Ev0PV52K21")
    racing = await asyncio.gather(*(first_time(world, "Ev0RACE001") for _ in range(4)))
    assert sorted(racing) == [False, False, False, True]
    long_key = "block_actions:" + "x" * 200
    assert await first_time(world, long_key) and not await first_time(world, long_key)
    with pytest.raises(RuntimeError):  # a delivery whose handling failed is not remembered: its retry runs
        async with world.context.work() as work:
            assert await deliveries.first_time(work.db, "Ev0FAILED1", "event_callback")
            raise RuntimeError("the handler failed")
    assert await first_time(world, "Ev0FAILED1")
    async with world.context.work() as work:
        old = await work.db.get(SlackDelivery, "Ev0PV52K21")
        assert old is not None
        old.received_at = utcnow() - timedelta(days=2)
        work.db.add(old)
    async with world.context.work() as work:
        assert await deliveries.prune(work.db) == 1
    assert await first_time(world, "Ev0PV52K21")  # forgotten after a day: Slack retries long before


async def resolve(world: World, pending_id: str) -> bool:
    async with world.context.work() as work:
        return await threads.resolve_pending(work.db, pending_id)


async def test_a_pending_request_is_answered_once_and_not_after_it_expires(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.work() as work:
        choose = await threads.create_pending(work.db, reason=threads.CHOOSE_REPO, team_id=TEAM, channel_id=CHANNEL,
                                              thread_ts="1.1", message_ts="1.1", slack_user_id=SLACK_ADA,
                                              text="fix it", candidates=[f"r{i}" for i in range(40)])
        await threads.set_prompt_ts(work.db, choose.id, "1.2")
        stale = await threads.create_pending(work.db, reason=threads.CHOOSE_REPO, team_id=TEAM, channel_id=CHANNEL,
                                             thread_ts="2.1", message_ts="2.1", slack_user_id=SLACK_ADA, text="x",
                                             ttl_seconds=-1)
        with pytest.raises(InvalidInput) as bad:
            await threads.create_pending(work.db, reason="other", team_id=TEAM, channel_id=CHANNEL, thread_ts="3",
                                         message_ts="3", slack_user_id=SLACK_ADA, text="x")
    assert bad.value.code == "slack_invalid_pending"
    clicks = await asyncio.gather(*(resolve(world, choose.id) for _ in range(3)))
    assert sorted(clicks) == [False, False, True]
    assert not await resolve(world, stale.id) and not await resolve(world, "0" * 32)
    async with database.session() as db:
        stored = await threads.pending(db, choose.id)
        assert stored is not None and stored.prompt_ts == "1.2" and stored.resolved_at is not None
        assert len(stored.candidates) == threads.MAX_CANDIDATES and stored.candidates[0] == "r0"
    async with world.context.work() as work:
        assert await threads.prune_pending(work.db, older_than_seconds=-60) == 2
        assert (await work.db.exec(select(SlackPending))).all() == []


async def test_a_threads_reported_position_only_moves_forward(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    session = await starts.start_session(world.context, user=world.ada, repo_id=world.repo.id, prompt="fix it",
                                         team_id=TEAM, channel_id=CHANNEL, thread_ts="9.1", slack_user_id=SLACK_ADA,
                                         client_request_id="slack:9.1")
    later = utcnow()
    async with world.context.work() as work:
        await threads.save_status(work.db, session.id, status_ts="9.2", status_text="Working", reported_event_seq=7,
                                  reported_message_at=later)
        await threads.save_status(work.db, session.id, reported_event_seq=3,
                                  reported_message_at=later - timedelta(seconds=5))
        assert await threads.save_status(work.db, "0" * 32, status_text="x") is None
    async with database.session() as db:
        thread = await threads.thread_of_session(db, session.id)
        assert thread is not None
        assert (thread.status_ts, thread.status_text, thread.reported_event_seq) == ("9.2", "Working", 7)
        assert thread.reported_message_at == later
        assert (await threads.thread_for(db, CHANNEL, "9.1")).id == thread.id  # type: ignore[union-attr]
        assert await threads.thread_for(db, CHANNEL, "9.0") is None
        found = await threads.threads_of_sessions(db, [session.id, "0" * 32, session.id])
        assert list(found) == [session.id] and isinstance(found[session.id], SlackThread)
        assert await threads.threads_of_sessions(db, []) == {}
