"""Socket Mode: slack-bolt's async Socket Mode handler (slack_sdk's aiohttp client) connects to the fake
through ``apps.connections.open``, gets ``hello``, receives envelopes and acks them; redeliveries carry
``retry_attempt``; a ``disconnect`` message makes it reconnect with a fresh URL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import SOCKET, FakeSlack
from tests.fakes.slack.samples import CHOICE_BLOCKS, Bolt, build_bolt


@pytest.fixture
async def connected(fake_slack: FakeSlack) -> AsyncIterator[Bolt]:
    bolt = build_bolt(fake_slack)
    handler = AsyncSocketModeHandler(bolt.app, fake_slack.app_token)
    await handler.connect_async()
    try:
        await fake_slack.wait_for_socket()
        yield bolt
    finally:
        await handler.close_async()


async def test_bolt_connects_and_handles_an_app_mention(fake_slack: FakeSlack, connected: Bolt) -> None:
    slack = fake_slack
    opened = slack.calls("apps.connections.open")
    assert len(opened) == 1 and opened[0].ok and opened[0].token == slack.app_token
    assert slack.socket_connections == 1
    event = slack.mention(slack.world.ada, slack.world.general, "fix the build")
    delivery = await slack.deliver_event(SOCKET, event)
    assert delivery.acked and delivery.status == 200 and delivery.json()["envelope_id"] == delivery.envelope_id
    reply = await slack.wait_for_call("chat.postMessage", lambda c: c.args.get("thread_ts") == event["ts"])
    assert reply.ok
    assert connected.seen[0]["event"]["text"] == event["text"]
    assert connected.seen[0]["event_id"] == delivery.event_id
    assert connected.seen[0]["retry_num"] == "0"  # Socket Mode's first delivery says retry_attempt 0


async def test_a_redelivery_carries_retry_attempt(fake_slack: FakeSlack, connected: Bolt) -> None:
    slack = fake_slack
    event = slack.mention(slack.world.ada, slack.world.general, "twice")
    first = await slack.deliver_event(SOCKET, event)
    again = await slack.deliver_event(SOCKET, event, event_id=first.event_id, retry_num=1, retry_reason="timeout")
    assert again.acked and again.envelope_id != first.envelope_id
    assert again.payload is not None and again.payload["retry_attempt"] == 1
    # The second run of the listener finds the first one's reaction: both ran (the app must dedupe).
    await slack.wait_for_call("reactions.add", lambda c: c.response.get("error") == "already_reacted")
    assert sorted((s["event_id"], s["retry_num"], s["retry_reason"]) for s in connected.seen) == sorted(
        [(first.event_id, "0", ""), (first.event_id, "1", "timeout")])


async def test_interactive_envelope_reaches_the_action_listener(fake_slack: FakeSlack, connected: Bolt) -> None:
    slack = fake_slack
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    posted = await client.chat_postMessage(channel=slack.world.general.id, text="Which?", blocks=CHOICE_BLOCKS)
    delivery = await slack.click(SOCKET, user=slack.world.ada, action_id="choose_repo", message_ts=posted["ts"])
    assert delivery.acked
    await slack.wait_for_call("response_url")
    assert [s["value"] for s in connected.seen if s["kind"] == "choose_repo"] == ["p1:r1"]


async def test_disconnect_message_makes_the_client_reconnect(fake_slack: FakeSlack, connected: Bolt) -> None:
    slack = fake_slack
    await slack.socket_disconnect("refresh_requested")
    await slack.wait_for_call("apps.connections.open", since=slack.calls("apps.connections.open")[0].index + 1)
    await slack.wait_for_socket()
    delivery = await slack.deliver_event(SOCKET, slack.dm(slack.world.ada, "still there?"))
    assert delivery.acked
    assert [s["event"]["text"] for s in connected.seen if s["kind"] == "message"] == ["still there?"]


async def test_an_envelope_nobody_acks_is_reported_unacked(fake_slack: FakeSlack) -> None:
    slack = fake_slack
    received: list[dict[str, Any]] = []

    async def listen(client: Any, message: dict[str, Any], raw: str | None) -> None:
        received.append(message)  # reads, never acks

    client = SocketModeClient(app_token=slack.app_token,
                              web_client=AsyncWebClient(base_url=slack.api_url))
    client.message_listeners.append(listen)
    await client.connect()
    try:
        await slack.wait_for_socket()
        delivery = await slack.deliver_event(SOCKET, slack.dm(slack.world.ada, "hello?"), ack_timeout=0.5)
        assert not delivery.acked and delivery.status == 0
        assert received[0]["type"] == "hello" and received[0]["connection_info"]["app_id"] == slack.api_app_id
        envelope = received[1]
        assert envelope["type"] == "events_api" and envelope["retry_attempt"] == 0
        assert envelope["payload"]["event"]["text"] == "hello?" and envelope["envelope_id"] == delivery.envelope_id
    finally:
        await client.close()


async def test_socket_link_needs_a_ticket_from_apps_connections_open(fake_slack: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"ws://127.0.0.1:{fake_slack.port}/link/?ticket=guessed")
        assert refused.value.status == 401
        url = fake_slack.socket_mode_url()
        async with session.ws_connect(url) as ws:
            hello = json.loads((await ws.receive()).data)
            assert hello["type"] == "hello"



async def test_after_disconnect_no_envelope_goes_to_the_old_connection(fake_slack: FakeSlack) -> None:
    """Once told to disconnect, a connection gets nothing more and does not count: ``wait_for_socket`` then
    waits for the client's new connection (else an envelope could go down the one it is closing)."""
    slack = fake_slack
    async with aiohttp.ClientSession() as session, session.ws_connect(slack.socket_mode_url()) as ws:
        assert json.loads((await ws.receive()).data)["type"] == "hello"
        await slack.wait_for_socket()
        await slack.socket_disconnect()
        assert json.loads((await ws.receive()).data)["type"] == "disconnect"
        assert slack.socket_connections == 0
        with pytest.raises(TimeoutError, match="no Socket Mode client"):
            await slack.deliver_event(SOCKET, slack.dm(slack.world.ada, "lost?"), ack_timeout=0.3)
        async with session.ws_connect(slack.socket_mode_url()) as fresh:
            assert json.loads((await fresh.receive()).data)["type"] == "hello"
            await slack.wait_for_socket()
            await slack.deliver_event(SOCKET, slack.dm(slack.world.ada, "here?"), ack_timeout=0.3)
            envelope = json.loads((await fresh.receive()).data)
            assert envelope["payload"]["event"]["text"] == "here?"
