"""Slack and the web, end to end: the suite's system (the README's run command, ``web_system``) runs
its Slack bot in the web process, its Web API pointed at the fake Slack; Slack posts signed
deliveries to ``/slack/events`` through the web's own HTTP boundary; Ada is in Chromium.

Ada associates ``#webapp`` with the web app's repository on the settings page. Her mention there
starts a session that appears on the sessions list with its Slack badge and that she follows live
on its page (the agent's tool call runs until the test lets it go; the page goes on by itself);
the page links to the Slack thread. A prompt she types on the page appears in the thread,
attributed to her, and so does its answer. The agent prints the suite's global canary: the thread
shows only its mark. Slack's bot token and signing secret are canaries too (``e2e_slack``), so
``test_zz_leaks`` searches every log, row, file and page of the suite for them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Person, WebSystem, screenshot
from tests.e2e.leak_watch import GLOBAL_CANARY, LeakWatch
from tests.e2e.test_multiplayer import READY, prompt_entry, send
from tests.fakes.scripted_model import ScriptContext, ScriptedModel, TextReply, ToolCallSpec, ToolReply
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.support import leaks
from tests.support.slack_system import rendered

WAIT_SECONDS = 90
GO_FILE = "slack-go"  # the agent's command waits for it in its repository (the test writes it)
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """An async call of the fake Slack, from this thread (Playwright's sync API runs a loop here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def waited(check: Callable[[], T | None], what: str, explain: Callable[[], str] = lambda: "") -> T:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {WAIT_SECONDS} s\n{explain()}")


def held_turn(ctx: ScriptContext) -> TextReply | ToolReply:
    """Prints the global canary, then holds until the test writes GO_FILE (the page is seen live)."""
    if ctx.step == 0:
        command = (f'echo "global=${GLOBAL_CANARY}"; '
                   f"for i in $(seq 600); do [ -f {GO_FILE} ] && break; sleep 0.1; done; echo released")
        return ToolReply((ToolCallSpec("bash", {"command": command}),), text="Looking around first.")
    return TextReply(f"Finished: {ctx.last_tool_output.strip()[:120]}")


def associate_on_settings_page(page: Page, base_url: str, channel_id: str, repo: str) -> None:
    """The settings page's Slack section: #webapp works on the web app's repository."""
    page.goto(base_url + "/settings")
    page.fill("#slack-channel-id", channel_id)
    page.fill("#slack-channel-name", "webapp")
    option = page.locator("#slack-channel-repo option", has_text=repo)
    expect(option).to_have_count(1)
    page.locator("#slack-channel-repo").select_option(value=option.get_attribute("value"))
    page.click("#slack-set-channel")
    expect(page.locator(".slack-channel-row", has_text=channel_id).locator(".slack-channel-repo")).to_contain_text(repo)


def test_a_session_started_in_slack_is_followed_on_the_web(  # type: ignore[no-untyped-def]
        people, web_system: WebSystem, e2e_slack: FakeSlack, scripted_model: ScriptedModel,
        leak_watch: LeakWatch) -> None:
    slack, world = e2e_slack, e2e_slack.world
    scripted_model.register("slack-held-turn", held_turn)
    events_url = f"{web_system.base_url}/slack/events"
    channel = world.add_channel("webapp")
    ada: Person = people("Ada Lovelace", "ada@example.com")

    page = ada.page()
    associate_on_settings_page(page, web_system.base_url, channel.id, web_system.repo.name)

    # The mention: 👀, and a session Ada sees on her list with the Slack badge.
    page.goto(web_system.base_url + "/")
    mention = slack.mention(world.ada, channel, "#script slack-held-turn")
    answer = run(slack.deliver_event(events_url, mention))
    assert answer.status == 200, answer.body

    def thread() -> list[SlackMessage]:
        return world.thread(channel.id, mention["ts"])

    def thread_log() -> str:
        return "\n".join(f"{m.ts} {m.user or m.bot_id}: {rendered(m)[:300]!r}" for m in thread())

    waited(lambda: slack.bot_user_id in world.reactions(channel.id, mention["ts"]).get("eyes", []), "👀")
    row = page.locator(".session-row", has=page.locator(".session-source[data-source=slack]"))
    expect(row).to_have_count(1)
    screenshot(page, "slack-sessions-list")
    row.click()
    expect(page).to_have_url(re.compile(r".*/sessions/[0-9a-f]{32}$"))
    session_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#session-source")).to_have_text("Slack")
    expect(page.locator("#slack-thread")).to_have_attribute(
        "href", f"https://slack.com/archives/{channel.id}/p{mention['ts'].replace('.', '')}")

    # Live: the prompt runs (the tool holds), then — once let go — completes on the page without a reload.
    first = prompt_entry(page, "slack-held-turn")
    expect(first.locator(".entry-author")).to_have_text("Ada Lovelace")
    expect(first.locator(".entry-status")).to_have_text("running")
    expect(page.locator(".agent-text", has_text="Looking around first.")).to_be_visible()
    expect(page.locator(".timeline-entry[data-kind=tool]", has_text="bash")).to_be_visible()
    screenshot(page, "slack-session-live")
    (web_system.data_dir / "workspaces" / session_id / "repo" / GO_FILE).write_text("go\n")
    expect(first.locator(".entry-status")).to_have_text("completed")
    expect(page.locator("#session-status")).to_have_text(READY)
    reply = waited(lambda: next((m for m in thread() if "Finished:" in rendered(m)), None),
                   "the completion reply in the thread", thread_log)
    assert f"[secret:{GLOBAL_CANARY}]" in rendered(reply), rendered(reply)

    # A prompt typed on the page appears in the thread, attributed to Ada, and so does its answer.
    send(page, "#script text text=typed-on-the-web")
    waited(lambda: next((m for m in thread() if "typed-on-the-web" in rendered(m)
                         and "Ada Lovelace" in rendered(m)), None),
           "the web prompt mirrored in the thread, attributed", thread_log)
    expect(prompt_entry(page, "typed-on-the-web").locator(".entry-status")).to_have_text("completed")
    screenshot(page, "slack-session-done")

    # Nothing secret reached Slack: the canaries (marks only) and the Slack secrets themselves.
    canaries = list(leak_watch.canaries)
    sent = [(f"Slack call {c.index} {c.method}", json.dumps(c.args, default=str)) for c in slack.calls()]
    sent += [(f"message {m.ts}", rendered(m)) for m in thread()]
    assert leaks.in_texts(sent, canaries) == []
    assert leaks.in_texts([("the session page", page.content())], canaries) == []
