"""Which Slack payloads the bot reads at all, and what it reads from them (pure: no Slack, no database);
the Block Kit it posts, within Slack's limits; the wording of refusals, escaped."""

from __future__ import annotations

from typing import Any

import pytest

from backend_jobs.slack import actions
from backend_jobs.slack.choice_blocks import (
    MAX_OPTIONS,
    choice_blocks,
    choose_button_action_id,
    is_choose_button,
    link_blocks,
)
from backend_jobs.slack.incoming import clicks_of, message_of
from backend_jobs.slack.texts import refusal
from openinspect_core.services.errors import ServiceError
from openinspect_core.slack.repo_choice import Candidate

BOT = "U0BOT"


def envelope(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "user": "U0ADA", "text": "hello", "ts": "1700000000.000200", "channel": "C0GEN",
            "channel_type": "channel"}
    return {"type": "event_callback", "team_id": "T0TEAM", "event_id": "Ev0001", "event": {**base, **event}}


@pytest.mark.parametrize(("event", "read"), [
    (dict(type="app_mention", text=f"<@{BOT}> fix it"), "new"),
    (dict(type="app_mention", text=f"<@{BOT}> and this", thread_ts="1700000000.000100"), "thread"),
    (dict(channel="D0ADA", channel_type="im", text="fix it"), "dm"),
    (dict(text="sure", thread_ts="1700000000.000100"), "thread"),  # a reply: maybe a session's thread
    (dict(text="sure", thread_ts="1700000000.000100", subtype="thread_broadcast"), "thread"),
    (dict(text="lunch?"), None),  # a top-level channel message (a mention there is its own app_mention)
    (dict(text="done", thread_ts="1700000000.000100", bot_id="B0OTHER"), None),  # another bot
    (dict(text="Working on it", thread_ts="1700000000.000100", user=BOT), None),  # the bot itself
    (dict(subtype="message_changed", thread_ts="1700000000.000100"), None),  # an edit
    (dict(subtype="message_deleted", thread_ts="1700000000.000100"), None),
    (dict(subtype="channel_join", channel_type="im", channel="D0ADA"), None),
    (dict(type="reaction_added"), None),
    (dict(user=None, channel_type="im", channel="D0ADA"), None),
    (dict(channel="C0GEN\nforged", channel_type="im"), None),  # not a Slack id: not Slack's
])
def test_which_messages_the_bot_reads(event: dict[str, Any], read: str | None) -> None:
    incoming = message_of(envelope(**event), bot_user_id=BOT)
    if read is None:
        assert incoming is None
        return
    assert incoming is not None
    request = incoming.request
    assert (request.team_id, request.slack_user_id, request.message_ts) == ("T0TEAM", "U0ADA", "1700000000.000200")
    assert incoming.in_thread == (read == "thread")
    assert incoming.is_dm == (read == "dm")
    # The bot answers in the thread the message is in, or starts one under it.
    assert request.thread_ts == ("1700000000.000100" if read == "thread" else "1700000000.000200")
    assert request.client_request_id == f"slack:{request.channel_id}:1700000000.000200"
    assert incoming.delivery_key == f"message:{request.channel_id}:1700000000.000200"


def test_the_app_mention_and_message_of_one_mention_are_one_delivery() -> None:
    mention = message_of(envelope(type="app_mention", text=f"<@{BOT}> go", thread_ts="1.1"), bot_user_id=BOT)
    message = message_of(envelope(text=f"<@{BOT}> go", thread_ts="1.1"), bot_user_id=BOT)
    assert mention is not None and message is not None
    assert mention.delivery_key == message.delivery_key
    assert mention.mentions_bot and message.mentions_bot


def click_payload(**action: Any) -> dict[str, Any]:
    return {
        "type": "block_actions", "trigger_id": "123.456.abc", "team": {"id": "T0TEAM"},
        "user": {"id": "U0ADA", "team_id": "T0TEAM"}, "channel": {"id": "C0GEN"},
        "container": {"type": "message", "message_ts": "1700000000.000300", "channel_id": "C0GEN"},
        "message": {"ts": "1700000000.000300", "thread_ts": "1700000000.000100"},
        "actions": [{"action_ts": "1700000001.0", "block_id": "p1", **action}],
    }


def test_clicks_read_the_button_value_or_the_selected_option() -> None:
    [button] = clicks_of(click_payload(action_id=choose_button_action_id(2), value="p1:r9", type="button"))
    assert (button.value, button.block_id, button.slack_user_id, button.thread_ts) == (
        "p1:r9", "p1", "U0ADA", "1700000000.000100")
    assert is_choose_button(button.action_id) and not is_choose_button(actions.SELECT_REPO)
    [select] = clicks_of(click_payload(action_id=actions.SELECT_REPO, type="static_select",
                                       selected_option={"value": "r7", "text": {"type": "plain_text", "text": "x"}}))
    assert select.value == "r7"
    assert button.delivery_key != select.delivery_key or button.action_id != select.action_id
    assert clicks_of({**click_payload(action_id="x"), "user": {}}) == []
    assert clicks_of({"type": "view_submission"}) == []


def candidates(count: int) -> list[Candidate]:
    return [Candidate(repo_id=f"r{i}", name=f"repo-{i}", full_name=f"acme/repo-{i}" + "x" * (i // 50 * 80),
                      url=f"https://github.com/acme/repo-{i}") for i in range(count)]


def test_the_choice_stays_within_slacks_limits() -> None:
    every = candidates(140)
    text, blocks = choice_blocks("p1", every[:5], every, slack_user_id="U0ADA", unknown=["acme/<!channel>"])
    [section, actions_block] = blocks
    assert actions_block["block_id"] == "p1"
    elements = actions_block["elements"]
    ids = [e["action_id"] for e in elements]
    assert len(ids) == len(set(ids)) == 6  # Slack refuses a block with the same action_id twice
    assert [e["value"] for e in elements[:5]] == [f"p1:r{i}" for i in range(5)]
    [select] = elements[5:]
    assert len(select["options"]) == MAX_OPTIONS
    assert all(len(o["text"]["text"]) <= 75 for o in select["options"])
    assert "&lt;!channel&gt;" in section["text"]["text"] and "<!channel>" not in text


def test_the_link_prompt_is_a_url_button() -> None:
    _, blocks = link_blocks("https://oi.example/settings/slack/link?code=abc")
    [button] = blocks[1]["elements"]
    assert (button["action_id"], button["url"]) == (actions.LINK_ACCOUNT, "https://oi.example/settings/slack/link?code=abc")


def test_a_refusal_repeats_the_services_message_escaped() -> None:
    said = refusal(ServiceError("repository <!channel> & <https://evil|ok> is not allowed", code="repo_not_allowed"))
    assert "<!channel>" not in said and "<https://" not in said
    assert "&lt;!channel&gt; &amp; &lt;https://evil|ok&gt;" in said
    assert "too many prompts" in refusal(ServiceError("x", code="queue_full"))
