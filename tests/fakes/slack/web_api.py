"""The Web API methods the app uses, over the world: arguments in, Slack's answer out.

Each handler takes the parsed arguments (query string, form or JSON body, merged) and returns the
JSON answer; ``SlackError`` is Slack's ``{"ok": false, "error": ...}`` (HTTP 200, as Slack sends it).
Shapes follow @slack/web-api's ``<Method>Response`` types (test_fidelity_web_api.py checks them).
Token rules: ``apps.connections.open`` takes only the app-level token (``xapp-``), every other method
only the bot token (``xoxb-``); a missing token is ``not_authed``, an unknown one ``invalid_auth``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .world import SlackChannel, SlackMessage, SlackUser, SlackWorld

if TYPE_CHECKING:
    from .fake import FakeSlack

# Arguments Slack takes as JSON strings in form bodies (slack_sdk sends them so for some methods).
JSON_ARGUMENTS = ("blocks", "attachments", "metadata", "users")


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Call:
    """One Web API request as the handler sees it."""

    method: str
    args: dict[str, Any]
    token: str | None


Handler = Callable[["FakeSlack", Call], dict[str, Any]]


def parse_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """Form values of JSON-valued arguments decoded (``blocks='[...]'`` → list), as Slack does."""
    out = dict(args)
    for key in JSON_ARGUMENTS:
        value = out.get(key)
        if isinstance(value, str) and value.strip().startswith(("[", "{")):
            try:
                out[key] = json.loads(value)
            except ValueError as exc:
                raise SlackError(f"invalid_{key}") from exc
    return out


# -- shapes


def user_shape(world: SlackWorld, user: SlackUser) -> dict[str, Any]:
    """``users.info``' ``user`` (fields of @slack/web-api ``UsersInfoResponse.User``)."""
    first, _, last = user.real_name.partition(" ")
    profile: dict[str, Any] = {
        "title": "", "phone": "", "skype": "", "real_name": user.real_name,
        "real_name_normalized": user.real_name, "display_name": user.display_name,
        "display_name_normalized": user.display_name, "status_text": "", "status_emoji": "",
        "status_expiration": 0, "avatar_hash": "g" + user.id[-11:].lower(), "first_name": first,
        "last_name": last, "image_24": "", "image_32": "", "image_48": "", "image_72": "", "image_192": "",
        "image_512": "", "team": world.team_id,
    }
    if user.email is not None:
        profile["email"] = user.email
    if user.is_bot:
        profile["bot_id"] = user.bot_id
        profile["api_app_id"] = world.app_id
        profile["always_active"] = True
    return {
        "id": user.id, "team_id": world.team_id, "name": user.name, "deleted": user.deleted, "color": "9f69e7",
        "real_name": user.real_name, "tz": "Europe/Lisbon", "tz_label": "Western European Time",
        "tz_offset": 0, "profile": profile, "is_admin": False, "is_owner": False, "is_primary_owner": False,
        "is_restricted": False, "is_ultra_restricted": False, "is_bot": user.is_bot, "is_app_user": False,
        "updated": user.updated, "is_email_confirmed": user.is_email_confirmed,
        "who_can_share_contact_card": "EVERYONE",
    }


def channel_shape(world: SlackWorld, channel: SlackChannel) -> dict[str, Any]:
    """``conversations.info``' ``channel`` (fields of @slack/web-api ``ConversationsInfoResponse.Channel``)."""
    if channel.is_im:
        return {"id": channel.id, "created": channel.created, "is_archived": False, "is_im": True,
                "is_org_shared": False, "context_team_id": world.team_id, "updated": channel.created * 1000,
                "is_open": True, "last_read": "0000000000.000000"}
    return {
        "id": channel.id, "name": channel.name, "is_channel": not channel.is_private, "is_group": False,
        "is_im": False, "is_mpim": False, "is_private": channel.is_private, "created": channel.created,
        "is_archived": False, "is_general": channel.name == "general", "unlinked": 0,
        "name_normalized": channel.name, "is_shared": False, "is_org_shared": False,
        "is_pending_ext_shared": False, "pending_shared": [], "context_team_id": world.team_id,
        "updated": channel.created * 1000, "creator": channel.creator, "is_ext_shared": False,
        "shared_team_ids": [world.team_id], "pending_connected_team_ids": [], "is_member": True,
        "last_read": "0000000000.000000",
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": [],
    }


