"""The ways in, over HTTP against the fake Slack: a mention, a direct message, a reply in a session's
thread; retried deliveries; the refusals. Each test is the real bot on a real database."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from openinspect_core.models import Message, Session, SlackDelivery
from openinspect_core.services import sessions, users
from tests.backend_jobs.slack.bot_world import BotWorld, running_bot
from tests.fakes.slack import FakeSlack


async def test_a_mention_gets_eyes_and_starts_a_session_on_the_named_repository(tmp_path: Path, sqlite_url: str,
                                                                                fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        event = fake_slack.mention(world.ada, world.general, "in acme/billing-api: the invoice total is off by a cent")
        delivery = await w.deliver(event)

        assert delivery.status == 200
        assert world.reactions(world.general.id, event["ts"]) == {"eyes": [fake_slack.bot_user_id]}
        [session] = await w.sessions()
        assert (session.repo_id, session.source, session.created_by) == (w.repos["billing-api"], "slack", w.ada.id)
        [prompt] = await w.prompts()
        assert (prompt.session_id, prompt.author_id, prompt.source) == (session.id, w.ada.id, "slack")
        assert prompt.content == "the invoice total is off by a cent"  # the mention and the repository gone
        [thread] = await w.threads()
        assert (thread.session_id, thread.channel_id, thread.thread_ts, thread.slack_user_id) == (
            session.id, world.general.id, event["ts"], world.ada.id)
        [link] = await w.links()  # Slack confirmed her email, which is Ada's here
        assert (link.user_id, link.method) == (w.ada.id, "email")
        # The reporter posted the status message in the thread.
        status = await fake_slack.wait_for_call(
            "chat.postMessage", lambda c: c.args.get("thread_ts") == event["ts"])
        assert status.ok


async def test_a_direct_message_starts_a_session_answered_in_its_own_thread(tmp_path: Path, sqlite_url: str,
                                                                           fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack, repos={"infra": "Terraform"}) as w:
        event = fake_slack.dm(fake_slack.world.ada, "bump the node pool to three machines")
        await w.deliver(event)

        [session] = await w.sessions()
        assert session.repo_id == w.repos["infra"]  # the only repository
        [thread] = await w.threads()
        assert (thread.channel_id, thread.thread_ts) == (event["channel"], event["ts"])
        assert fake_slack.world.reactions(event["channel"], event["ts"]) == {"eyes": [fake_slack.bot_user_id]}


async def test_the_same_delivery_retried_three_times_queues_one_prompt(tmp_path: Path, database_url: str,
                                                                       fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, database_url, fake_slack) as w:
        world = fake_slack.world
        event = fake_slack.mention(world.ada, world.general, "acme/billing-api fix the refund rounding")
        first = await w.deliver(event, event_id="Ev0RETRY0001")
        retries = [await w.deliver(event, event_id="Ev0RETRY0001", retry_num=n, retry_reason="http_timeout")
                   for n in (1, 2, 3)]

        assert [d.status for d in (first, *retries)] == [200] * 4
        assert len(await w.sessions()) == 1
        assert len(await w.prompts()) == 1
        assert len(fake_slack.calls("reactions.add")) == 1
        async with w.context.db.session() as db:
            keys = (await db.exec(select(SlackDelivery.id))).all()
        assert keys == [f"message:{world.general.id}:{event['ts']}"]


async def test_a_reply_in_a_session_thread_is_a_follow_up_and_other_threads_are_left_alone(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        start = fake_slack.mention(world.ada, world.general, "acme/web-frontend: the login button is misaligned")
        await w.deliver(start)
        [session] = await w.sessions()

        reply = fake_slack.thread_reply(world.ada, world.general, start["ts"], "also make it blue please")
        await w.deliver(reply)
        # Slack sends a mention inside the thread twice (app_mention and message): one prompt.
        mention = fake_slack.mention(world.ada, world.general, "and add a test", thread_ts=start["ts"])
        await w.deliver(mention)
        await w.deliver({**mention, "type": "message", "channel_type": "channel"})
        # Chatter in a thread that is no session's, and a top-level message: nothing, not even a row.
        other = fake_slack.channel_message(world.bob, world.general, "lunch?")
        await w.deliver(fake_slack.thread_reply(world.ada, world.general, other["ts"], "sure"))
        await w.deliver(other)

        prompts = await w.prompts()
        assert [p.content for p in prompts] == ["the login button is misaligned", "also make it blue please",
                                                "and add a test"]
        assert {p.session_id for p in prompts} == {session.id}
        assert len(await w.sessions()) == 1
        assert world.reactions(world.general.id, reply["ts"]) == {"eyes": [fake_slack.bot_user_id]}
        assert world.reactions(world.general.id, other["ts"]) == {}
        assert len(await w.rows(SlackDelivery)) == 3


async def test_the_bots_own_messages_edits_and_other_bots_are_ignored(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        start = fake_slack.mention(world.ada, world.general, "acme/infra: rotate the TLS certificates")
        await w.deliver(start)
        own = {**fake_slack.thread_reply(world.ada, world.general, start["ts"], "Working on it"),
               "user": fake_slack.bot_user_id, "bot_id": fake_slack.bot_id}
        other_bot = {**fake_slack.thread_reply(world.ada, world.general, start["ts"], "deploy finished"),
                     "bot_id": "B0OTHERBOT"}
        edit = {**fake_slack.thread_reply(world.ada, world.general, start["ts"], "fixed typo"),
                "subtype": "message_changed"}
        for event in (own, other_bot, edit):
            assert (await w.deliver(event)).status == 200

        assert len(await w.prompts()) == 1


async def test_refusals_are_one_short_reply_in_the_thread(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        bare = fake_slack.mention(world.ada, world.general, "")
        await w.deliver(bare)
        [help_reply] = world.thread(world.general.id, bare["ts"])[1:]
        assert "Tell me what to do" in help_reply.text
        assert await w.sessions() == []

        start = fake_slack.mention(world.ada, world.general, "acme/infra: add a staging namespace")
        await w.deliver(start)
        [session] = await w.sessions()
        async with w.context.work() as work:
            await sessions.archive(work.db, session.id)
        mark = fake_slack.mark()
        await w.deliver(fake_slack.thread_reply(world.ada, world.general, start["ts"], "and a prod one"))
        said = await fake_slack.wait_for_call("chat.postMessage", lambda c: "archived" in c.args.get("text", ""),
                                              since=mark)
        assert said.args["thread_ts"] == start["ts"]
        assert len(await w.prompts()) == 1


async def test_with_no_repository_at_all_it_says_so(tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack, repos={}) as w:
        world = fake_slack.world
        event = fake_slack.mention(world.ada, world.general, "fix the build")
        await w.deliver(event)
        [reply] = world.thread(world.general.id, event["ts"])[1:]
        assert "No repository is available" in reply.text
        assert await w.sessions() == []


async def test_a_prompt_over_the_limit_is_refused_in_the_thread(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack, repos={"infra": "Terraform"},
                           max_prompt_chars=40) as w:
        world = fake_slack.world
        event = fake_slack.mention(world.ada, world.general, "acme/infra: " + "x" * 60)
        await w.deliver(event)
        [reply] = world.thread(world.general.id, event["ts"])[1:]
        assert "too long" in reply.text
        assert await w.sessions() == []


async def _thread_prompts(w: BotWorld) -> list[Message]:
    async with w.context.db.session() as db:
        return list((await db.exec(select(Message))).all())


async def test_a_thread_reply_from_someone_else_is_theirs(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    """Multiplayer: Ben, linked by his confirmed email, replies in Ada's thread; the prompt is his."""
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        ben_slack = world.add_user("ben", real_name="Ben Okafor", email="Ben@Example.com")
        async with w.context.work() as work:
            ben = await users.get_or_create(work.db, "Ben Okafor", "ben@example.com")
        start = fake_slack.mention(world.ada, world.general, "acme/billing-api: speed up the invoice export")
        await w.deliver(start)
        await w.deliver(fake_slack.thread_reply(ben_slack, world.general, start["ts"], "stream it instead"))

        first, second = await _thread_prompts(w)
        assert (first.author_id, second.author_id) == (w.ada.id, ben.id)
        async with w.context.db.session() as db:
            session = (await db.exec(select(Session))).one()
        assert session.created_by == w.ada.id
