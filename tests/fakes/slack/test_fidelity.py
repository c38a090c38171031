"""Fidelity: what the fake says is what Slack's published types say Slack says.

Every Web API answer (successes and errors, through the real slack_sdk client) is checked against
@slack/web-api's ``<Method>Response`` type, and every event the fake sends against @slack/types
(``AppMentionEvent``, ``GenericMessageEvent``, the Block Kit ``rich_text`` blocks in them, the Block
Kit of the messages interactive payloads carry). What the fake puts on the wire to the app — over HTTP
and over Socket Mode — is checked against @slack/bolt: every ``block_actions`` payload against
``BlockAction<ButtonAction>`` / ``BlockAction<StaticSelectAction>`` (the clicked element's own action
type), every Events API body against ``EnvelopedEvent<AppMentionEvent>`` /
``EnvelopedEvent<GenericMessageEvent>``. Neither @slack/bolt nor @slack/socket-mode publishes a type for
the Socket Mode envelope around them (``envelope_id``, ``type``, ``payload``, ``retry_attempt``, …): only
the payload inside is checked against a type, the envelope's keys against what @slack/socket-mode's client
reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import SOCKET, FakeSlack
from tests.fakes.slack.samples import CHOICE_BLOCKS, STATUS_BLOCKS
from tests.fakes.slack.ts_types import BOLT_ACTIONS, BOLT_EVENTS, EVENTS, RESPONSES, SLACK_NPM, TsTypes
from tests.fakes.slack.web_api import METHODS

BLOCKS = SLACK_NPM / "types" / "dist" / "block-kit" / "blocks.d.ts"
MESSAGE_ELEMENT = RESPONSES / "ConversationsRepliesResponse.d.ts"
# The @slack/bolt type of ``actions[i]`` for each element the fake can click.
ELEMENT_ACTIONS = {"button": "ButtonAction", "static_select": "StaticSelectAction"}
# The @slack/types type of each inner event the fake sends.
INNER_EVENTS = {"app_mention": (EVENTS / "app.d.ts", "AppMentionEvent"),
                "message": (EVENTS / "message.d.ts", "GenericMessageEvent")}


@pytest.fixture(scope="module")
def types() -> TsTypes:
    return TsTypes()


def response_type(method: str) -> str:
    """``chat.postMessage`` → ``ChatPostMessageResponse`` (@slack/web-api's file and type name)."""
    return "".join(part[0].upper() + part[1:] for part in method.split(".")) + "Response"


def conformance(types: TsTypes, method: str, answer: dict[str, Any]) -> list[str]:
    """Errors of one answer. Messages' ``blocks`` are whatever the poster sent; @slack/web-api's response
    types only know the block shapes of the responses they were generated from, so blocks are checked
    against Block Kit's own published types (@slack/types ``KnownBlock``) and the rest against the response type."""
    name = response_type(method)
    errors: list[str] = []
    stripped = _strip_blocks(answer, name, errors, types)
    return errors + types.check(stripped, RESPONSES / f"{name}.d.ts", name)


def _strip_blocks(value: Any, where: str, errors: list[str], types: TsTypes) -> Any:
    if isinstance(value, list):
        return [_strip_blocks(item, f"{where}[{i}]", errors, types) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "blocks" and isinstance(item, list):
            for i, block in enumerate(item):
                errors += [f"{where}.blocks[{i}]: {e}" for e in types.check(block, BLOCKS, "KnownBlock")]
            out[key] = []
        else:
            out[key] = _strip_blocks(item, f"{where}.{key}", errors, types)
    return out


async def test_every_method_answers_in_its_published_shape(fake_slack: FakeSlack, types: TsTypes) -> None:
    slack = fake_slack
    bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    app = AsyncWebClient(token=slack.app_token, base_url=slack.api_url)
    world = slack.world
    general = world.general.id
    mention = slack.mention(world.ada, general, "fix the login page")

    async def expect_error(coro: Any, error: str) -> None:
        with pytest.raises(SlackApiError) as caught:
            await coro
        assert caught.value.response["error"] == error

    await bot.auth_test()
    await bot.conversations_info(channel=general)
    await bot.conversations_info(channel=world.im_with(world.ada).id)
    await bot.users_info(user=world.ada.id)
    await bot.users_info(user=world.bot_user_id)
    await bot.users_lookupByEmail(email="ADA@example.com")
    await bot.reactions_add(channel=general, timestamp=mention["ts"], name="eyes")
    status = await bot.chat_postMessage(channel=general, thread_ts=mention["ts"], text="Working", blocks=STATUS_BLOCKS)
    await bot.chat_update(channel=general, ts=status["ts"], text="Done", blocks=STATUS_BLOCKS)
    await bot.chat_update(channel=general, ts=status["ts"], text="Done again")
    choice = await bot.chat_postMessage(channel=general, thread_ts=mention["ts"], text="Which?", blocks=CHOICE_BLOCKS)
    await bot.chat_postMessage(channel=world.ada.id, text="a direct message")  # a user id posts to the DM
    await bot.chat_postEphemeral(channel=general, user=world.ada.id, text="only you", thread_ts=mention["ts"])
    await bot.chat_getPermalink(channel=general, message_ts=choice["ts"])
    await bot.conversations_replies(channel=general, ts=mention["ts"])
    await bot.conversations_replies(channel=general, ts=status["ts"], limit=1)
    await bot.conversations_open(users=world.ada.id)
    await bot.reactions_remove(channel=general, timestamp=mention["ts"], name="eyes")
    await bot.chat_delete(channel=general, ts=choice["ts"])
    await bot.apps_connections_open(app_token=slack.app_token)

    await expect_error(bot.chat_postMessage(channel="C404", text="x"), "channel_not_found")
    await expect_error(bot.chat_update(channel=general, ts="1.000001", text="x"), "message_not_found")
    await expect_error(bot.chat_update(channel=general, ts=mention["ts"], text="x"), "cant_update_message")
    await expect_error(bot.api_call("chat.postMessage", json={"channel": general}), "no_text")
    await expect_error(bot.chat_postMessage(channel=general, text="x", thread_ts="1.000001"), "thread_not_found")
    await bot.reactions_add(channel=general, timestamp=mention["ts"], name="eyes")
    await expect_error(bot.reactions_add(channel=general, timestamp=mention["ts"], name="eyes"), "already_reacted")
    await expect_error(bot.reactions_remove(channel=general, timestamp=mention["ts"], name="tada"), "no_reaction")
    await expect_error(bot.users_info(user="U404"), "user_not_found")
    await expect_error(bot.users_lookupByEmail(email="nobody@example.com"), "users_not_found")
    await expect_error(bot.conversations_replies(channel=general, ts="1.000001"), "thread_not_found")
    await expect_error(bot.chat_postEphemeral(channel=general, user="U404", text="x"), "user_not_found")
    await expect_error(bot.chat_delete(channel=general, ts=mention["ts"]), "cant_delete_message")
    await expect_error(bot.chat_getPermalink(channel=general, message_ts="1.000001"), "message_not_found")
    await expect_error(bot.conversations_open(users=""), "not_enough_users")
    await expect_error(bot.conversations_info(channel="C404"), "channel_not_found")
    await expect_error(bot.apps_connections_open(app_token=slack.bot_token), "not_allowed_token_type")
    await expect_error(app.auth_test(), "not_allowed_token_type")
    await expect_error(AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test(), "invalid_auth")
    await expect_error(AsyncWebClient(base_url=slack.api_url).auth_test(), "not_authed")
    slack.rate_limit("chat.update", 1, retry_after=3)
    await expect_error(bot.chat_update(channel=general, ts=status["ts"], text="x"), "ratelimited")
    slack.fail_next("users.info", "fatal_error")
    await expect_error(bot.users_info(user=world.ada.id), "fatal_error")

    failures = {}
    for call in slack.calls():
        errors = conformance(types, call.method, call.response)
        if errors:
            failures[f"{call.index}:{call.method}"] = errors
    assert failures == {}
    answered = {call.method for call in slack.calls() if call.ok}
    assert answered == set(METHODS), "every method the fake offers is exercised (and so checked) here"
    assert {call.response["error"] for call in slack.calls() if not call.ok} >= {
        "channel_not_found", "message_not_found", "already_reacted", "not_authed", "invalid_auth",
        "not_allowed_token_type", "ratelimited", "user_not_found"}


def test_the_check_catches_a_wrong_shape(types: TsTypes) -> None:
    """The fidelity test can fail: a ts as a number, a field Slack does not send, a wrong nested type."""
    assert conformance(types, "chat.postMessage", {"ok": True, "channel": "C1", "ts": "1.2"}) == []
    assert conformance(types, "chat.postMessage", {"ok": True, "ts": 1.2})
    assert conformance(types, "chat.postMessage", {"ok": True, "message_id": "x"})
    assert conformance(types, "users.info", {"ok": True, "user": {"profile": {"email": 5}}})
    assert conformance(types, "chat.update", {"ok": True, "message": {"edited": {"ts": 1}}})
    assert conformance(types, "chat.update", {"ok": True, "message": {"blocks": [{"type": "section", "text": "x"}]}})


async def test_events_match_published_event_types(fake_slack: FakeSlack, types: TsTypes) -> None:
    slack = fake_slack
    world = slack.world
    private = world.add_channel("secret-project", private=True)
    top = slack.mention(world.ada, world.general,
                        "in acme/api: fix <https://example.com/x|the bug> &amp; <https://example.com/y> "
                        f"see <#{world.general.id}|general> <!here>")
    in_thread = slack.mention(world.bob, world.general, "and the tests", thread_ts=top["ts"])
    checks = [
        (top, EVENTS / "app.d.ts", "AppMentionEvent"),
        (in_thread, EVENTS / "app.d.ts", "AppMentionEvent"),
        (slack.dm(world.ada, "hello"), EVENTS / "message.d.ts", "GenericMessageEvent"),
        (slack.thread_reply(world.ada, world.general, top["ts"], "also this"), EVENTS / "message.d.ts",
         "GenericMessageEvent"),
        (slack.channel_message(world.ada, private, "plain"), EVENTS / "message.d.ts", "GenericMessageEvent"),
    ]
    for event, path, name in checks:
        assert types.check(event, path, name) == [], event
    assert in_thread["thread_ts"] == top["ts"]
    kinds = [e["type"] for e in top["blocks"][0]["elements"][0]["elements"]]
    assert kinds == ["user", "text", "link", "text", "link", "text", "channel", "text", "broadcast"]
    assert checks[2][0]["channel_type"] == "im" and checks[4][0]["channel_type"] == "group"
    assert checks[3][0]["parent_user_id"] == world.ada.id
    # A mismatch is caught: an app_mention without its ts, a message with an unknown channel_type.
    assert types.check({k: v for k, v in top.items() if k != "ts"}, EVENTS / "app.d.ts", "AppMentionEvent")
    assert types.check({**checks[2][0], "channel_type": "dm"}, EVENTS / "message.d.ts", "GenericMessageEvent")


async def test_interactive_payload_carries_published_block_kit(fake_slack: FakeSlack, types: TsTypes) -> None:
    """The message inside a ``block_actions`` payload is the bot's message as the Web API renders it, and
    the clicked element's blocks are valid Block Kit."""
    slack = fake_slack
    bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    posted = await bot.chat_postMessage(channel=slack.world.general.id, text="Which?", blocks=CHOICE_BLOCKS)
    payload = slack.block_actions(user=slack.world.ada, action_id="select_repo", message_ts=posted["ts"],
                                  selected_option="r2")
    for block in payload["message"]["blocks"]:
        assert types.check(block, BLOCKS, "KnownBlock") == [], block
    message_type = RESPONSES / "ConversationsRepliesResponse.d.ts"
    assert types.check(payload["message"], message_type, "MessageElement") == []
    assert payload["actions"][0]["selected_option"]["value"] == "r2"
    assert payload["container"]["message_ts"] == posted["ts"]


# ---------------------------------------------------------------------------------------------
# What the fake sends the app, against @slack/bolt's types.
#
# Where Slack sends what bolt's types do not allow, the fake follows Slack (each is in the payloads Slack
# documents and in payloads captured from real workspaces), and these checks accept exactly that and check
# everything else strictly:
#  * outside Enterprise Grid a ``block_actions`` payload has ``"enterprise": null`` (bolt: ``enterprise?:
#    {id; name}``) and an Events API body ``"context_enterprise_id": null`` (bolt: ``context_enterprise_id?:
#    string``);
#  * a clicked button's action carries the button's ``style`` (``"primary"``/``"danger"``), which bolt's
#    ``ButtonAction`` does not declare.


def block_action_errors(types: TsTypes, payload: dict[str, Any]) -> list[str]:
    """Errors of one ``block_actions`` payload: against ``BlockAction<E>`` with ``E`` the @slack/bolt type of
    its action (ButtonAction, StaticSelectAction), its ``message`` against @slack/web-api's ``MessageElement``
    and that message's blocks against @slack/types' ``KnownBlock``."""
    value = dict(payload)
    if "enterprise" in value and value["enterprise"] is None:
        del value["enterprise"]
    actions = []
    for action in value.get("actions") or []:
        if isinstance(action, dict) and action.get("type") == "button" and action.get("style") in ("primary", "danger"):
            action = {k: v for k, v in action.items() if k != "style"}
        actions.append(action)
    value["actions"] = actions
    kinds = {a.get("type") for a in actions if isinstance(a, dict)}
    if len(kinds) != 1 or next(iter(kinds)) not in ELEMENT_ACTIONS:
        return [f"BlockAction.actions: element types {sorted(map(str, kinds))} (the fake clicks one of "
                f"{sorted(ELEMENT_ACTIONS)})"]
    element = types.ref(BOLT_ACTIONS, ELEMENT_ACTIONS[kinds.pop()])
    errors = types.check_type(value, types.ref(BOLT_ACTIONS, "BlockAction", element), "BlockAction")
    if isinstance(payload.get("message"), dict):
        stripped = _strip_blocks(payload["message"], "BlockAction.message", errors, types)
        errors += types.check_type(stripped, types.ref(MESSAGE_ELEMENT, "MessageElement"), "BlockAction.message")
    return errors


def envelope_errors(types: TsTypes, body: dict[str, Any]) -> list[str]:
    """Errors of one Events API body against ``EnvelopedEvent<E>``, ``E`` the @slack/types type of its inner
    event (so the inner event is checked as strictly as on its own)."""
    value = dict(body)
    if "context_enterprise_id" in value and value["context_enterprise_id"] is None:
        del value["context_enterprise_id"]
    inner = value.get("event")
    kind = inner.get("type") if isinstance(inner, dict) else None
    if kind not in INNER_EVENTS:
        return [f"EnvelopedEvent.event: {kind!r} is not an event the fake sends"]
    path, name = INNER_EVENTS[str(kind)]
    return types.check_type(value, types.ref(BOLT_EVENTS, "EnvelopedEvent", types.ref(path, name)), "EnvelopedEvent")


@dataclass
class Wire:
    """An HTTP target that answers 200 and keeps what arrived, decoded as the app would decode it."""

    received: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if headers["Content-Type"] == "application/x-www-form-urlencoded":
            self.received.append(json.loads(parse_qs(body.decode("ascii"))["payload"][0]))
        else:
            self.received.append(json.loads(body))
        return 200, {}, b""


@dataclass
class RawSocket:
    """A bare Socket Mode client: keeps every message as it came off the WebSocket and acks envelopes."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "envelope_id" in m]


@pytest.fixture
async def raw_socket(fake_slack: FakeSlack) -> AsyncIterator[RawSocket]:
    socket = RawSocket()
    async with aiohttp.ClientSession() as session, session.ws_connect(fake_slack.socket_mode_url()) as ws:

        async def read() -> None:
            async for message in ws:
                data = json.loads(message.data)
                socket.messages.append(data)
                if "envelope_id" in data:
                    await ws.send_str(json.dumps({"envelope_id": data["envelope_id"]}))

        reader = asyncio.create_task(read())
        try:
            await fake_slack.wait_for_socket()
            yield socket
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


# What @slack/socket-mode's client reads from an envelope (SocketModeClient.onWebSocketMessage), by type.
SOCKET_ENVELOPE_KEYS = {
    "events_api": {"envelope_id", "type", "payload", "accepts_response_payload", "retry_attempt", "retry_reason"},
    "interactive": {"envelope_id", "type", "payload", "accepts_response_payload"},
}


async def test_every_block_actions_payload_matches_bolts_block_action(fake_slack: FakeSlack, types: TsTypes,
                                                                      raw_socket: RawSocket) -> None:
    slack = fake_slack
    world = slack.world
    bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    mention = slack.mention(world.ada, world.general, "fix it")
    choice = await bot.chat_postMessage(channel=world.general.id, text="Which?", blocks=CHOICE_BLOCKS)
    status = await bot.chat_postMessage(channel=world.general.id, thread_ts=mention["ts"], text="Working",
                                        blocks=STATUS_BLOCKS)
    in_dm = await bot.chat_postMessage(channel=world.ada.id, text="Which?", blocks=CHOICE_BLOCKS)
    clicks: list[dict[str, Any]] = [
        {"user": world.ada, "action_id": "choose_repo", "message_ts": choice["ts"]},              # a button
        {"user": world.bob, "action_id": "select_repo", "message_ts": choice["ts"],               # a static_select
         "selected_option": "r2"},
        {"user": world.ada, "action_id": "create_pull_request", "message_ts": status["ts"]},      # styled, in a thread
        {"user": world.ada, "action_id": "view_session", "message_ts": status["ts"]},             # a link button
        {"user": world.ada, "action_id": "choose_repo", "message_ts": in_dm["ts"]},               # in a DM
        {"user": world.ada, "action_id": "create_pull_request", "value": "s1", "channel": world.general,
         "forge": True},                                                                          # forged, no message
        {"user": world.ada, "action_id": "gone", "message_ts": choice["ts"], "block_id": "b1",
         "forge": True},                                                                          # forged, old message
        {"user": world.ada, "action_id": "pick", "selected_option": "x", "channel": world.general,
         "forge": True},                                                                          # forged static_select
    ]
    wire = Wire()
    built = []
    for options in clicks:
        built.append(slack.block_actions(**options))
        assert (await slack.click(wire, **options)).status == 200
        assert (await slack.click(SOCKET, **options)).acked
    interactive = [e for e in raw_socket.envelopes if e["type"] == "interactive"]
    assert len(wire.received) == len(interactive) == len(built) == len(clicks)

    failures = {}
    sent = [e["payload"] for e in interactive]
    for source, payloads in (("built", built), ("http", wire.received), ("socket", sent)):
        for index, payload in enumerate(payloads):
            errors = block_action_errors(types, payload)
            if errors:
                failures[f"{source}[{index}]:{payload['actions'][0]['action_id']}"] = errors
    assert failures == {}
    assert {p["actions"][0]["type"] for p in wire.received} == set(ELEMENT_ACTIONS)
    assert all(set(e) == SOCKET_ENVELOPE_KEYS["interactive"] for e in interactive)
    assert wire.received[2]["actions"][0]["style"] == "primary"
    assert wire.received[2]["container"]["thread_ts"] == mention["ts"]
    assert wire.received[4]["channel"]["name"] == "directmessage"
    assert wire.received[5]["actions"][0]["text"]["type"] == "plain_text" and "message" not in wire.received[5]
    assert all(p["enterprise"] is None for p in wire.received)  # as Slack sends it outside Enterprise Grid
    with pytest.raises(ValueError, match="overflow"):  # no payload the checks have not seen
        slack.block_actions(user=world.ada, action_id="more", channel=world.general, forge=True, action_type="overflow")


async def test_every_event_envelope_matches_bolts_enveloped_event(fake_slack: FakeSlack, types: TsTypes,
                                                                  raw_socket: RawSocket) -> None:
    slack = fake_slack
    world = slack.world
    private = world.add_channel("secret-project", private=True)
    top = slack.mention(world.ada, world.general, f"in acme/api: fix <https://example.com/x|it> <#{world.general.id}>")
    events = [
        top,
        slack.mention(world.bob, world.general, "and the tests", thread_ts=top["ts"]),
        slack.dm(world.ada, "hello"),
        slack.thread_reply(world.ada, world.general, top["ts"], "also this"),
        slack.channel_message(world.ada, private, "plain"),
        slack.channel_message(world.bob, world.general, "in a thread", thread_ts=top["ts"]),
    ]
    wire = Wire()
    for event in events:
        first = await slack.deliver_event(wire, event)
        await slack.deliver_event(wire, event, event_id=first.event_id, retry_num=1)
        over_socket = await slack.deliver_event(SOCKET, event)
        await slack.deliver_event(SOCKET, event, event_id=over_socket.event_id, retry_num=2, retry_reason="timeout")
    socket_envelopes = [e for e in raw_socket.envelopes if e["type"] == "events_api"]
    assert len(wire.received) == len(socket_envelopes) == 2 * len(events)

    failures = {}
    for source, bodies in (("http", wire.received), ("socket", [e["payload"] for e in socket_envelopes])):
        for index, body in enumerate(bodies):
            errors = envelope_errors(types, body)
            if errors:
                failures[f"{source}[{index}]:{body['event']['type']}"] = errors
    assert failures == {}
    assert [b["event"] for b in wire.received[::2]] == events
    assert all(set(e) == SOCKET_ENVELOPE_KEYS["events_api"] for e in socket_envelopes)
    assert [(e["retry_attempt"], e["retry_reason"]) for e in socket_envelopes[:2]] == [(0, ""), (2, "timeout")]
    assert all(b["context_enterprise_id"] is None for b in wire.received)  # as Slack sends it outside Grid


def test_the_bolt_checks_catch_a_wrong_shape(types: TsTypes) -> None:
    """The checks can fail, and use the clicked element's own action type and the inner event's own type."""
    button = {"type": "button", "action_id": "go", "block_id": "b", "action_ts": "1.2", "value": "v",
              "text": {"type": "plain_text", "text": "Go"}}
    select = {"type": "static_select", "action_id": "pick", "block_id": "b", "action_ts": "1.2",
              "selected_option": {"text": {"type": "plain_text", "text": "A"}, "value": "a"}}
    payload = {"type": "block_actions", "user": {"id": "U1", "username": "ada", "name": "ada", "team_id": "T1"},
               "api_app_id": "A1", "token": "t", "container": {"type": "message"}, "trigger_id": "1.2.3",
               "team": {"id": "T1", "domain": "acme"}, "enterprise": None, "is_enterprise_install": False,
               "channel": {"id": "C1", "name": "general"}, "state": {"values": {}}, "response_url": "http://x",
               "actions": [button]}
    assert block_action_errors(types, payload) == []
    assert block_action_errors(types, {**payload, "actions": [select]}) == []
    assert block_action_errors(types, {**payload, "actions": [{**button, "style": "primary"}]}) == []

    def fails(bad: dict[str, Any], expected: str) -> None:
        errors = block_action_errors(types, bad)
        assert any(expected in e for e in errors), errors

    fails({**payload, "actions": [{k: v for k, v in button.items() if k != "text"}]}, "'text' is missing")
    fails({**payload, "actions": [{k: v for k, v in select.items() if k != "selected_option"}]},
          "'selected_option' is missing")
    fails({**payload, "actions": [{**select, "value": "a"}]}, "'value' is not in the published type")
    fails({**payload, "actions": [{**button, "style": "loud"}]}, "'style' is not in the published type")
    fails({**payload, "actions": [{**button, "type": "overflow"}]}, "element types ['overflow']")
    fails({**payload, "enterprise": "E1"}, "BlockAction.enterprise")
    fails({k: v for k, v in payload.items() if k != "trigger_id"}, "'trigger_id' is missing")
    fails({**payload, "user": {"id": "U1"}}, "'username' is missing")
    fails({**payload, "message": {"type": "message", "ts": 1.5}}, "BlockAction.message.ts")

    event = {"type": "app_mention", "user": "U1", "text": "<@U2> hi", "ts": "1.2", "channel": "C1",
             "event_ts": "1.2"}
    body = {"token": "t", "team_id": "T1", "context_team_id": "T1", "context_enterprise_id": None,
            "api_app_id": "A1", "event": event, "type": "event_callback", "event_id": "Ev1", "event_time": 1,
            "authorizations": [{"enterprise_id": None, "team_id": "T1", "user_id": "U2", "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": "4-x"}
    assert envelope_errors(types, body) == []

    def envelope_fails(bad: dict[str, Any], expected: str) -> None:
        errors = envelope_errors(types, bad)
        assert any(expected in e for e in errors), errors

    envelope_fails({**body, "event": {**event, "ts": 1.2}}, "EnvelopedEvent.event.ts")  # the inner type applies
    envelope_fails({**body, "event": {**event, "channel_type": "channel"}}, "'channel_type' is not in the published")
    envelope_fails({**body, "event_time": "1"}, "EnvelopedEvent.event_time")
    envelope_fails({**body, "type": "event"}, "EnvelopedEvent.type")
    envelope_fails({**body, "context_enterprise_id": 5}, "EnvelopedEvent.context_enterprise_id")
    envelope_fails({k: v for k, v in body.items() if k != "event_id"}, "'event_id' is missing")
    envelope_fails({**body, "authorizations": [{"team_id": "T1", "user_id": "U2", "is_bot": True}]},
                   "'enterprise_id' is missing")
