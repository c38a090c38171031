"""The fake plays Slack toward a real slack-bolt AsyncApp over HTTP (Events API and interactivity):
bolt's own signature check accepts the fake's signed deliveries and refuses bad ones, bolt's parsers
find in the payloads what listeners need, and bolt's Web API calls land in the fake's world."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack, slack_signature
from tests.fakes.slack.samples import CHOICE_BLOCKS, Bolt, build_bolt


@pytest.fixture
def bolt(fake_slack: FakeSlack) -> Bolt:
    return build_bolt(fake_slack)


async def test_signed_mention_runs_the_listener_whose_calls_land_in_the_world(fake_slack: FakeSlack,
                                                                              bolt: Bolt) -> None:
    slack = fake_slack
    event = slack.mention(slack.world.ada, slack.world.general, "fix the login page")
    delivery = await slack.deliver_event(bolt.dispatch, event)
    assert delivery.status == 200
    reply = await slack.wait_for_call("chat.postMessage", lambda c: c.args.get("thread_ts") == event["ts"])
    assert reply.ok and reply.token == slack.bot_token
    assert [m.text for m in slack.world.thread(slack.world.general.id, event["ts"])] == [
        f"<@{slack.bot_user_id}> fix the login page", "On it"]
    assert slack.world.reactions(slack.world.general.id, event["ts"]) == {"eyes": [slack.bot_user_id]}
    seen = bolt.seen[0]
    assert seen["event"]["text"] == event["text"] and seen["user_id"] == slack.world.ada.id
    assert seen["team_id"] == slack.team_id and seen["bot_user_id"] == slack.bot_user_id  # from auth.test
    assert seen["retry_num"] is None


async def test_a_retry_carries_slacks_retry_headers_and_the_same_event_id(fake_slack: FakeSlack, bolt: Bolt) -> None:
    slack = fake_slack
    event = slack.mention(slack.world.ada, slack.world.general, "again")
    first = await slack.deliver_event(bolt.dispatch, event)
    retry = await slack.deliver_event(bolt.dispatch, event, event_id=first.event_id, retry_num=1,
                                      retry_reason="http_timeout")
    assert retry.status == 200 and retry.event_id == first.event_id
    first_reaction = await slack.wait_for_call("reactions.add")
    second = await slack.wait_for_call("reactions.add", since=first_reaction.index + 1)
    # bolt itself does not dedupe: the listener ran twice (the app must dedupe by event_id)
    assert second.response == {"ok": False, "error": "already_reacted"}
    assert {(s["retry_num"], s["retry_reason"]) for s in bolt.seen} == {(None, None), ("1", "http_timeout")}
    assert retry.payload is not None and retry.payload["event_id"] == first.event_id


@pytest.mark.parametrize("how", ["wrong_secret", "unsigned", "stale", "tampered"])
async def test_bolt_refuses_what_slack_did_not_sign(fake_slack: FakeSlack, bolt: Bolt, how: str) -> None:
    slack = fake_slack
    event = slack.mention(slack.world.ada, slack.world.general, "forged")
    if how == "tampered":
        body = b'{"type":"event_callback","event":{"type":"app_mention","text":"evil"}}'
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": slack_signature(slack.signing_secret, ts, b"{}")}
        status, _, _ = await bolt.dispatch(body, headers)
    else:
        delivery = await slack.deliver_event(
            bolt.dispatch, event, sign=how != "unsigned",
            signing_secret="not-the-secret" if how == "wrong_secret" else None,
            timestamp=int(time.time()) - 6 * 60 if how == "stale" else None)  # bolt allows 5 minutes of skew
        status = delivery.status
    assert status == 401
    assert bolt.seen == [] and slack.calls() == []


async def test_url_verification_is_answered_with_the_challenge(fake_slack: FakeSlack, bolt: Bolt) -> None:
    delivery = await fake_slack.url_verification(bolt.dispatch, "c-123")
    assert delivery.status == 200 and delivery.json() == {"challenge": "c-123"}


async def test_clicks_reach_action_listeners_and_respond_replaces_the_message(fake_slack: FakeSlack,
                                                                              bolt: Bolt) -> None:
    slack = fake_slack
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    top = slack.mention(slack.world.ada, slack.world.general, "fix it")
    posted = await client.chat_postMessage(channel=slack.world.general.id, thread_ts=top["ts"], text="Which?",
                                           blocks=CHOICE_BLOCKS)
    picked = await slack.click(bolt.dispatch, user=slack.world.bob, action_id="select_repo", message_ts=posted["ts"],
                               selected_option="r2")
    assert picked.status == 200
    clicked = await slack.click(bolt.dispatch, user=slack.world.ada, action_id="choose_repo", message_ts=posted["ts"])
    assert clicked.status == 200
    await slack.wait_for_call("response_url")
    choose = next(s for s in bolt.seen if s["kind"] == "choose_repo")
    assert choose["value"] == "p1:r1" and choose["user_id"] == slack.world.ada.id
    assert choose["channel_id"] == slack.world.general.id
    assert choose["body"]["container"]["thread_ts"] == top["ts"]
    assert {"kind": "select_repo", "value": "r2"} in bolt.seen
    assert slack.world.message(slack.world.general.id, posted["ts"]).text == "Starting in acme/api"  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        await slack.click(bolt.dispatch, user=slack.world.ada, action_id="not_there", message_ts=posted["ts"])
    forged = await slack.click(bolt.dispatch, user=slack.world.ada, action_id="choose_repo",
                               channel=slack.world.general, value="p9:r9", signing_secret="nope")
    assert forged.status == 401


@pytest.fixture
async def bolt_url(bolt: Bolt) -> AsyncIterator[str]:
    """The bolt app behind a real aiohttp server on loopback (on the test's loop)."""
    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.app.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        await runner.cleanup()


async def test_delivery_to_a_url_over_http(fake_slack: FakeSlack, bolt: Bolt, bolt_url: str) -> None:
    slack = fake_slack
    dm = slack.dm(slack.world.ada, "hello there")
    delivery = await slack.deliver_event(bolt_url, dm)
    assert delivery.status == 200
    bad = await slack.deliver_event(bolt_url, dm, signing_secret="wrong")
    assert bad.status == 401
    assert [s["event"]["text"] for s in bolt.seen if s["kind"] == "message"] == ["hello there"]
    assert bolt.seen[0]["event"]["channel"] == slack.world.im_with(slack.world.ada).id
    with pytest.raises(ValueError):
        await slack.deliver_event("http://192.0.2.1/slack/events", dm)  # loopback only
