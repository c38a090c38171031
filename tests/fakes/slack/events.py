"""What Slack sends an app: event payloads, the ``event_callback`` envelope, interactive payloads,
and the request signature.

Signing (https://api.slack.com/authentication/verifying-requests-from-slack): ``X-Slack-Signature`` is
``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{raw body}`` keyed with the app's
signing secret. Retries of the Events API carry ``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason``.
Interactive payloads are form-encoded: ``payload=<JSON>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from .world import SlackChannel, SlackMessage, SlackUser, SlackWorld

# Slack still sends the (deprecated) verification token in every payload; apps should ignore it.
VERIFICATION_TOKEN = "fakeVerificationToken0001"


def slack_signature(secret: str, timestamp: str | int, body: bytes | str) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + raw
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None,
                   content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": slack_signature(secret, ts, body), "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}


def new_event_id() -> str:
    return "Ev" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


def _id(value: SlackUser | SlackChannel | str) -> str:
    return value if isinstance(value, str) else value.id


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack's clients attach to what a person types, as events carry it: mentions
    become ``user`` elements, ``<#C…>`` ``channel``, ``<url|label>`` ``link``, the rest ``text``
    (unescaped: the ``text`` field keeps Slack's ``&amp;``/``&lt;``/``&gt;``, rich text does not)."""
    elements: list[dict[str, Any]] = []
    for index, part in enumerate(re.split(r"<([^<>]*)>", text)):
        if index % 2 == 0:
            if part:
                elements.append({"type": "text", "text": html.unescape(part)})
            continue
        target, _, label = part.partition("|")
        if target.startswith("@"):
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#"):
            elements.append({"type": "channel", "channel_id": target[1:]})
        elif target.startswith("!"):
            elements.append({"type": "broadcast", "range": target[1:]})
        else:
            link: dict[str, Any] = {"type": "link", "url": target}
            if label:
                link["text"] = label
            elements.append(link)
    return [{"type": "rich_text", "block_id": secrets.token_urlsafe(4)[:5],
             "elements": [{"type": "rich_text_section", "elements": elements}]}]


def user_message(world: SlackWorld, user: SlackUser | str, channel: SlackChannel | str, text: str, *,
                 thread_ts: str | None = None) -> SlackMessage:
    """Record what a person wrote (so later Web API calls see it) and return it."""
    return world.post(_id(channel), _id(user), text, blocks=rich_text_blocks(text), thread_ts=thread_ts,
                      client_msg_id=str(uuid.uuid4()))


def app_mention_event(world: SlackWorld, message: SlackMessage) -> dict[str, Any]:
    """@slack/types ``AppMentionEvent``."""
    event: dict[str, Any] = {
        "user": message.user, "type": "app_mention", "ts": message.ts, "client_msg_id": message.client_msg_id,
        "text": message.text, "team": world.team_id, "blocks": message.blocks, "channel": message.channel,
        "event_ts": message.ts,
    }
    if message.is_reply:
        event["thread_ts"] = message.thread_ts
    return event


def message_event(world: SlackWorld, message: SlackMessage) -> dict[str, Any]:
    """@slack/types ``GenericMessageEvent`` (no subtype), with ``channel_type`` of the conversation."""
    channel = world.channel(message.channel)
    event: dict[str, Any] = {
        "user": message.user, "type": "message", "ts": message.ts, "client_msg_id": message.client_msg_id,
        "text": message.text, "team": world.team_id, "blocks": message.blocks, "channel": message.channel,
        "event_ts": message.ts, "channel_type": channel.channel_type if channel else "channel",
    }
    if message.is_reply:
        event["thread_ts"] = message.thread_ts
        event["parent_user_id"] = message.parent_user_id
    return event


def event_callback(world: SlackWorld, event: dict[str, Any], *, event_id: str, event_time: int | None = None
                   ) -> dict[str, Any]:
    """The Events API envelope around one event, as Slack posts it to the Request URL (@slack/bolt's
    ``EnvelopedEvent``, which declares ``context_enterprise_id`` an optional string: outside Enterprise Grid
    Slack sends ``null``)."""
    context = {"ci": world.team_id, "ch": event.get("channel", ""), "ts": event.get("event_ts", "")}
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": world.team_id,
        "context_team_id": world.team_id,
        "context_enterprise_id": None,
        "api_app_id": world.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [{"enterprise_id": None, "team_id": world.team_id, "user_id": world.bot_user_id,
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-" + base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("="),
    }


def url_verification_body(challenge: str) -> dict[str, Any]:
    return {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}


def find_element(blocks: list[dict[str, Any]] | None, action_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(block, element) of the interactive element with this ``action_id`` in a message's blocks."""
    for block in blocks or []:
        candidates = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        if isinstance(block.get("element"), dict):
            candidates.append(block["element"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block, element
    return None


def block_actions_payload(world: SlackWorld, *, user: SlackUser, channel: SlackChannel, message: SlackMessage | None,
                          action: dict[str, Any], response_url: str, message_ts: str | None,
                          bot_profile: dict[str, Any]) -> dict[str, Any]:
    """A ``block_actions`` interaction: a person clicked a button / picked an option in a message (@slack/bolt's
    ``BlockAction``, which declares ``enterprise`` an optional object: outside Enterprise Grid Slack sends
    ``null``)."""
    container: dict[str, Any] = {"type": "message", "message_ts": message_ts or world.next_ts(),
                                 "channel_id": channel.id, "is_ephemeral": False}
    if message is not None and message.is_reply:
        container["thread_ts"] = message.thread_ts
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": world.team_id},
        "api_app_id": world.app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        "team": {"id": world.team_id, "domain": world.domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name if not channel.is_im else "directmessage"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    if message is not None:
        payload["message"] = message.to_api(bot_profile)
    return payload


def action_of(element: dict[str, Any] | None, block_id: str, *, action_id: str, value: str | None,
              selected_option: str | None, action_type: str) -> dict[str, Any]:
    """The ``actions[0]`` Slack reports for a clicked button or a picked ``static_select`` option (@slack/bolt's
    ``ButtonAction`` / ``StaticSelectAction``; Slack also reports a button's ``style``, which bolt does not
    declare)."""
    action_ts = f"{time.time():.6f}"
    if selected_option is not None or action_type == "static_select":
        options = _options(element)
        picked = next((o for o in options if o.get("value") == selected_option), None)
        if picked is None:
            picked = {"text": {"type": "plain_text", "text": str(selected_option), "emoji": True},
                      "value": selected_option}
        action: dict[str, Any] = {"type": "static_select", "action_id": action_id, "block_id": block_id,
                                  "selected_option": picked, "action_ts": action_ts}
        if element is not None and "placeholder" in element:
            action["placeholder"] = element["placeholder"]
        return action
    if action_type != "button":
        raise ValueError(f"the fake clicks buttons and picks static_select options, not a {action_type!r}")
    action = {"action_id": action_id, "block_id": block_id, "type": action_type, "action_ts": action_ts}
    # A button always has a label and Slack always reports it (@slack/bolt ``ButtonAction.text``); a forged
    # click has no element to take it from, so it gets one.
    action["text"] = element["text"] if element is not None and "text" in element else \
        {"type": "plain_text", "text": action_id, "emoji": True}
    chosen = value if value is not None else (element or {}).get("value")
    if chosen is not None:
        action["value"] = chosen
    if element is not None and "style" in element:
        action["style"] = element["style"]
    return action


def _options(element: dict[str, Any] | None) -> list[dict[str, Any]]:
    if element is None:
        return []
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def interactive_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("ascii")
