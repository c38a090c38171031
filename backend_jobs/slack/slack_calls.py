"""The reporter's two Web API calls, and what each failure means for a thread.

Owns the translation of slack-sdk's exceptions into a :class:`Result` the
reporter can act on (:func:`classify`, pure) and the per-method quiet time a
429 asks for: after ``Retry-After: N`` no call of that method is made for N
seconds, by any thread (Slack's limits are per method and workspace). The
client's own retry handlers (``web_client.py``) have already waited out short
limits and retried refused connections before an error gets here. What to do
next (wait, repost, give up on a thread) is the reporter's.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from backend_jobs.slack.status_blocks import SlackMessage

POST, UPDATE = "chat.postMessage", "chat.update"
DEFAULT_RETRY_AFTER_SECONDS = 1.0  # a 429 without a usable Retry-After
MAX_RETRY_AFTER_SECONDS = 600.0  # a Retry-After beyond this is taken as this (a typo must not silence us for days)


class Outcome(enum.Enum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"  # wait Retry-After, then again
    UNAVAILABLE = "unavailable"  # Slack down, unreachable, or the token refused: back off, catch up later
    THREAD_GONE = "thread_gone"  # the channel is gone or closed to the bot: nothing more can be said there
    MESSAGE_GONE = "message_gone"  # the message to update was deleted (or is too old): post a new one
    REFUSED = "refused"  # Slack refused this message itself (a bug of ours): drop it, go on


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    ts: str | None = None  # the posted message's
    error: str = ""  # Slack's error code, or the exception's type and text
    retry_after_seconds: float = 0.0


# Slack's error codes (https://api.slack.com/methods/chat.postMessage, .../chat.update), by what they mean here.
_THREAD_GONE = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "thread_not_found", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "team_access_not_granted", "ekm_access_denied",
})
_MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
_UNAVAILABLE = frozenset({
    "fatal_error", "internal_error", "service_unavailable", "request_timeout", "team_added_to_org",
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "ratelimited", "rate_limited",
})


def classify(error: BaseException) -> Result:
    """What a failed call means (pure: for an exception slack-sdk or aiohttp raised)."""
    if isinstance(error, SlackApiError):
        response: Any = error.response
        status = int(getattr(response, "status_code", 0) or 0)
        code = _error_code(response)
        if status == 429 or code in ("ratelimited", "rate_limited"):
            return Result(Outcome.RATE_LIMITED, error=code or "ratelimited",
                          retry_after_seconds=_retry_after(getattr(response, "headers", None)))
        if status >= 500 or code in _UNAVAILABLE or not code:
            return Result(Outcome.UNAVAILABLE, error=code or f"http_{status}")
        if code in _THREAD_GONE:
            return Result(Outcome.THREAD_GONE, error=code)
        if code in _MESSAGE_GONE:
            return Result(Outcome.MESSAGE_GONE, error=code)
        return Result(Outcome.REFUSED, error=code)
    if isinstance(error, (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return Result(Outcome.UNAVAILABLE, error=f"{type(error).__name__}: {error}"[:300])
    raise error  # anything else is a bug, not Slack: the caller's own handler logs it


def _error_code(response: Any) -> str:
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        value = data.get("error")
        return value if isinstance(value, str) else ""
    return ""


def _retry_after(headers: Any) -> float:
    value = None
    if headers is not None:
        try:
            value = headers.get("Retry-After") or headers.get("retry-after")
        except AttributeError:
            value = None
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except (TypeError, ValueError):
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class SlackCalls:
    """chat.postMessage and chat.update, each a :class:`Result`, with a quiet time per method after a 429."""

    def __init__(self, client: AsyncWebClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._quiet_until: dict[str, float] = {}

    def quiet_seconds(self, method: str) -> float:
        """How long ``method`` must wait still (0: it may be called now)."""
        return max(0.0, self._quiet_until.get(method, 0.0) - self._clock())

    async def post(self, channel: str, thread_ts: str, message: SlackMessage) -> Result:
        return await self._call(POST, channel=channel, thread_ts=thread_ts, text=message.text,
                                blocks=message.blocks, unfurl_links=False, unfurl_media=False)

    async def update(self, channel: str, ts: str, message: SlackMessage) -> Result:
        return await self._call(UPDATE, channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    async def _call(self, method: str, **arguments: Any) -> Result:
        wait = self.quiet_seconds(method)
        if wait > 0:
            return Result(Outcome.RATE_LIMITED, error="ratelimited", retry_after_seconds=wait)
        try:
            if method == POST:
                response = await self._client.chat_postMessage(**arguments)
            else:
                response = await self._client.chat_update(**arguments)
        except Exception as error:  # classify() re-raises what is not Slack's
            result = classify(error)
            if result.outcome is Outcome.RATE_LIMITED:
                self._quiet_until[method] = max(self._quiet_until.get(method, 0.0),
                                                self._clock() + result.retry_after_seconds)
            return result
        ts = response.get("ts")
        return Result(Outcome.OK, ts=ts if isinstance(ts, str) else None)
