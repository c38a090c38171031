"""What a failed Web API call means to the reporter (slack_calls.classify), from the errors slack-sdk really raises."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from backend_jobs.slack.slack_calls import MAX_RETRY_AFTER_SECONDS, Outcome, classify


def api_error(status: int, data: dict[str, Any] | str, headers: dict[str, str] | None = None) -> SlackApiError:
    """The error slack-sdk raises for an answer (``AsyncSlackResponse.validate``)."""
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url="http://127.0.0.1/api/chat.update",
                                  req_args={}, data=data, headers=headers or {}, status_code=status)  # type: ignore[arg-type]
    return SlackApiError("The request to the Slack API failed.", response)


@pytest.mark.parametrize(("status", "data", "outcome"), [
    (200, {"ok": False, "error": "channel_not_found"}, Outcome.THREAD_GONE),
    (200, {"ok": False, "error": "not_in_channel"}, Outcome.THREAD_GONE),
    (200, {"ok": False, "error": "is_archived"}, Outcome.THREAD_GONE),
    (200, {"ok": False, "error": "message_not_found"}, Outcome.MESSAGE_GONE),
    (200, {"ok": False, "error": "cant_update_message"}, Outcome.MESSAGE_GONE),
    (200, {"ok": False, "error": "invalid_auth"}, Outcome.UNAVAILABLE),  # fixed by an operator: keep trying
    (200, {"ok": False, "error": "internal_error"}, Outcome.UNAVAILABLE),
    (503, "Service Unavailable", Outcome.UNAVAILABLE),
    (200, {"ok": False, "error": "invalid_blocks"}, Outcome.REFUSED),
    (200, {"ok": False, "error": "msg_too_long"}, Outcome.REFUSED),
])
def test_slack_refusals(status: int, data: dict[str, Any] | str, outcome: Outcome) -> None:
    result = classify(api_error(status, data))
    assert result.outcome is outcome
    assert result.error == (data["error"] if isinstance(data, dict) else f"http_{status}")


def test_a_429_carries_its_retry_after() -> None:
    limited = classify(api_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
    assert (limited.outcome, limited.retry_after_seconds) == (Outcome.RATE_LIMITED, 7.0)
    bare = classify(api_error(429, {"ok": False, "error": "ratelimited"}))
    assert bare.retry_after_seconds == 1.0  # Slack always sends one; without it, a second
    absurd = classify(api_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "86400"}))
    assert absurd.retry_after_seconds == MAX_RETRY_AFTER_SECONDS


def test_an_unreachable_slack_is_unavailable() -> None:
    refused = aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey(
        "127.0.0.1", 9, False, True, None, None, None), OSError(111, "Connection refused"))
    assert classify(refused).outcome is Outcome.UNAVAILABLE
    assert classify(TimeoutError()).outcome is Outcome.UNAVAILABLE


def test_anything_else_is_a_bug_and_is_raised() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("blocks"))
