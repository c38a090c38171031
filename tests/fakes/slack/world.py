"""The fake Slack's workspace: users, conversations, messages with their ts, reactions.

Everything is guarded by one lock (the server's loop and the test's thread both touch it). Message
timestamps are Slack's ``"<seconds>.<micro>"`` strings, unique and increasing across the workspace,
like the real ones (they are message ids as well as times).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TEAM_DOMAIN = "openinspect-test"


@dataclass
class SlackUser:
    id: str
    name: str
    real_name: str
    email: str | None
    is_email_confirmed: bool
    team_id: str
    is_bot: bool = False
    bot_id: str | None = None
    deleted: bool = False
    updated: int = field(default_factory=lambda: int(time.time()))

    @property
    def display_name(self) -> str:
        return self.name


@dataclass
class SlackChannel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None  # for a direct-message channel: the person (the other side is the bot)
    created: int = field(default_factory=lambda: int(time.time()))
    creator: str = ""

    @property
    def channel_type(self) -> str:
        """What Slack puts in ``channel_type`` of message events."""
        if self.is_im:
            return "im"
        return "group" if self.is_private else "channel"


@dataclass
class SlackMessage:
    ts: str
    channel: str
    user: str
    text: str
    team: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    parent_user_id: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    client_msg_id: str | None = None
    edited: int = 0  # how many times chat.update changed it
    edited_ts: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)  # ts of replies, for a thread's parent
    ephemeral_for: str | None = None

    def to_api(self, bot_profile: dict[str, Any] | None = None, *, for_update: bool = False) -> dict[str, Any]:
        """The message as Web API methods render it (fields as in @slack/web-api's ``MessageElement``)."""
        out: dict[str, Any] = {"user": self.user, "type": "message"}
        if not for_update:
            out["ts"] = self.ts
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
        out["text"] = self.text
        out["team"] = self.team
        if self.bot_id and bot_profile is not None:
            out["bot_profile"] = bot_profile
        if self.edited_ts:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.attachments:
            out["attachments"] = self.attachments
        if self.thread_ts and not for_update:
            out["thread_ts"] = self.thread_ts
            if self.thread_ts == self.ts:
                out["reply_count"] = len(self.replies)
                out["reply_users_count"] = 0
                out["latest_reply"] = self.replies[-1] if self.replies else self.ts
                out["reply_users"] = []
                out["is_locked"] = False
                out["subscribed"] = False
            elif self.parent_user_id:
                out["parent_user_id"] = self.parent_user_id
        if self.reactions and not for_update:
            out["reactions"] = [{"name": name, "users": list(users), "count": len(users)}
                                for name, users in self.reactions.items()]
        return out

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


class SlackWorld:
    """Users, conversations and messages of one workspace (thread-safe)."""

    def __init__(self, team_id: str, *, bot_user_id: str, bot_id: str, app_id: str) -> None:
        self.lock = threading.RLock()
        self.team_id = team_id
        self.team_name = "OpenInspect Test"
        self.domain = TEAM_DOMAIN
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.users: dict[str, SlackUser] = {}
        self.channels: dict[str, SlackChannel] = {}
        self._messages: dict[str, dict[str, SlackMessage]] = {}  # channel -> ts -> message
        self._ephemerals: dict[str, list[SlackMessage]] = {}
        self._ids = itertools.count(1)
        self._last_ts = 0
        self.bot = self._add_user("openinspect", real_name="OpenInspect", email=None, email_confirmed=False,
                                  user_id=bot_user_id, is_bot=True, bot_id=bot_id)
        self.ada = self.add_user("ada", real_name="Ada Lima", email="ada@example.com")
        self.bob = self.add_user("bob", real_name="Bob Stone", email="bob@example.com", email_confirmed=False)
        self.general = self.add_channel("general")

    # -- ids and clock

    def _id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def next_ts(self) -> str:
        with self.lock:
            micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
            self._last_ts = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- people and conversations

    def _add_user(self, name: str, *, real_name: str | None, email: str | None, email_confirmed: bool,
                  user_id: str | None = None, is_bot: bool = False, bot_id: str | None = None) -> SlackUser:
        with self.lock:
            user = SlackUser(user_id or self._id("U"), name, real_name or name.title(), email, email_confirmed,
                             self.team_id, is_bot=is_bot, bot_id=bot_id)
            self.users[user.id] = user
            return user

    def add_user(self, name: str, *, real_name: str | None = None, email: str | None = None,
                 email_confirmed: bool = True, is_bot: bool = False) -> SlackUser:
        return self._add_user(name, real_name=real_name, email=email, email_confirmed=email_confirmed,
                              is_bot=is_bot, bot_id=self._id("B") if is_bot else None)

    def add_channel(self, name: str, *, private: bool = False) -> SlackChannel:
        with self.lock:
            channel = SlackChannel(self._id("G" if private else "C"), name, is_private=private,
                                   creator=self.ada.id if hasattr(self, "ada") else self.bot_user_id)
            self.channels[channel.id] = channel
            self._messages[channel.id] = {}
            return channel

    def im_with(self, user: SlackUser | str) -> SlackChannel:
        """The person's direct-message conversation with the bot (made on first use)."""
        user_id = user if isinstance(user, str) else user.id
        with self.lock:
            for channel in self.channels.values():
                if channel.is_im and channel.im_user == user_id:
                    return channel
            channel = SlackChannel(self._id("D"), user_id, is_im=True, im_user=user_id, creator=user_id)
            self.channels[channel.id] = channel
            self._messages[channel.id] = {}
            return channel

    def user(self, user_id: str) -> SlackUser | None:
        with self.lock:
            return self.users.get(user_id)

    def user_by_email(self, email: str) -> SlackUser | None:
        with self.lock:
            for user in self.users.values():
                if user.email and user.email.lower() == email.lower():
                    return user
            return None

    def channel(self, channel_id: str) -> SlackChannel | None:
        with self.lock:
            return self.channels.get(channel_id)

    # -- messages

    def post(self, channel_id: str, user_id: str, text: str, *, blocks: list[dict[str, Any]] | None = None,
             attachments: list[dict[str, Any]] | None = None, thread_ts: str | None = None,
             client_msg_id: str | None = None, ephemeral_for: str | None = None) -> SlackMessage:
        """Store a message (a person's or the bot's). ``thread_ts`` must name a top-level message."""
        with self.lock:
            user = self.users[user_id]
            ts = self.next_ts()
            parent = None
            if thread_ts is not None:
                parent = self._messages[channel_id].get(thread_ts)
                if parent is None or parent.is_reply:
                    raise KeyError(thread_ts)
            message = SlackMessage(ts, channel_id, user_id, text, self.team_id, blocks=blocks, attachments=attachments,
                                   thread_ts=thread_ts, parent_user_id=parent.user if parent else None,
                                   bot_id=user.bot_id, app_id=self.app_id if user.is_bot else None,
                                   client_msg_id=client_msg_id, ephemeral_for=ephemeral_for)
            if ephemeral_for is None:
                self._messages[channel_id][ts] = message
                if parent is not None:
                    parent.thread_ts = parent.ts
                    parent.replies.append(ts)
            else:
                self._ephemerals.setdefault(channel_id, []).append(message)
            return message

    def message(self, channel_id: str, ts: str) -> SlackMessage | None:
        with self.lock:
            return self._messages.get(channel_id, {}).get(ts)

    def messages(self, channel_id: str) -> list[SlackMessage]:
        """Top-level messages of a conversation, oldest first."""
        with self.lock:
            return sorted((m for m in self._messages.get(channel_id, {}).values() if not m.is_reply),
                          key=lambda m: float(m.ts))

    def thread(self, channel_id: str, thread_ts: str) -> list[SlackMessage]:
        """The thread's parent, then its replies, oldest first (empty when there is no such message)."""
        with self.lock:
            parent = self.message(channel_id, thread_ts)
            if parent is None:
                return []
            return [parent, *(self._messages[channel_id][ts] for ts in parent.replies)]

    def reactions(self, channel_id: str, ts: str) -> dict[str, list[str]]:
        with self.lock:
            message = self.message(channel_id, ts)
            return {k: list(v) for k, v in message.reactions.items()} if message else {}

    def ephemerals(self, channel_id: str) -> list[SlackMessage]:
        with self.lock:
            return list(self._ephemerals.get(channel_id, []))

    def delete(self, channel_id: str, ts: str) -> bool:
        with self.lock:
            message = self._messages.get(channel_id, {}).pop(ts, None)
            if message is None:
                return False
            if message.is_reply and message.thread_ts is not None:
                parent = self._messages[channel_id].get(message.thread_ts)
                if parent is not None and ts in parent.replies:
                    parent.replies.remove(ts)
            return True

    def bot_profile(self) -> dict[str, Any]:
        """``bot_profile`` as messages carry it (fields of @slack/types' ``BotProfile``)."""
        return {"id": self.bot_id, "app_id": self.app_id, "name": self.bot.real_name, "icons": {
            "image_36": "", "image_48": "", "image_72": ""}, "deleted": False, "updated": self.bot.updated,
            "team_id": self.team_id}
