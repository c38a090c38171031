"""Requests that wait on someone, over HTTP against the fake Slack: a repository to choose (buttons and
the searchable select, one answer per request), an account to link (the link sent to that person
alone, the request going on once the web completes it), and the "Create pull request" button."""

from __future__ import annotations

from pathlib import Path

from openinspect_protocol.timeline import PullRequestFailed

from backend_jobs.slack import actions
from backend_jobs.slack.choice_blocks import choose_button_action_id
from openinspect_core.models import SlackUserLink
from openinspect_core.slack import hints, model_choice, people
from tests.backend_jobs.slack.bot_world import BotWorld, running_bot
from tests.fakes.scripted_model import Reply, ScriptContext, ScriptedModel, ToolCallSpec, ToolReply
from tests.fakes.slack import FakeSlack
from tests.openinspect_core.services.seed import timeline_of


def buttons(w: BotWorld, channel: str, ts: str) -> list[dict]:
    message = w.fake.world.message(channel, ts)
    assert message is not None and message.blocks is not None
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


async def test_an_undecided_request_offers_buttons_and_the_requesters_click_starts_it(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        event = fake_slack.mention(world.ada, world.general, "the export times out for big accounts")
        await w.deliver(event)
        assert await w.sessions() == []
        [pending] = await w.pendings()
        assert pending.reason == "choose_repo" and pending.prompt_ts is not None
        elements = buttons(w, world.general.id, pending.prompt_ts)
        labels = [e["text"]["text"] for e in elements if e["type"] == "button"]
        assert sorted(labels) == ["acme/billing-api", "acme/infra", "acme/web-frontend"]
        [select] = [e for e in elements if e["type"] == "static_select"]
        assert {o["value"] for o in select["options"]} == set(w.repos.values())

        # Bob may not answer for Ada; her click starts it, once.
        index = labels.index("acme/infra")
        mark = fake_slack.mark()
        await w.click(user=world.bob, action_id=choose_button_action_id(index), channel=world.general,
                      message_ts=pending.prompt_ts)
        assert await w.sessions() == []
        assert "Only <@" in world.ephemerals(world.general.id)[-1].text
        await w.click(user=world.ada, action_id=choose_button_action_id(index), channel=world.general,
                      message_ts=pending.prompt_ts)
        [session] = await w.sessions()
        assert session.repo_id == w.repos["infra"]
        [prompt] = await w.prompts()
        assert prompt.content == "the export times out for big accounts"
        [thread] = await w.threads()
        assert thread.thread_ts == event["ts"]
        chosen = world.message(world.general.id, pending.prompt_ts)
        assert chosen is not None and "acme/infra" in chosen.text and not buttons_left(chosen.blocks)
        assert [c.args["ts"] for c in fake_slack.calls("chat.update")[:1] if c.index >= mark] == [pending.prompt_ts]

        # The old buttons clicked again (a second click raced the first): nothing new.
        await w.click(user=world.ada, action_id=choose_button_action_id(0), channel=world.general,
                      message_ts=pending.prompt_ts, forge=True, block_id=pending.id,
                      value=f"{pending.id}:{w.repos['billing-api']}")
        assert len(await w.sessions()) == 1
        assert "no longer waiting" in world.ephemerals(world.general.id)[-1].text


def buttons_left(blocks: list[dict] | None) -> bool:
    return any(b["type"] == "actions" for b in blocks or [])


async def test_the_searchable_select_chooses_any_repository(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        await w.deliver(fake_slack.mention(world.ada, world.general, "please look at the flaky pipeline"))
        [pending] = await w.pendings()
        await w.click(user=world.ada, action_id=actions.SELECT_REPO, channel=world.general,
                      message_ts=pending.prompt_ts, selected_option=w.repos["web-frontend"])
        [session] = await w.sessions()
        assert session.repo_id == w.repos["web-frontend"]


async def test_the_channels_repository_decides_without_asking(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        async with w.context.work() as work:
            await hints.set_channel_repo(work.db, channel_id=world.general.id, repo_id=w.repos["web-frontend"],
                                         by=w.ada)
        await w.deliver(fake_slack.mention(world.ada, world.general, "please look at the flaky pipeline"))
        [session] = await w.sessions()
        assert session.repo_id == w.repos["web-frontend"]
        assert await w.pendings() == []


async def test_an_unlinked_person_gets_a_private_link_and_the_request_goes_on_once_linked(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world  # Bob's Slack email is not confirmed: it links nobody
        event = fake_slack.mention(world.bob, world.general, "acme/infra: add a staging namespace")
        await w.deliver(event)
        assert await w.sessions() == [] and await w.links() == []
        [pending] = await w.pendings()
        assert pending.reason == "link_account"
        [private] = world.ephemerals(world.general.id)
        assert private.thread_ts == event["ts"]
        [button] = [e for b in private.blocks or [] if b["type"] == "actions" for e in b["elements"]]
        url = button["url"]
        prefix = f"{w.context.settings.origin}/settings/slack/link?code="
        assert url.startswith(prefix)
        # Nothing in the channel gives the code away.
        assert all(url[len(prefix):] not in m.text for m in world.thread(world.general.id, event["ts"]))

        assert await w.bot.resume(pending.id) is False  # not linked yet
        async with w.context.work() as work:
            await people.complete_link(work.db, url[len(prefix):], w.ada)  # what the web's link page does
        assert await w.bot.resume(pending.id) is True
        assert await w.bot.resume(pending.id) is False  # once
        [session] = await w.sessions()
        assert (session.repo_id, session.created_by) == (w.repos["infra"], w.ada.id)
        [prompt] = await w.prompts()
        assert prompt.content == "add a staging namespace"
        assert any("you're linked" in m.text for m in world.thread(world.general.id, event["ts"]))


async def test_a_link_made_in_another_process_is_noticed_by_the_bot(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack, link_poll_seconds=0.05) as w:
        world = fake_slack.world
        await w.deliver(fake_slack.dm(world.bob, "acme/infra: add a staging namespace"))
        [pending] = await w.pendings()
        assert pending.reason == "link_account"
        async with w.context.work() as work:  # as the web's link page in another process would
            work.db.add(SlackUserLink(slack_user_id=world.bob.id, team_id=fake_slack.team_id, user_id=w.ada.id,
                                      method="link"))
        await fake_slack.wait_for_call("chat.postMessage", lambda c: "you're linked" in c.args.get("text", ""))
        await w.bot.idle()
        [session] = await w.sessions()
        assert session.created_by == w.ada.id


async def test_create_pull_request_is_refused_to_an_unlinked_clicker_and_recorded_for_a_linked_one(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        event = fake_slack.mention(world.ada, world.general, "acme/infra: add a staging namespace")
        await w.deliver(event)
        [session] = await w.sessions()
        await w.click(user=world.bob, action_id=actions.CREATE_PULL_REQUEST, value=session.id,
                      channel=world.general, forge=True)
        assert "can't open a pull request" in world.ephemerals(world.general.id)[-1].text

        ephemerals = len(world.ephemerals(world.general.id))
        await w.click(user=world.ada, action_id=actions.CREATE_PULL_REQUEST, value=session.id,
                      channel=world.general, forge=True)
        # No GitHub App here: open_for_session refuses and writes why on the timeline, which the
        # reporter says in the thread; the ingress adds nothing of its own.
        [failed] = [e for e in await timeline_of(w.context.db, session.id) if isinstance(e, PullRequestFailed)]
        assert failed.requested_by is not None and failed.requested_by.name == w.ada.name
        assert len(world.ephemerals(world.general.id)) == ephemerals

        # The same button value clicked from another channel (a copied message): nothing is opened.
        elsewhere = world.add_channel("elsewhere")
        await w.click(user=world.ada, action_id=actions.CREATE_PULL_REQUEST, value=session.id,
                      channel=elsewhere, forge=True)
        assert "no longer waiting" in world.ephemerals(elsewhere.id)[-1].text
        assert len([e for e in await timeline_of(w.context.db, session.id) if isinstance(e, PullRequestFailed)]) == 1


class Chooser:
    """The scripted model as the chooser: it answers ``reply`` (set per step)."""

    reply: Reply

    def __call__(self, ctx: ScriptContext) -> Reply:
        return self.reply


async def test_with_a_chooser_model_the_model_decides_before_anyone_is_asked(
        tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    key = "sk-chooser-test-key-0123456789"
    script = Chooser()
    with ScriptedModel(api_key=key, scripts={"demo": script}) as model:
        async with running_bot(tmp_path, sqlite_url, fake_slack, provider_base_url=model.base_url,
                               provider_api_key=key, slack_chooser_model="openinspect/scripted") as w:
            world = fake_slack.world
            script.reply = ToolReply((ToolCallSpec(model_choice.TOOL_NAME, {"repo_id": w.repos["web-frontend"]}),))
            await w.deliver(fake_slack.mention(world.ada, world.general, "the checkout button does nothing"))
            [session] = await w.sessions()
            assert session.repo_id == w.repos["web-frontend"]
            assert await w.pendings() == []

            script.reply = ToolReply((ToolCallSpec(model_choice.TOOL_NAME, {"repo_id": "none"}),))
            await w.deliver(fake_slack.mention(world.ada, world.general, "something is slow"))
            [pending] = await w.pendings()  # not sure: the buttons, as without a model
            assert pending.reason == "choose_repo"
            assert len(model.chat_requests()) == 2
