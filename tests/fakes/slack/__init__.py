"""A faithful fake Slack for tests: Web API, Events API deliveries, interactivity, Socket Mode.

One loopback aiohttp server (127.0.0.1:<free port>, its own event loop in a daemon thread, so
synchronous tests, asyncio tests and the code under test can all use it). Response shapes follow
``@slack/web-api``'s response types, event payloads ``@slack/types``' event and Block Kit types, and what
is sent to the app ``@slack/bolt``'s ``BlockAction<ButtonAction | StaticSelectAction>`` (interactive
payloads) and ``EnvelopedEvent<…>`` (Events API bodies) (npm, in node_modules/@slack/); test_fidelity.py
checks every shape against them with :mod:`.ts_types` (a small reader of those TypeScript declarations).
Where Slack sends more than bolt's types allow, the fake follows Slack: ``"enterprise": null`` in
``block_actions`` and ``"context_enterprise_id": null`` in event bodies outside Enterprise Grid, a clicked
button's ``style`` in its action. No package publishes a type for the Socket Mode envelope.

Fixture ``fake_slack`` (tests/fakes/slack/fixtures.py, registered for the whole suite in
tests/conftest.py's ``pytest_plugins``)::

    async def test_x(fake_slack: FakeSlack) -> None:
        client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)

Outside pytest: ``with serve_fake_slack() as slack: ...`` (same object).

Attributes of :class:`FakeSlack`:

* ``api_url`` — ``http://127.0.0.1:<port>/api/`` (ends with "/"; give it to slack_sdk as ``base_url``
  and to the app as ``settings.slack_api_url``); ``base_url`` (``http://127.0.0.1:<port>/``), ``port``;
* ``bot_token`` (``xoxb-…``), ``app_token`` (``xapp-1-…``, for Socket Mode), ``signing_secret``,
  ``team_id`` (``T…``), ``api_app_id`` (``A…``), ``bot_user_id`` (``U…``), ``bot_id`` (``B…``);
* ``world`` — :class:`SlackWorld` (thread-safe):
  - ``add_user(name, *, real_name=None, email=None, email_confirmed=True, is_bot=False) -> SlackUser``
    (``.id``, ``.name``, ``.real_name``, ``.email``, ``.is_email_confirmed``);
  - ``add_channel(name, *, private=False) -> SlackChannel`` (``.id`` ``C…``/``G…``, ``.name``, ``.is_private``,
    ``.channel_type``), ``im_with(user) -> SlackChannel`` (the person's DM with the bot, ``D…``);
  - seeded: ``world.ada`` (Ada Lima, ada@example.com, confirmed), ``world.bob`` (Bob Stone,
    bob@example.com, NOT confirmed), ``world.general`` (channel ``general``), ``world.bot`` (the bot user);
  - reading: ``messages(channel_id) -> list[SlackMessage]`` (top-level, oldest first),
    ``thread(channel_id, thread_ts) -> list[SlackMessage]`` (parent then replies),
    ``message(channel_id, ts) -> SlackMessage | None``, ``reactions(channel_id, ts) -> dict[str, list[str]]``
    (name → user ids), ``ephemerals(channel_id) -> list[SlackMessage]``, ``user(id)``, ``channel(id)``.
    :class:`SlackMessage`: ``ts``, ``channel``, ``user``, ``text``, ``blocks``, ``thread_ts``, ``bot_id``,
    ``edited`` (how many chat.update calls changed it), ``replies`` (ts list), ``to_api()`` (Slack's rendering).

Web API (``{api_url}<method>``; GET or POST; query string, form or JSON bodies; token from
``Authorization: Bearer`` or — not for JSON bodies, as in Slack — a ``token`` form/query field):
``auth.test``, ``chat.postMessage`` (``channel`` may be a user id: their DM), ``chat.update`` (blocks kept
when only ``text`` is given, as Slack does), ``chat.postEphemeral``, ``chat.getPermalink``, ``chat.delete``,
``reactions.add``, ``reactions.remove``, ``users.info``, ``users.lookupByEmail``, ``conversations.info``,
``conversations.replies``, ``conversations.open``, ``apps.connections.open`` (needs the app token; every
other method the bot token). Real errors (HTTP 200, ``{"ok": false, "error": …}``): ``not_authed``,
``invalid_auth``, ``not_allowed_token_type``, ``channel_not_found``, ``message_not_found``,
``thread_not_found``, ``cant_update_message``, ``cant_delete_message``, ``user_not_found``,
``users_not_found``, ``already_reacted``, ``no_reaction``, ``no_text``, ``invalid_arguments``,
``unknown_method``; ``ratelimited`` is HTTP 429 with ``Retry-After``.

Call log and waiting (every request is recorded, failed ones too; ``response_url`` posts as method
``"response_url"``):

* ``calls(method=None) -> list[SlackCall]`` — ``SlackCall``: ``index``, ``method``, ``args`` (dict; ``blocks``,
  ``attachments`` already parsed from JSON strings), ``token``, ``status`` (HTTP), ``response`` (dict), ``ok``;
* ``await wait_for_call(method, predicate=None, *, timeout=5.0, since=0) -> SlackCall`` — the first call
  (index >= ``since``) of ``method`` with ``predicate(call)`` true; past calls count too, so take
  ``mark = fake.mark()`` first and pass ``since=mark`` to wait for a NEW one. Raises ``TimeoutError`` listing
  the calls it saw;
* ``mark() -> int`` — the index the next call will get; ``deliveries`` — every :class:`Delivery` sent.

Failure switches (thread-safe, any time):

* ``rate_limit(method, count=1, *, retry_after=1)`` — the next ``count`` calls of ``method`` answer HTTP 429,
  ``Retry-After: <retry_after>``, ``{"ok": false, "error": "ratelimited"}``;
* ``fail_next(method, error, count=1)`` — the next ``count`` calls answer ``{"ok": false, "error": error}``;
* ``down(mode="503")`` — every Web API call answers HTTP 503 ``{"ok": false, "error": "service_unavailable"}``
  until ``up()``; ``down("refuse")`` closes the listening socket (connection refused), drops open
  connections and Socket Mode clients, until ``up()`` listens on the same port again.

Sending to the app (``async``, on the caller's loop). ``target`` is the app's URL (loopback only, e.g.
``http://127.0.0.1:3100/slack/events``), or an async callable ``(body: bytes, headers: dict[str, str]) ->
answer`` such as ``SlackBot.handle_http`` (answer: an object with ``.status``, ``.body`` and optionally
``.headers``, or a ``(status, headers, body)`` tuple), or :data:`SOCKET` for the connected Socket Mode client:

* builders that ALSO record the person's message in the world (so ``conversations.replies``, thread ts and
  reactions work) and return the event dict: ``mention(user, channel, text, *, thread_ts=None)``
  (``app_mention``; ``<@bot>`` is put in front of ``text`` unless it is already in it),
  ``dm(user, text)`` (``message``, ``channel_type="im"``), ``thread_reply(user, channel, thread_ts, text)``
  (``message`` in a channel thread, with ``thread_ts`` and ``parent_user_id``),
  ``channel_message(user, channel, text, *, thread_ts=None)``; ``user``/``channel`` are a
  ``SlackUser``/``SlackChannel`` or an id. Slack itself sends BOTH an ``app_mention`` and a ``message``
  (different event ids) for a mention in a channel whose messages the app subscribes to; build both
  when a test needs that;
* ``deliver_event(target, event, *, event_id=None, retry_num=0, retry_reason="http_timeout", sign=True,
  signing_secret=None, timestamp=None, ack_timeout=5.0, timeout=10.0) -> Delivery`` — wraps the event in the
  real ``event_callback`` envelope (token, team_id, api_app_id, event, type, event_id, event_time,
  authorizations, is_ext_shared_channel, event_context) and signs it like Slack (``v0=`` HMAC-SHA256 of
  ``v0:{timestamp}:{body}``; ``X-Slack-Request-Timestamp``, ``X-Slack-Signature``; ``retry_num > 0`` adds
  ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason``; ``sign=False`` sends no signature; ``signing_secret=``
  signs with another secret). The same ``event_id`` again is a redelivery. Over :data:`SOCKET`: an
  ``events_api`` envelope with ``retry_attempt``/``retry_reason`` (slack-bolt turns them into the request
  headers ``x-slack-retry-num``/``x-slack-retry-reason``, "0"/"" on a first delivery);
* ``click(target, *, user, action_id, value=None, channel=None, message_ts=None, selected_option=None,
  block_id=None, action_type="button", forge=False, sign=True, signing_secret=None) -> Delivery`` — a
  ``block_actions`` payload (form-encoded ``payload=<json>``, signed; over :data:`SOCKET` an ``interactive``
  envelope). ``message_ts`` names the bot's message that holds the element: its block, the element's
  text/value/options and the thread come from the world (a missing ``action_id`` raises ``LookupError``
  unless ``forge=True``; then give ``channel``; a forged button is labelled with its ``action_id``).
  ``selected_option`` = the picked option's ``value`` of a ``static_select``. Only buttons and
  ``static_select`` menus can be clicked (another element type raises ``ValueError``). ``response_url``
  points at the fake (``replace_original``/``delete_original``/``response_type`` are applied to the world);
  ``block_actions(...)`` builds the payload without sending;
* ``url_verification(target, challenge=None) -> Delivery``;
* :class:`Delivery`: ``status`` (HTTP status; over Socket Mode 200 when acked, 0 when not acked within
  ``ack_timeout``), ``headers``, ``body`` (bytes; over Socket Mode the ack's JSON), ``json()``, ``text``,
  ``event_id``, ``envelope_id``, ``acked``, ``payload`` (what was sent).

Socket Mode: ``apps.connections.open`` with the app token answers ``ws://127.0.0.1:<port>/link/?ticket=…``
(an unknown ticket is refused with 401); the WebSocket sends ``{"type": "hello", …}``, then envelopes; the
client acks with ``{"envelope_id": …}``. slack_sdk's aiohttp ``SocketModeClient`` — what
``slack_bolt.adapter.socket_mode.async_handler.AsyncSocketModeHandler`` uses — works against it:

* ``await wait_for_socket(timeout=10.0)`` — until a client is connected and has been sent ``hello``;
* ``socket_connections`` — how many are connected now;
* ``await socket_disconnect(reason="refresh_requested")`` — Slack's ``disconnect`` message (those connections
  get no more envelopes and no longer count, so ``wait_for_socket`` then waits for the new one); slack_sdk
  reconnects through a new ``apps.connections.open``;
* an envelope that is not acked in time is NOT redelivered by itself: send it again with the same
  ``event_id`` and ``retry_num=1, retry_reason="timeout"``, as Slack would.

Signing helpers for hand-made requests: ``slack_signature(secret, timestamp, body) -> "v0=…"``,
``signed_headers(secret, body, *, timestamp=None, content_type="application/json") -> dict``.
"""

from .events import signed_headers, slack_signature
from .fake import SOCKET, Delivery, FakeSlack, SlackCall
from .server import serve_fake_slack
from .world import SlackChannel, SlackMessage, SlackUser, SlackWorld

__all__ = ["SOCKET", "Delivery", "FakeSlack", "SlackCall", "SlackChannel", "SlackMessage", "SlackUser",
           "SlackWorld", "serve_fake_slack", "signed_headers", "slack_signature"]