# -- argument helpers


def _required(call: Call, name: str) -> str:
    value = call.args.get(name)
    if value is None or value == "":
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": [f"[ERROR] missing required field: {name}"]})
    return str(value)


def _channel(fake: FakeSlack, call: Call) -> SlackChannel:
    channel_id = _required(call, "channel")
    channel = fake.world.channel(channel_id)
    if channel is None:
        # chat.postMessage accepts a user id for the user's DM with the bot.
        user = fake.world.user(channel_id)
        if user is not None and call.method in ("chat.postMessage", "conversations.open"):
            return fake.world.im_with(user)
        raise SlackError("channel_not_found")
    return channel


def _fill_block_ids(blocks: Any) -> list[dict[str, Any]] | None:
    """Slack gives every block without one a ``block_id`` (messages come back with them)."""
    if blocks is None:
        return None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
        raise SlackError("invalid_blocks")
    out = []
    for block in blocks:
        block = dict(block)
        block.setdefault("block_id", secrets.token_hex(3))
        out.append(block)
    return out


def _text_and_blocks(call: Call) -> tuple[str, list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    text = call.args.get("text")
    blocks = _fill_block_ids(call.args.get("blocks"))
    attachments = call.args.get("attachments")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    return str(text or ""), blocks, attachments if isinstance(attachments, list) else None


def _message(fake: FakeSlack, channel: SlackChannel, ts: str) -> SlackMessage:
    message = fake.world.message(channel.id, ts)
    if message is None:
        raise SlackError("message_not_found")
    return message


# -- methods


def auth_test(fake: FakeSlack, call: Call) -> dict[str, Any]:
    world = fake.world
    return {"ok": True, "url": fake.base_url, "team": world.team_name, "user": world.bot.name,
            "team_id": world.team_id, "user_id": world.bot_user_id, "bot_id": world.bot_id,
            "is_enterprise_install": False}


def chat_post_message(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    text, blocks, attachments = _text_and_blocks(call)
    thread_ts = call.args.get("thread_ts") or None
    world = fake.world
    if thread_ts is not None:
        parent = world.message(channel.id, str(thread_ts))
        if parent is None:
            # Slack posts a reply to an unknown thread_ts as... an error for a ts that is no message.
            raise SlackError("thread_not_found")
        if parent.is_reply:  # replying to a reply joins its thread, as Slack does
            thread_ts = parent.thread_ts
    message = world.post(channel.id, world.bot_user_id, text, blocks=blocks, attachments=attachments,
                         thread_ts=str(thread_ts) if thread_ts else None)
    return {"ok": True, "channel": channel.id, "ts": message.ts,
            "message": message.to_api(world.bot_profile())}


def chat_update(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    message = _message(fake, channel, _required(call, "ts"))
    world = fake.world
    if message.user != world.bot_user_id:
        raise SlackError("cant_update_message")
    text, blocks, attachments = call.args.get("text"), call.args.get("blocks"), call.args.get("attachments")
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    with world.lock:
        if text is not None:
            message.text = str(text)
        if blocks is not None:
            message.blocks = _fill_block_ids(blocks)
        if attachments is not None:
            message.attachments = attachments if isinstance(attachments, list) else None
        message.edited += 1
        message.edited_ts = world.next_ts()
    return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text,
            "message": message.to_api(world.bot_profile(), for_update=True)}


def chat_post_ephemeral(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    user_id = _required(call, "user")
    if fake.world.user(user_id) is None:
        raise SlackError("user_not_found")
    text, blocks, attachments = _text_and_blocks(call)
    thread_ts = call.args.get("thread_ts") or None
    message = fake.world.post(channel.id, fake.world.bot_user_id, text, blocks=blocks, attachments=attachments,
                              ephemeral_for=user_id)
    message.thread_ts = str(thread_ts) if thread_ts else None
    return {"ok": True, "message_ts": message.ts}


def chat_delete(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    ts = _required(call, "ts")
    message = _message(fake, channel, ts)
    if message.user != fake.world.bot_user_id:
        raise SlackError("cant_delete_message")
    fake.world.delete(channel.id, ts)
    return {"ok": True, "channel": channel.id, "ts": ts}


def chat_get_permalink(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    ts = _required(call, "message_ts")
    message = _message(fake, channel, ts)
    link = f"{fake.base_url}archives/{channel.id}/p{ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"ok": True, "channel": channel.id, "permalink": link}


def reactions_add(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    name = _required(call, "name").strip(":")
    message = _message(fake, channel, _required(call, "timestamp"))
    if not name or " " in name:
        raise SlackError("invalid_name")
    with fake.world.lock:
        users = message.reactions.setdefault(name, [])
        if fake.world.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(fake.world.bot_user_id)
    return {"ok": True}


def reactions_remove(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    name = _required(call, "name").strip(":")
    message = _message(fake, channel, _required(call, "timestamp"))
    with fake.world.lock:
        users = message.reactions.get(name, [])
        if fake.world.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.remove(fake.world.bot_user_id)
        if not users:
            del message.reactions[name]
    return {"ok": True}


def users_info(fake: FakeSlack, call: Call) -> dict[str, Any]:
    user = fake.world.user(_required(call, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"ok": True, "user": user_shape(fake.world, user)}


def users_lookup_by_email(fake: FakeSlack, call: Call) -> dict[str, Any]:
    user = fake.world.user_by_email(_required(call, "email"))
    if user is None:
        raise SlackError("users_not_found")
    return {"ok": True, "user": user_shape(fake.world, user)}


def conversations_info(fake: FakeSlack, call: Call) -> dict[str, Any]:
    return {"ok": True, "channel": channel_shape(fake.world, _channel(fake, call))}


def conversations_open(fake: FakeSlack, call: Call) -> dict[str, Any]:
    if call.args.get("channel"):
        channel = _channel(fake, call)
    else:
        users = [u for u in str(call.args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("not_enough_users" if not users else "invalid_arguments")
        if fake.world.user(users[0]) is None:
            raise SlackError("user_not_found")
        channel = fake.world.im_with(users[0])
    return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel.id}}


def conversations_replies(fake: FakeSlack, call: Call) -> dict[str, Any]:
    channel = _channel(fake, call)
    ts = _required(call, "ts")
    world = fake.world
    message = world.message(channel.id, ts)
    if message is None:
        raise SlackError("thread_not_found")
    root = message.thread_ts if message.is_reply and message.thread_ts else ts
    thread = world.thread(channel.id, root) or [message]
    limit = int(call.args.get("limit") or 1000)
    oldest = float(call.args.get("oldest") or 0)
    inclusive = str(call.args.get("inclusive", "")).lower() in ("1", "true")
    kept = [m for i, m in enumerate(thread)
            if i == 0 or float(m.ts) > oldest or (inclusive and float(m.ts) == oldest)]
    page = kept[:limit]
    return {"ok": True, "messages": [m.to_api(world.bot_profile()) for m in page], "has_more": len(kept) > limit,
            "response_metadata": {"next_cursor": ""}}


def apps_connections_open(fake: FakeSlack, call: Call) -> dict[str, Any]:
    return {"ok": True, "url": fake.socket_mode_url()}


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.delete": chat_delete,
    "chat.getPermalink": chat_get_permalink,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "conversations.info": conversations_info,
    "conversations.open": conversations_open,
    "conversations.replies": conversations_replies,
    "apps.connections.open": apps_connections_open,
}
APP_TOKEN_METHODS = {"apps.connections.open"}


def check_token(fake: FakeSlack, method: str, token: str | None) -> None:
    if not token:
        raise SlackError("not_authed")
    if token not in (fake.bot_token, fake.app_token):
        raise SlackError("invalid_auth")
    wants_app = method in APP_TOKEN_METHODS
    if (token == fake.app_token) != wants_app:
        raise SlackError("not_allowed_token_type")


def run(fake: FakeSlack, call: Call) -> dict[str, Any]:
    """The JSON answer to one call (errors as Slack renders them)."""
    handler = METHODS.get(call.method)
    try:
        if handler is None:
            raise SlackError("unknown_method", req_method=call.method)
        check_token(fake, call.method, call.token)
        call.args = parse_arguments(call.args)
        return handler(fake, call)
    except SlackError as exc:
        return {"ok": False, "error": exc.error, **exc.extra}
