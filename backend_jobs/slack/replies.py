"""The ingress's calls to Slack: a reply in a thread, a message only one person sees, 👀, an edit.

Owns one rule: Slack failing never fails the request being handled. Every call returns what it
made (a message ts) or None, and a refusal or an outage is logged (``slack.call_failed``, the
method and Slack's error code — never the token or the text) for the request to go on without it.
Retries (connection errors, short 429s) are the client's (:mod:`.web_client`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from openinspect_protocol.logs import EventLog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from backend_jobs.slack.web_client import SLACK_FAILURES

log = EventLog(__name__)

EYES = "eyes"  # 👀: "I have seen it", at once, before anything slow
HARMLESS_ERRORS = ("already_reacted",)  # a redelivery reacting again: the reaction is there


def error_code(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        data = getattr(error.response, "data", None)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return str(data["error"])
        return f"http_{getattr(error.response, 'status_code', 'error')}"
    return type(error).__name__


class Replies:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def _call(self, method: str, call: Awaitable[AsyncSlackResponse],
                    channel: str | None = None) -> dict[str, Any] | None:
        try:
            response = await call
        except SLACK_FAILURES as error:
            code = error_code(error)
            if code not in HARMLESS_ERRORS:
                log.warning("slack.call_failed", method=method, error=code, channel_id=channel)
            return None
        data = response.data
        return data if isinstance(data, dict) else None

    async def post(self, channel: str, thread_ts: str, text: str,
                   blocks: list[dict[str, Any]] | None = None) -> str | None:
        """A reply in the thread; its ts, or None when Slack did not take it."""
        data = await self._call("chat.postMessage", self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False), channel)
        return str(data["ts"]) if data and isinstance(data.get("ts"), str) else None

    async def ephemeral(self, channel: str, user: str, thread_ts: str | None, text: str,
                        blocks: list[dict[str, Any]] | None = None) -> str | None:
        """A message only ``user`` sees (in the thread when given)."""
        data = await self._call("chat.postEphemeral", self.client.chat_postEphemeral(
            channel=channel, user=user, thread_ts=thread_ts, text=text, blocks=blocks), channel)
        return str(data["message_ts"]) if data and isinstance(data.get("message_ts"), str) else None

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
        return await self._call("chat.update", self.client.chat_update(channel=channel, ts=ts, text=text,
                                                                          blocks=blocks), channel) is not None

    async def seen(self, channel: str, ts: str) -> None:
        """👀 on the person's message."""
        await self._call("reactions.add", self.client.reactions_add(channel=channel, timestamp=ts, name=EYES), channel)

    async def user_info(self, user: str) -> dict[str, Any] | None:
        """``users.info``'s user object (``profile.email``, ``is_email_confirmed``, ``is_bot``), or None."""
        data = await self._call("users.info", self.client.users_info(user=user))
        found = data.get("user") if data else None
        return found if isinstance(found, dict) else None
