"""The fake's switches (rate limits, outages, injected errors), its request parsing (form, JSON, query,
token placement) and its call log, seen through the real slack_sdk client."""

from __future__ import annotations

import json

import aiohttp
import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import SOCKET, FakeSlack
from tests.fakes.slack.samples import CHOICE_BLOCKS


def bot(fake: FakeSlack, **kwargs: object) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, **kwargs)  # type: ignore[arg-type]


async def test_rate_limit_answers_429_with_retry_after_then_recovers(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    slack.rate_limit("chat.update", 2, retry_after=7)
    # Other methods are not limited.
    posted = await bot(slack).chat_postMessage(channel=slack.world.general.id, text="status")
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            await bot(slack).chat_update(channel=posted["channel"], ts=posted["ts"], text="x")
        assert caught.value.response.status_code == 429
        assert caught.value.response.headers["Retry-After"] == "7"
        assert caught.value.response["error"] == "ratelimited"
    done = await bot(slack).chat_update(channel=posted["channel"], ts=posted["ts"], text="third time")
    assert done["ok"] and slack.world.message(posted["channel"], posted["ts"]).text == "third time"  # type: ignore[union-attr]
    assert [c.status for c in slack.calls("chat.update")] == [429, 429, 200]


async def test_slack_sdk_retry_handler_honours_the_rate_limit(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    slack.rate_limit("reactions.add", 1, retry_after=0)
    event = slack.mention(slack.world.ada, slack.world.general, "hi")
    client = bot(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    await client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="eyes")
    assert [c.status for c in slack.calls("reactions.add")] == [429, 200]


async def test_down_503_then_refused_then_up(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    slack.down("503")
    with pytest.raises(SlackApiError) as caught:
        await bot(slack).auth_test()
    assert caught.value.response.status_code == 503
    slack.down("refuse")
    with pytest.raises(aiohttp.ClientConnectionError):
        await bot(slack).auth_test()
    async with httpx.AsyncClient() as client:  # nothing listens: refused, not answered
        with pytest.raises(httpx.ConnectError):
            await client.post(slack.api_url + "auth.test")
    slack.up()
    assert (await bot(slack).auth_test())["ok"]
    assert [c.status for c in slack.calls("auth.test")] == [503, 200]  # refused calls never reached it


async def test_refusing_drops_socket_mode_and_the_client_comes_back_after_up(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    client = SocketModeClient(app_token=slack.app_token, web_client=AsyncWebClient(base_url=slack.api_url),
                              ping_interval=0.2)
    await client.connect()
    try:
        await slack.wait_for_socket()
        slack.down("refuse")
        assert slack.socket_connections == 0
        slack.up()
        await slack.wait_for_socket(timeout=15)
        opened = slack.calls("apps.connections.open")
        assert len(opened) >= 2 and all(c.ok for c in opened)
        delivery = await slack.deliver_event(SOCKET, slack.dm(slack.world.ada, "back?"), ack_timeout=0.5)
        assert delivery.envelope_id is not None  # delivered to the new connection (this client does not ack)
    finally:
        await client.close()


async def test_fail_next_injects_a_slack_error_once(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    slack.fail_next("users.info", "user_not_visible")
    with pytest.raises(SlackApiError) as caught:
        await bot(slack).users_info(user=slack.world.ada.id)
    assert caught.value.response.status_code == 200 and caught.value.response["error"] == "user_not_visible"
    assert (await bot(slack).users_info(user=slack.world.ada.id))["user"]["profile"]["email"] == "ada@example.com"


async def test_form_json_and_query_bodies_and_where_the_token_may_be(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    channel = slack.world.general.id
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    async with httpx.AsyncClient(base_url=slack.api_url) as client:
        form = await client.post("chat.postMessage", data={"token": slack.bot_token, "channel": channel,
                                                          "text": "form", "blocks": json.dumps(blocks)})
        assert form.json()["ok"] and form.json()["message"]["blocks"][0]["text"]["text"] == "*hi*"
        as_json = await client.post("chat.postMessage", json={"channel": channel, "text": "json"},
                                    headers={"Authorization": f"Bearer {slack.bot_token}"})
        assert as_json.json()["ok"]
        token_in_json = await client.post("chat.postMessage", json={"token": slack.bot_token, "channel": channel,
                                                                    "text": "x"})
        assert token_in_json.json() == {"ok": False, "error": "not_authed"}  # Slack reads it only from the header
        query = await client.get("users.info", params={"user": slack.world.bob.id},
                                 headers={"Authorization": f"Bearer {slack.bot_token}"})
        assert query.json()["user"]["is_email_confirmed"] is False
        unknown = await client.post("chat.explode", headers={"Authorization": f"Bearer {slack.bot_token}"})
        assert unknown.json()["error"] == "unknown_method"
    assert [m.text for m in slack.world.messages(channel)] == ["form", "json"]
    assert slack.calls("chat.postMessage")[0].args["blocks"] == blocks  # the log holds parsed arguments


async def test_wait_for_call_waits_for_new_calls_and_says_what_it_saw(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    client = bot(slack)
    await client.auth_test()
    mark = slack.mark()
    assert (await slack.wait_for_call("auth.test")).index == 0  # past calls count unless `since` says otherwise
    with pytest.raises(TimeoutError) as caught:
        await slack.wait_for_call("auth.test", since=mark, timeout=0.2)
    assert "no auth.test call matched" in str(caught.value)
    await client.auth_test()
    assert (await slack.wait_for_call("auth.test", since=mark)).index == mark


async def test_response_url_applies_what_slack_would(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    client = bot(slack)
    general = slack.world.general.id
    first = await client.chat_postMessage(channel=general, text="Which?", blocks=CHOICE_BLOCKS)
    second = await client.chat_postMessage(channel=general, text="Which again?", blocks=CHOICE_BLOCKS)

    def response_url(ts: str) -> str:
        return str(slack.block_actions(user=slack.world.ada, action_id="choose_repo", message_ts=ts)["response_url"])

    first_url, second_url = response_url(first["ts"]), response_url(second["ts"])
    async with httpx.AsyncClient() as http:
        assert (await http.post(first_url, json={"replace_original": True, "text": "Chosen"})).json() == {"ok": True}
        await http.post(second_url, json={"delete_original": True})
        await http.post(first_url, json={"text": "only for Ada"})
        await http.post(first_url, json={"response_type": "in_channel", "text": "for all"})
        expired = await http.post(f"{slack.base_url}actions/{slack.team_id}/made-up", json={"text": "x"})
        assert expired.status_code == 404
    replaced = slack.world.message(general, first["ts"])
    assert replaced is not None and replaced.text == "Chosen" and replaced.blocks is None and replaced.edited == 1
    assert slack.world.message(general, second["ts"]) is None
    ephemeral = [(m.text, m.ephemeral_for) for m in slack.world.ephemerals(general)]
    assert ephemeral == [("only for Ada", slack.world.ada.id)]
    assert [m.text for m in slack.world.messages(general)] == ["Chosen", "for all"]
    assert [c.args.get("text") for c in slack.calls("response_url")] == ["Chosen", None, "only for Ada", "for all", "x"]
