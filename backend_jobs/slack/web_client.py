"""The bot's one Slack Web API client: slack_sdk's ``AsyncWebClient`` at the configured API URL.

Owns how a call survives a bad moment: a connection that fails is tried again (with backoff), and a
429 waits for Slack's ``Retry-After`` — but only a bounded number of times and never longer than
:data:`MAX_RETRY_AFTER_SECONDS`, so a caller (the reporter, the ingress) gets the error back and
decides itself instead of hanging. What a failed call means is left to the callers.

Every part of the bot (slack-bolt's per-request clients copy this one's base URL and retry handlers,
the Socket Mode client's ``apps.connections.open``, the reporter) calls Slack through it, so nothing
reaches another URL than ``OPENINSPECT_SLACK_API_URL``.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from openinspect_core.settings import Settings

CALL_TIMEOUT_SECONDS = 15  # one Web API call; Slack answers in well under a second when it is up
CONNECTION_RETRIES = 1  # a refused or reset connection: tried once more (after about 0.5 s)
RATE_LIMIT_RETRIES = 2  # a 429: waited out twice at most, then the caller gets the error
MAX_RETRY_AFTER_SECONDS = 30  # a longer Retry-After is the caller's to handle (it coalesces or gives up)

# What a Web API call raises when Slack refuses it (SlackApiError, a SlackClientError) or cannot be
# reached (aiohttp's errors once the retries are spent, a timeout): callers catch exactly these.
SLACK_FAILURES: tuple[type[BaseException], ...] = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError,
                                                   OSError)


def retry_after_seconds(response: HttpResponse) -> float | None:
    """Slack's ``Retry-After`` (seconds) on a 429, None when absent or unreadable."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return None
    return None


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, bounded: waits Retry-After only when it is short enough.

    slack_sdk's own handler sleeps whatever Slack says; a status update waiting minutes would hold
    the caller (and its thread's newer states) for as long.
    """

    def __init__(self, max_retry_count: int = RATE_LIMIT_RETRIES,
                 max_wait_seconds: float = MAX_RETRY_AFTER_SECONDS) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_seconds(response)
        return wait is None or wait <= self.max_wait_seconds

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        assert response is not None  # _can_retry_async said yes to a response
        wait = retry_after_seconds(response)
        state.next_attempt_requested = True
        await asyncio.sleep((1.0 if wait is None else wait) + random.random() / 4)  # jitter: not all at once
        state.increment_current_attempt()


def retry_handlers() -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES), BoundedRateLimitRetryHandler()]


def make_client(settings: Settings) -> AsyncWebClient:
    """The bot token's client at ``settings.slack_api_url`` (loopback in tests, slack.com otherwise)."""
    assert settings.slack_bot_token is not None, "the Slack bot runs only with a bot token"
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                          timeout=CALL_TIMEOUT_SECONDS, retry_handlers=retry_handlers())
