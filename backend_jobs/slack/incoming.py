"""What Slack sent, parsed once at the boundary into typed values: messages worth reading, and clicks.

Owns which Slack payloads the bot looks at all (:func:`message_of`): a person's message — not a
bot's, not the bot's own, not an edit, deletion or join — that is a direct message, mentions the
bot, or replies in a thread. Whether a thread reply belongs to a session is a database question,
left to the ingress. Pure: tested without Slack or a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Message subtypes a person's words come with; every other subtype (message_changed, message_deleted,
# bot_message, channel_join, …) is something that happened, not something asked.
WORDS_SUBTYPES = (None, "file_share", "thread_broadcast")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")  # Slack's ids and timestamps; anything else is not Slack's


@dataclass(frozen=True)
class Request:
    """A person's request in a thread: from a message now, or from a pending request later."""

    team_id: str
    channel_id: str
    thread_ts: str  # the thread the bot answers in (the message itself when it started none)
    message_ts: str  # the person's message (👀 goes on it; its own id makes retries idempotent)
    slack_user_id: str
    text: str  # as Slack sent it (mentions and links in Slack's markup)

    @property
    def client_request_id(self) -> str:
        """One prompt per Slack message, however often it is delivered or resumed."""
        return f"slack:{self.channel_id}:{self.message_ts}"


@dataclass(frozen=True)
class Incoming:
    """A message event the bot may act on."""

    event_id: str
    request: Request
    in_thread: bool  # a reply in an existing thread (it may be a session's)
    is_dm: bool
    mentions_bot: bool

    @property
    def delivery_key(self) -> str:
        """One key per message: a retried delivery and the app_mention + message pair Slack sends for a
        mention in a thread are the same message, handled once."""
        return f"message:{self.request.channel_id}:{self.request.message_ts}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.match(value) else None


def message_of(body: dict[str, Any], *, bot_user_id: str | None) -> Incoming | None:
    """The message of an ``event_callback`` body (an ``app_mention`` or ``message`` event), or None when
    the bot has nothing to do with it."""
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("app_mention", "message"):
        return None
    if event.get("subtype") not in WORDS_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
        return None
    user, channel, ts = _text(event.get("user")), _text(event.get("channel")), _text(event.get("ts"))
    team = _text(body.get("team_id")) or _text(event.get("team")) or ""
    event_id = _text(body.get("event_id")) or f"{channel}-{ts}"
    text = event.get("text")
    if user is None or channel is None or ts is None or user == bot_user_id or not isinstance(text, str):
        return None
    thread_ts = _text(event.get("thread_ts"))
    in_thread = thread_ts is not None and thread_ts != ts
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    mentions_bot = event["type"] == "app_mention" or (bot_user_id is not None and f"<@{bot_user_id}" in text)
    if event["type"] == "message" and not is_dm and not in_thread:
        return None  # a top-level channel message: a mention there comes as its own app_mention
    request = Request(team_id=team, channel_id=channel, thread_ts=thread_ts if in_thread and thread_ts else ts,
                      message_ts=ts, slack_user_id=user, text=text)
    return Incoming(event_id=event_id, request=request, in_thread=in_thread, is_dm=is_dm, mentions_bot=mentions_bot)


@dataclass(frozen=True)
class Click:
    """One action of a ``block_actions`` payload: a button or a select in one of the bot's messages."""

    action_id: str
    block_id: str
    value: str  # the button's value, or the selected option's
    slack_user_id: str
    team_id: str
    channel_id: str
    message_ts: str  # the bot's message that holds the element
    thread_ts: str  # the thread that message is in
    key: str  # one interaction: a double click is two, a redelivery of one is the same

    @property
    def delivery_key(self) -> str:
        return f"click:{self.key}"


def clicks_of(body: dict[str, Any]) -> list[Click]:
    """The actions of a ``block_actions`` payload (usually one); malformed ones are left out."""
    if body.get("type") != "block_actions":
        return []
    user, team, channel = _dict(body.get("user")), _dict(body.get("team")), _dict(body.get("channel"))
    container, message = _dict(body.get("container")), _dict(body.get("message"))
    user_id = _text(user.get("id"))
    channel_id = _text(channel.get("id")) or _text(container.get("channel_id"))
    message_ts = _text(container.get("message_ts")) or _text(message.get("ts"))
    if user_id is None or channel_id is None or message_ts is None:
        return []
    thread_ts = _text(message.get("thread_ts")) or _text(container.get("thread_ts")) or message_ts
    team_id = _text(team.get("id")) or _text(user.get("team_id")) or ""
    clicks = []
    for action in body.get("actions") or []:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            continue
        option = action.get("selected_option")
        value = option.get("value") if isinstance(option, dict) else action.get("value")
        key = _text(body.get("trigger_id")) or _text(action.get("action_ts")) or message_ts
        clicks.append(Click(action_id=action["action_id"], block_id=str(action.get("block_id") or ""),
                            value=value if isinstance(value, str) else "", slack_user_id=user_id, team_id=team_id,
                            channel_id=channel_id, message_ts=message_ts, thread_ts=thread_ts,
                            key=f"{key}:{action['action_id']}"))
    return clicks
