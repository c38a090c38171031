"""Linking Slack users to people: by a confirmed email, or by a one-time code confirmed on the web."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.db import Database
from openinspect_core.models import SlackPending, SlackUserLink, utcnow
from openinspect_core.services.errors import Conflict, InvalidInput, NotFound
from openinspect_core.slack import people, threads
from tests.openinspect_core.slack.world import CHANNEL, SLACK_ADA, SLACK_GRACE, TEAM, make_world


async def test_only_a_confirmed_email_of_a_person_links_a_slack_user(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.work() as work:
        db = work.db
        assert await people.link_by_email(db, slack_user_id=SLACK_GRACE, team_id=TEAM, email="grace@example.com",
                                          email_confirmed=False, slack_name="grace") is None
        assert await people.link_by_email(db, slack_user_id=SLACK_GRACE, team_id=TEAM, email="nobody@example.com",
                                          email_confirmed=True, slack_name="grace") is None
        assert await people.linked_user(db, SLACK_GRACE) is None
        linked = await people.link_by_email(db, slack_user_id=SLACK_GRACE, team_id=TEAM, email=" GRACE@example.COM",
                                            email_confirmed=True, slack_name="grace")
        assert linked is not None and linked.id == world.grace.id
    async with database.session() as db:
        assert (await people.linked_user(db, SLACK_GRACE)).id == world.grace.id  # type: ignore[union-attr]
        [link] = (await db.exec(select(SlackUserLink))).all()
        assert (link.method, link.team_id, link.slack_name) == ("email", TEAM, "grace")
        [listed] = await people.list_links(db)
        assert (listed.link.slack_user_id, listed.user.name) == (SLACK_GRACE, "Grace Hopper")
    async with world.context.work() as work:
        assert await people.unlink(work.db, SLACK_GRACE, world.ada)
        assert not await people.unlink(work.db, SLACK_GRACE, world.ada)
        assert await people.linked_user(work.db, SLACK_GRACE) is None


async def pending_link(db: AsyncSession, slack_user_id: str = SLACK_ADA) -> SlackPending:
    return await threads.create_pending(db, reason=threads.LINK_ACCOUNT, team_id=TEAM,
                                        channel_id=CHANNEL, thread_ts="1.1", message_ts="1.1",
                                        slack_user_id=slack_user_id, text="fix the shop")


async def test_a_link_code_links_once_and_only_its_hash_is_kept(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.work() as work:
        request = await pending_link(work.db)
        code = await people.start_link(work.db, request)
    async with database.session() as db:
        stored = await db.get(SlackPending, request.id)
        assert stored is not None and stored.link_code_hash == people.code_hash(code) and code not in str(stored)
        assert timedelta(minutes=29) < stored.expires_at - utcnow() <= timedelta(minutes=30)
        assert (await people.link_request(db, code)).id == request.id
    async with world.context.work() as work:
        done = await people.complete_link(work.db, code, world.ada)
        assert done.id == request.id and done.resolved_at is None  # the bot goes on with the request
        assert (await people.linked_user(work.db, SLACK_ADA)).id == world.ada.id  # type: ignore[union-attr]
    for wrong in (code, "", "not-a-code"):
        with pytest.raises(NotFound) as used:
            async with world.context.work() as work:
                await people.complete_link(work.db, wrong, world.grace)
        assert used.value.code == "slack_link_invalid"
    async with database.session() as db:
        assert [p.id for p in await threads.linked_waiting(db)] == [request.id]
        assert (await db.get(SlackUserLink, SLACK_ADA)).method == "link"  # type: ignore[union-attr]


async def test_an_expired_or_contested_link_is_refused(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.work() as work:
        old = await pending_link(work.db)
        old_code = await people.start_link(work.db, old)
        old.expires_at = utcnow() - timedelta(seconds=1)
        work.db.add(old)
        taken = await pending_link(work.db, SLACK_GRACE)
        taken_code = await people.start_link(work.db, taken)
        await people.link_by_email(work.db, slack_user_id=SLACK_GRACE, team_id=TEAM, email="grace@example.com",
                                   email_confirmed=True, slack_name=None)
        choose = await threads.create_pending(work.db, reason=threads.CHOOSE_REPO, team_id=TEAM, channel_id=CHANNEL,
                                              thread_ts="2.2", message_ts="2.2", slack_user_id=SLACK_ADA, text="x")
        with pytest.raises(InvalidInput):
            await people.start_link(work.db, choose)
    with pytest.raises(Conflict) as expired:
        async with world.context.work() as work:
            await people.complete_link(work.db, old_code, world.ada)
    with pytest.raises(Conflict) as contested:
        async with world.context.work() as work:
            await people.complete_link(work.db, taken_code, world.ada)
    assert (expired.value.code, contested.value.code) == ("slack_link_expired", "slack_already_linked")
    async with database.session() as db:
        assert (await people.linked_user(db, SLACK_GRACE)).id == world.grace.id  # type: ignore[union-attr]
        assert await people.linked_user(db, SLACK_ADA) is None
