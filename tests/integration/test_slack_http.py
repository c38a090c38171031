"""Slack over the HTTP Events API, end to end: Slack posts signed deliveries to the web's
``/slack/events``; the real OpenCode runs the session the mention asked for on the fake GitHub.

One session carries the whole story (each real session costs seconds): refused deliveries (bad
signature, stale, unsigned) change nothing; a mention in ``#widgets`` (the channel's repository)
is acknowledged with 👀, retried three times and still queues one prompt; its status message is
updated in place through the steps although Slack answers 429 to the first update; the completion
reply has the summary, the files and a "Create pull request" button, whose click opens the PR in
the fake GitHub; a reply in the thread is a follow-up in the same session, run while Slack is down
and reported once it is back; a prompt sent through the API appears in the thread, attributed.
No Slack secret is anywhere it must not be.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend_jobs.slack.actions import CREATE_PULL_REQUEST, VIEW_SESSION
from openinspect_core.models import Message
from tests.fakes.scripted_model import ScriptContext, ScriptedModel, TextReply, ToolCallSpec, ToolReply
from tests.fakes.slack import FakeSlack
from tests.support.rows import every_row
from tests.support.slack_system import (
    WIDGETS,
    SlackSystem,
    element,
    rendered,
    slack_system,
    wait_until,
)

SUMMARY = "Made the widgets blue, as asked."


def blue_widgets(ctx: ScriptContext) -> TextReply | ToolReply:
    """A file written, then a commit slow enough to be seen working, then a summary."""
    if ctx.step == 0:
        return ToolReply((ToolCallSpec("write", {"filePath": ctx.path("WIDGETS.md"), "content": "blue\n"}),),
                         text="Painting the widgets.")
    if ctx.step == 1:
        command = "sleep 3; git add WIDGETS.md && git commit -qm 'Make the widgets blue' && echo committed"
        return ToolReply((ToolCallSpec("bash", {"command": command}),))
    return TextReply(SUMMARY)


def slow_follow_up(ctx: ScriptContext) -> TextReply | ToolReply:
    if ctx.step == 0:
        return ToolReply((ToolCallSpec("bash", {"command": "sleep 3; echo checked"}),))
    return TextReply("Checked the widgets again: still blue.")


@pytest.fixture
async def system(tmp_path: Path, scripted_model: ScriptedModel, fake_slack: FakeSlack) -> AsyncIterator[SlackSystem]:
    scripted_model.register("slack-blue-widgets", blue_widgets)
    scripted_model.register("slack-follow-up", slow_follow_up)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'openinspect.db'}"
    async with slack_system(database_url, tmp_path, scripted_model, fake_slack, "http") as running:
        yield running


async def test_a_mention_over_http_runs_a_session_reported_in_its_thread(
        system: SlackSystem, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for name in ("slack_sdk", "slack_bolt", "backend_jobs.slack"):  # what talks to Slack, at its most verbose
        caplog.set_level(logging.DEBUG, logger=name)
    slack, world, channel = system.slack, system.slack.world, system.channel

    # Refused deliveries do nothing: no row, no Slack call.
    before, mark = await every_row(system.plane.db), slack.mark()
    forged = slack.mention(world.ada, channel, "#script text text=forged")
    for options in ({"signing_secret": "not-the-signing-secret"}, {"timestamp": int(time.time()) - 600},
                    {"sign": False}):
        refused = await system.deliver(forged, **options)
        assert refused.status == 401, (options, refused.status, refused.body)
    unsigned_click = await system.click(user=world.ada, action_id=CREATE_PULL_REQUEST, value="a-session",
                                        channel=channel.id, sign=False)
    assert unsigned_click.status == 401
    assert await every_row(system.plane.db) == before
    assert system.calls_since(mark) == []
    assert not system.eyes(channel.id, forged["ts"])

    # A mention, with Slack throttling the first status update: 👀 at once; Slack's three retries of
    # the delivery are answered and change nothing.
    slack.rate_limit("chat.update", count=1, retry_after=1)
    mention = slack.mention(world.ada, channel, "#script slack-blue-widgets make the widgets blue")
    first = await system.deliver(mention)
    assert first.status == 200, first.body
    for retry in (1, 2, 3):
        again = await system.deliver(mention, event_id=first.event_id, retry_num=retry)
        assert again.status == 200, again.body
    await wait_until(lambda: system.eyes(channel.id, mention["ts"]), "👀 on the mention", explain=system.slack_log)

    # A session on the channel's repository, started from Slack, as Ada.
    session = await system.session_of_thread(channel.id, mention["ts"])
    assert session.source == "slack" and session.created_by == system.ada.id
    assert session.repo_id == await system.repo_id(WIDGETS)
    finished = await system.running.wait_for(session.id, lambda e: e["type"] == "prompt_finished")
    assert finished["data"]["status"] == "completed", finished
    [prompt] = await system.prompts(session.id)  # three retries, one prompt
    assert prompt.author_id == system.ada.id and "#script slack-blue-widgets" in prompt.content
    assert "<@" not in prompt.content  # the bot's mention is not part of the prompt

    # The status message: posted once in the thread, then updated in place through the steps.
    thread = await system.thread_row(session.id)
    assert thread.thread_ts == mention["ts"] and thread.status_ts is not None
    status_ts = thread.status_ts
    [posted] = [c for c in slack.calls("chat.postMessage") if c.ok and c.response.get("ts") == status_ts]
    assert posted.args.get("thread_ts") == mention["ts"], system.slack_log()
    assert system.bot_messages(channel.id, mention["ts"])[0].ts == status_ts  # the thread's first answer
    await wait_until(lambda: re.search(r"(?i)\bdone\b|complete", rendered(world.message(channel.id, status_ts))),
                     "the status message says the turn is done",
                     explain=lambda: system.thread_log(channel.id, mention["ts"]))
    updates = slack.calls("chat.update")
    assert {(c.args["channel"], c.args["ts"]) for c in updates} == {(channel.id, status_ts)}  # all in place
    assert updates[0].status == 429 and updates[1].ok, system.slack_log()  # throttled, and it went on
    shown = [rendered(posted.args)] + [rendered(c.args) for c in updates if c.ok]
    steps = [_first(shown, pattern) for pattern in (r"starting a sandbox", r"setting up", r"working.*bash", r"done")]
    assert steps[0] == 0 and steps == sorted(steps), shown  # spawning → setting up → working → done
    assert WIDGETS in shown[-1] and f"<@{world.ada.id}>" in shown[-1], shown[-1]  # the repository, who asked

    # The completion reply: the summary, the file changed, "Create pull request" and "View session".
    reply = await system.bot_message(channel.id, mention["ts"], lambda m: element(m, CREATE_PULL_REQUEST) is not None,
                                     "the completion reply with a Create pull request button")
    text = rendered(reply)
    assert SUMMARY in text and "WIDGETS.md" in text and "Make the widgets blue" in text, text
    assert element(reply, CREATE_PULL_REQUEST)["value"] == session.id  # type: ignore[index]
    view = element(reply, VIEW_SESSION)
    assert view is not None and view["url"].endswith(f"/sessions/{session.id}"), view

    # The button opens the pull request in GitHub (the App opens it for Ada, who has no GitHub token);
    # the thread says so with the link.
    clicked = await system.click(user=world.ada, action_id=CREATE_PULL_REQUEST, value=session.id,
                                 channel=channel.id, message_ts=reply.ts, thread_ts=mention["ts"])
    assert clicked.status == 200, clicked.body
    [pull] = await wait_until(lambda: system.gh.pulls("acme", "widgets"), "a pull request in GitHub")
    session = await system.session(session.id)
    assert pull["head"]["ref"] == session.work_branch and pull["state"] == "open"
    await system.bot_message(channel.id, mention["ts"], lambda m: pull["html_url"] in rendered(m),
                             "the pull request's link in the thread")
    opened = await system.running.wait_for(session.id, lambda e: e["type"] == "pull_request")
    assert opened["data"]["requested_by"]["id"] == system.ada.id
    assert opened["data"]["opened_as"] == "app"  # Ada has no GitHub token: the App opens it for her

    # A reply in the thread is a follow-up in the same session, run while Slack is down; once Slack
    # is back, the thread catches up.
    follow_up = slack.thread_reply(world.ada, channel, mention["ts"], "#script slack-follow-up check them again")
    assert (await system.deliver(follow_up)).status == 200
    await wait_until(lambda: system.eyes(channel.id, follow_up["ts"]), "👀 on the thread reply")
    slack.down("503")
    try:
        prompts = await wait_until(lambda: _two(system, session.id), "the follow-up queued in the same session")
        done = await system.running.wait_for(
            session.id, lambda e: e["type"] == "prompt_finished" and e["message_id"] == prompts[1].id)
        assert done["data"]["status"] == "completed", done  # Slack being down never stops a session
    finally:
        slack.up()
    assert prompts[1].author_id == system.ada.id and prompts[1].source == "slack"
    assert [s.id for s in await system.sessions()] == [session.id]
    await system.bot_message(channel.id, mention["ts"], lambda m: "still blue" in rendered(m),
                             "the follow-up's reply, once Slack is back")
    assert any("slack.update_failed" in f"{r.getMessage()} {vars(r)!r}" for r in caplog.records), \
        "a Slack outage is logged as a warning"

    # A prompt sent through the API (not Slack) appears in the thread, attributed.
    await system.running.prompt(session.id, "#script text text=sent-through-the-api")
    await system.bot_message(channel.id, mention["ts"],
                             lambda m: "sent-through-the-api" in rendered(m) and system.ada.name in rendered(m),
                             "the API prompt mirrored in the thread, attributed")

    # No Slack secret in any log line, event, row, file of the data directory or sandbox process.
    assert await system.leaks(session.id, caplog.records) == []


async def _two(system: SlackSystem, session_id: str) -> list[Message] | None:
    prompts = await system.prompts(session_id)
    return prompts if len(prompts) >= 2 else None


def _first(texts: list[str], pattern: str) -> int:
    """Where ``pattern`` first shows in ``texts`` (a failure if never)."""
    found = [n for n, text in enumerate(texts) if re.search(pattern, text, re.IGNORECASE | re.DOTALL)]
    assert found, f"{pattern!r} never shown: {texts}"
    return found[0]
