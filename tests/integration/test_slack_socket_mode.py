"""Slack over Socket Mode, end to end: the bot connects to the fake Slack's WebSocket with the
app-level token (no public URL); a direct message names no repository, so the bot asks.

One session: a DM (redelivered once, as Slack does when an ack is late) gets 👀 and a question with
the best candidates as buttons and a select of every repository, and no session yet; Slack refreshes
the connection (the bot reconnects); the click on ``acme/gadgets`` — clicked twice — starts one
session there, whose status message survives a 429 and whose completion reply comes in the DM's
thread (nothing pushed: no pull request button). No Slack secret, the app token included, is in a
log line, an event, a row, a file or the sandbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backend_jobs.slack.actions import CHOOSE_REPO, CREATE_PULL_REQUEST, SELECT_REPO, VIEW_SESSION
from tests.fakes.scripted_model import ScriptContext, ScriptedModel, TextReply
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.support.slack_system import (
    GADGETS,
    WIDGETS,
    SlackSystem,
    element,
    elements,
    rendered,
    slack_system,
    wait_until,
)

ANSWER = "Fixed the typo in the README."


def choose_buttons(message: SlackMessage) -> list[dict[str, Any]]:
    """The candidates' buttons (each its own action id: ``CHOOSE_REPO.<n>``)."""
    return [e for e in elements(message) if e["action_id"].startswith(f"{CHOOSE_REPO}.")]


def readme(ctx: ScriptContext) -> TextReply:
    return TextReply(ANSWER)


@pytest.fixture
async def system(tmp_path: Path, postgres_url: str, scripted_model: ScriptedModel,
                 fake_slack: FakeSlack) -> AsyncIterator[SlackSystem]:
    scripted_model.register("slack-readme", readme)
    async with slack_system(postgres_url, tmp_path, scripted_model, fake_slack, "socket") as running:
        yield running


async def test_a_direct_message_over_socket_mode_asks_which_repository(
        system: SlackSystem, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for name in ("slack_sdk", "slack_bolt", "backend_jobs.slack"):  # what talks to Slack, at its most verbose
        caplog.set_level(logging.DEBUG, logger=name)
    slack, world = system.slack, system.slack.world
    assert slack.socket_connections == 1

    dm = slack.dm(world.ada, "#script slack-readme fix the typo in the readme")
    im, ts = dm["channel"], dm["ts"]
    delivered = await system.deliver(dm)
    assert delivered.acked
    redelivered = await system.deliver(dm, event_id=delivered.event_id, retry_num=1, retry_reason="timeout")
    assert redelivered.acked
    await wait_until(lambda: system.eyes(im, ts), "👀 on the direct message", explain=system.slack_log)

    # Neither rule decides between the two repositories: the bot asks, once, and starts nothing yet.
    question = await system.bot_message(im, ts, lambda m: bool(choose_buttons(m)),
                                        "the repository buttons in the DM's thread")
    widgets_id, gadgets_id = await system.repo_id(WIDGETS), await system.repo_id(GADGETS)
    buttons = choose_buttons(question)
    assert sorted(b["value"].split(":")[1] for b in buttons) == sorted([widgets_id, gadgets_id]), buttons
    select = element(question, SELECT_REPO)
    assert select is not None and select["type"] == "static_select", select
    assert all(name in rendered({"blocks": [select]}) for name in (GADGETS, WIDGETS)), select
    assert len([m for m in system.bot_messages(im, ts) if choose_buttons(m)]) == 1  # asked once
    assert await system.sessions() == []

    # Slack refreshes the Socket Mode connection; the bot reconnects and the click arrives over it.
    await slack.socket_disconnect()
    await slack.wait_for_socket(timeout=30)
    slack.rate_limit("chat.postMessage", count=1, retry_after=1)
    [gadgets] = [b for b in buttons if b["value"].endswith(f":{gadgets_id}")]
    pending_id = gadgets["value"].split(":")[0]
    clicks = await asyncio.gather(*(  # a double click starts one session
        system.click(user=world.ada, action_id=gadgets["action_id"], value=gadgets["value"], channel=im,
                     message_ts=question.ts, thread_ts=ts, block_id=pending_id) for _ in range(2)))
    assert all(click.acked for click in clicks)

    session = await system.session_of_thread(im, ts)
    assert (session.repo_id, session.source, session.created_by) == (gadgets_id, "slack", system.ada.id)
    finished = await system.running.wait_for(session.id, lambda e: e["type"] == "prompt_finished")
    assert finished["data"]["status"] == "completed", finished
    [prompt] = await system.prompts(session.id)
    assert "fix the typo in the readme" in prompt.content and prompt.source == "slack"
    assert [s.id for s in await system.sessions()] == [session.id]
    [too_late] = world.ephemerals(im)  # the second click is told, to the clicker alone, that it came late
    assert too_late.ephemeral_for == world.ada.id, too_late

    thread = await system.thread_row(session.id)
    assert thread.status_ts is not None
    assert any(c.status == 429 for c in slack.calls("chat.postMessage")), system.slack_log()
    reply = await system.bot_message(im, ts, lambda m: ANSWER in rendered(m), "the completion reply in the DM")
    assert element(reply, CREATE_PULL_REQUEST) is None  # nothing was pushed
    view = element(reply, VIEW_SESSION)
    assert view is not None and view["url"].endswith(f"/sessions/{session.id}"), view
    status = world.message(im, thread.status_ts)
    assert status is not None and GADGETS in rendered(status)
    assert await system.leaks(session.id, caplog.records) == []  # the app token's connection included
