"""Sessions started from Slack, and thread replies as follow-ups: one unit of work each, on a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from openinspect_protocol.status import MessageStatus
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.models import Message, Participant, Repo, Session, SlackThread
from openinspect_core.services import sessions
from openinspect_core.services.errors import InvalidInput, NotFound, TooLarge
from openinspect_core.slack import starts
from tests.fakes.github.app_jwt import generate_key_pair
from tests.openinspect_core.services.seed import POLICY
from tests.openinspect_core.slack.world import CHANNEL, SLACK_ADA, TEAM, World, make_world


async def start(world: World, prompt: str = "Fix the checkout total\nIt forgets the coupon.", *,
                thread_ts: str = "1712345678.000100", repo_id: str | None = None) -> Session:
    return await starts.start_session(
        world.context, user=world.ada, repo_id=repo_id or world.repo.id, prompt=prompt, team_id=TEAM,
        channel_id=CHANNEL, thread_ts=thread_ts, slack_user_id=SLACK_ADA, client_request_id=f"slack:{thread_ts}")


async def rows(database: Database) -> tuple[list[Session], list[Message], list[SlackThread]]:
    async with database.session() as db:
        return (list((await db.exec(select(Session))).all()), list((await db.exec(select(Message))).all()),
                list((await db.exec(select(SlackThread))).all()))


async def test_a_slack_start_makes_the_session_its_prompt_and_its_thread_and_publishes(
        database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    async with world.context.notifier.subscribe() as watcher:
        session = await start(world)
        assert await watcher.wait(1) == {session.id}
    [stored], [message], [thread] = await rows(database)
    assert (stored.id, stored.source, stored.repo_id, stored.created_by) == (session.id, "slack", world.repo.id,
                                                                             world.ada.id)
    assert stored.title == "Fix the checkout total"
    assert (message.source, message.author_id, message.status) == ("slack", world.ada.id, MessageStatus.QUEUED)
    assert message.content == "Fix the checkout total\nIt forgets the coupon."
    assert (thread.session_id, thread.team_id, thread.channel_id, thread.thread_ts, thread.slack_user_id) == \
        (session.id, TEAM, CHANNEL, "1712345678.000100", SLACK_ADA)
    assert thread.status_ts is None and thread.reported_event_seq == 0
    again = await start(world, "something else entirely")  # the same thread (a retry past the dedupe, two clicks)
    assert again.id == session.id
    assert tuple(len(r) for r in await rows(database)) == (1, 1, 1)


async def test_a_refused_start_leaves_nothing_behind(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path, max_prompt_chars=100)
    with pytest.raises(TooLarge) as too_long:
        await start(world, "x" * 101)
    with pytest.raises(NotFound) as no_repo:
        await start(world, repo_id="0" * 32)
    with pytest.raises(InvalidInput) as empty:
        await start(world, "   ")
    assert (too_long.value.code, no_repo.value.code, empty.value.code) == ("prompt_too_long", "no_such_repo",
                                                                           "empty_prompt")
    assert await rows(database) == ([], [], [])
    async with database.session() as db:  # every front end says where its sessions start
        api = await sessions.create(db, repo_url=world.repo.url, creator=world.ada, policy=POLICY)
        web = await sessions.create(db, repo_url=world.repo.url, creator=world.ada, policy=POLICY, source="web")
        with pytest.raises(InvalidInput) as bad:
            await sessions.create(db, repo_url=world.repo.url, creator=world.ada, policy=POLICY, source="email")
    assert (api.source, web.source, bad.value.code) == ("api", "web", "invalid_source")


async def test_a_thread_reply_is_a_follow_up_by_its_author_once(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path)
    session = await start(world)
    first = await starts.follow_up(world.context, session_id=session.id, user=world.grace,
                                   prompt="also add a test", client_request_id="slack:Ev02")
    again = await starts.follow_up(world.context, session_id=session.id, user=world.grace,
                                   prompt="also add a test", client_request_id="slack:Ev02")
    assert first.created and not again.created and again.message.id == first.message.id
    async with database.session() as db:
        messages = (await db.exec(select(Message).where(Message.author_id == world.grace.id))).all()
        people = {p.user_id: p.role for p in (await db.exec(select(Participant))).all()}
    assert [(m.source, m.content) for m in messages] == [("slack", "also add a test")]
    assert people == {world.ada.id: "owner", world.grace.id: "member"}


async def test_with_a_github_app_the_repository_is_named_owner_name(database: Database, tmp_path: Path) -> None:
    world = await make_world(database, tmp_path, github_app_id="1", github_app_private_key=generate_key_pair()[0])
    async with world.context.work() as work:
        installed = Repo(url="https://github.com/acme/api.git", name="api", full_name="acme/api", installation_id=7)
        gone = Repo(url="https://github.com/acme/gone.git", name="gone", full_name="acme/gone")
        work.db.add_all([installed, gone])
    session = await start(world, "Add a health endpoint", repo_id=installed.id)
    assert (session.repo_id, session.source, session.work_branch) == (
        installed.id, "slack", f"openinspect/{session.id[:8]}-add-a-health-endpoint")
    with pytest.raises(InvalidInput) as refused:
        await start(world, thread_ts="2.2", repo_id=gone.id)
    assert refused.value.code == "repo_not_installed"


@pytest.mark.parametrize(("prompt", "title"), [
    ("Fix the flaky test", "Fix the flaky test"),
    ("\n\n  Fix it  \nmore lines", "Fix it"),
    ("word " * 30, ("word " * 16).strip() + "…"),
    ("x" * 100, "x" * 79 + "…"),
    ("  ", None),
])
def test_the_title_is_the_prompts_first_line_cut_at_a_word(prompt: str, title: str | None) -> None:
    assert starts.title_of(prompt) == title
    assert title is None or len(starts.title_of(prompt) or "") <= starts.TITLE_MAX_CHARS
