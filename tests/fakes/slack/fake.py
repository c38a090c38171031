"""FakeSlack: the object tests hold — credentials, the world, the call log, failure switches, and the
senders that play Slack's side toward the app (Events API over HTTP, interactivity, Socket Mode).

The server (server.py) runs on its own event loop in a thread; the senders and waiters here run on
the CALLER's loop (so an app served on the test's loop can be reached), and cross to the server's
loop only for Socket Mode frames.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import events as ev
from .world import SlackChannel, SlackMessage, SlackUser, SlackWorld


class _Socket:
    def __repr__(self) -> str:
        return "SOCKET"


SOCKET: Any = _Socket()
"""Deliver over the connected Socket Mode client instead of HTTP."""

Target = str | Callable[[bytes, dict[str, str]], Awaitable[Any]] | _Socket


@dataclass
class SlackCall:
    """One Web API (or response_url) request the fake answered."""

    index: int
    method: str
    args: dict[str, Any]
    token: str | None
    status: int
    response: dict[str, Any]
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class Delivery:
    """What the app answered to one delivery."""

    status: int
    headers: dict[str, str]
    body: bytes
    event_id: str | None = None
    envelope_id: str | None = None
    acked: bool = False
    payload: dict[str, Any] | None = None  # what was sent (the envelope or interactive payload)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class SocketConnection:
    id: int
    send: Callable[[str], Awaitable[None]]
    close: Callable[[bool], Awaitable[None]]  # close(abrupt)
    hello_sent: bool = False
    told_to_disconnect: bool = False  # sent ``disconnect``: no more envelopes go to it
    received: list[dict[str, Any]] = field(default_factory=list)


def _as_id(value: SlackUser | SlackChannel | str) -> str:
    return value if isinstance(value, str) else value.id


class FakeSlack:
    """A fake Slack workspace with one installed app. Made by :func:`.server.serve_fake_slack`."""

    def __init__(self) -> None:
        self.team_id = "T0FAKE0001"
        self.api_app_id = "A0FAKE0001"
        self.bot_user_id = "U0FAKEBOT1"
        self.bot_id = "B0FAKEBOT1"
        self.bot_token = "xoxb-1-" + secrets.token_hex(12)
        self.app_token = "xapp-1-" + self.api_app_id + "-1-" + secrets.token_hex(16)
        self.signing_secret = secrets.token_hex(16)
        self.world = SlackWorld(self.team_id, bot_user_id=self.bot_user_id, bot_id=self.bot_id,
                                app_id=self.api_app_id)
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's
        self._lock = threading.RLock()
        self._calls: list[SlackCall] = []
        self._rate_limits: dict[str, tuple[int, int]] = {}  # method -> (remaining, retry_after)
        self._failures: dict[str, list[str]] = {}
        self.down_mode: str | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._tickets: set[str] = set()
        self._connections: dict[int, SocketConnection] = {}
        self._connection_ids = 0
        self._acks: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, tuple[str, str | None, str]] = {}  # id -> (channel, message_ts, user)
        self.deliveries: list[Delivery] = []
        self._set_down: Callable[[str | None], None] = lambda mode: None  # installed by the server

    # -- addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.base_url + "api/"

    def socket_mode_url(self) -> str:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.api_app_id}"

    def valid_ticket(self, ticket: str) -> bool:
        with self._lock:
            return ticket in self._tickets

    # -- call log and waiting

    def record(self, method: str, args: dict[str, Any], token: str | None, status: int,
               response: dict[str, Any]) -> SlackCall:
        with self._lock:
            call = SlackCall(len(self._calls), method, args, token, status, response)
            self._calls.append(call)
        self._notify()
        return call

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def mark(self) -> int:
        with self._lock:
            return len(self._calls)

    def _notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass

    async def _wait_until(self, check: Callable[[], Any], seconds: float, describe: Callable[[], str]) -> Any:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._waiters.append(entry)
        try:
            deadline = loop.time() + seconds
            while True:
                event.clear()
                result = check()
                if result is not None:
                    return result
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(describe())
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            with self._lock:
                self._waiters.remove(entry)

    async def wait_for_call(self, method: str, predicate: Callable[[SlackCall], bool] | None = None, *,
                            timeout: float = 5.0, since: int = 0) -> SlackCall:  # noqa: ASYNC109 (its API)
        def check() -> SlackCall | None:
            for call in self.calls(method):
                if call.index >= since and (predicate is None or predicate(call)):
                    return call
            return None

        def describe() -> str:
            seen = [f"{c.index}:{c.method}:{c.status}:{json.dumps(c.args)[:200]}" for c in self.calls()
                    if c.index >= since]
            return f"no {method} call matched within {timeout}s; calls since {since}: {seen}"

        result: SlackCall = await self._wait_until(check, timeout, describe)
        return result

    # -- failure switches

    def rate_limit(self, method: str, count: int = 1, *, retry_after: int = 1) -> None:
        with self._lock:
            self._rate_limits[method] = (count, retry_after)

    def fail_next(self, method: str, error: str, count: int = 1) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * count)

    def take_switch(self, method: str) -> tuple[str, Any] | None:
        """The failure this call must give, if a switch says so (consumes it)."""
        with self._lock:
            remaining, retry_after = self._rate_limits.get(method, (0, 0))
            if remaining > 0:
                self._rate_limits[method] = (remaining - 1, retry_after)
                return ("ratelimited", retry_after)
            queued = self._failures.get(method)
            if queued:
                return ("error", queued.pop(0))
        return None

    def down(self, mode: str = "503") -> None:
        """``"503"``: the Web API answers HTTP 503; ``"refuse"``: connections are refused and Socket
        Mode connections dropped. Until :meth:`up`."""
        if mode not in ("503", "refuse"):
            raise ValueError(f"down mode must be '503' or 'refuse', not {mode!r}")
        self.down_mode = mode
        self._set_down(mode)

    def up(self) -> None:
        self.down_mode = None
        self._set_down(None)

    # -- Socket Mode bookkeeping (called by the server on its loop)

    def socket_opened(self, send: Callable[[str], Awaitable[None]], close: Callable[[bool], Awaitable[None]]
                      ) -> SocketConnection:
        with self._lock:
            self._connection_ids += 1
            connection = SocketConnection(self._connection_ids, send, close)
            self._connections[connection.id] = connection
        return connection

    def socket_ready(self, connection: SocketConnection) -> None:
        connection.hello_sent = True
        self._notify()

    def socket_received(self, connection: SocketConnection, message: dict[str, Any]) -> None:
        with self._lock:
            connection.received.append(message)
            envelope_id = message.get("envelope_id")
            if isinstance(envelope_id, str):
                self._acks[envelope_id] = message
        self._notify()

    def socket_closed(self, connection: SocketConnection) -> None:
        with self._lock:
            self._connections.pop(connection.id, None)
        self._notify()

    @property
    def socket_connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections.values() if c.hello_sent and not c.told_to_disconnect)

    def _live_connection(self) -> SocketConnection | None:
        with self._lock:
            ready = [c for c in self._connections.values() if c.hello_sent and not c.told_to_disconnect]
            return ready[-1] if ready else None

    async def wait_for_socket(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 (its API)
        await self._wait_until(lambda: self._live_connection(), timeout,
                               lambda: f"no Socket Mode client connected within {timeout}s")

    async def _on_server(self, coro: Awaitable[Any]) -> Any:
        assert self.loop is not None
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))  # type: ignore[arg-type]

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's ``disconnect`` message on every connection (the client is expected to reconnect). From then
        on those connections get no envelopes and do not count: :meth:`wait_for_socket` waits for the new one."""
        with self._lock:
            connections = list(self._connections.values())
            for connection in connections:
                connection.told_to_disconnect = True
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}})
        for connection in connections:
            await self._on_server(connection.send(message))

    async def _socket_send(self, envelope_type: str, payload: dict[str, Any], *, retry_num: int = 0,
                           retry_reason: str = "", ack_timeout: float) -> Delivery:
        connection = await self._wait_until(self._live_connection, ack_timeout,
                                            lambda: "no Socket Mode client connected")
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "payload": payload, "type": envelope_type,
                                    "accepts_response_payload": False}  # true only for commands and view submissions
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_num
            envelope["retry_reason"] = retry_reason if retry_num else ""
        await self._on_server(connection.send(json.dumps(envelope)))
        try:
            ack = await self._wait_until(lambda: self._acks.get(envelope_id), ack_timeout,
                                         lambda: f"envelope {envelope_id} not acked")
        except TimeoutError:
            delivery = Delivery(0, {}, b"", payload.get("event_id"), envelope_id, False, envelope)
        else:
            delivery = Delivery(200, {}, json.dumps(ack).encode(), payload.get("event_id"), envelope_id, True,
                                envelope)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    # -- sending HTTP requests to the app

    async def _post(self, target: Target, body: bytes, headers: dict[str, str], *, seconds: float) -> Delivery:
        if isinstance(target, str):
            if not target.startswith(("http://127.", "http://localhost", "http://[::1]")):
                raise ValueError(f"the fake Slack only delivers to loopback addresses, not {target!r}")
            async with httpx.AsyncClient(timeout=seconds) as client:
                response = await client.post(target, content=body, headers=headers)
            return Delivery(response.status_code, dict(response.headers), response.content)
        answer = await asyncio.wait_for(target(body, dict(headers)), seconds)  # type: ignore[operator]
        if isinstance(answer, tuple):
            status, answer_headers, answer_body = answer
        else:
            status, answer_headers, answer_body = answer.status, getattr(answer, "headers", {}), answer.body
        if isinstance(answer_body, str):
            answer_body = answer_body.encode("utf-8")
        return Delivery(int(status), dict(answer_headers or {}), answer_body or b"")

    async def _send_signed(self, target: Target, body: bytes, content_type: str, *, sign: bool,
                           signing_secret: str | None, timestamp: int | None, extra: Mapping[str, str],
                           seconds: float) -> Delivery:
        if sign:
            headers = ev.signed_headers(signing_secret or self.signing_secret, body, timestamp=timestamp,
                                        content_type=content_type)
        else:
            headers = {"Content-Type": content_type,
                       "X-Slack-Request-Timestamp": str(int(time.time()) if timestamp is None else timestamp)}
        headers.update(extra)
        return await self._post(target, body, headers, seconds=seconds)

    # -- event builders (they record the person's message in the world)

    def mention(self, user: SlackUser | str, channel: SlackChannel | str, text: str, *,
                thread_ts: str | None = None) -> dict[str, Any]:
        mention = f"<@{self.bot_user_id}>"
        if mention not in text:
            text = f"{mention} {text}"
        message = ev.user_message(self.world, user, channel, text, thread_ts=thread_ts)
        return ev.app_mention_event(self.world, message)

    def dm(self, user: SlackUser | str, text: str) -> dict[str, Any]:
        channel = self.world.im_with(_as_id(user))
        message = ev.user_message(self.world, user, channel, text)
        return ev.message_event(self.world, message)

    def thread_reply(self, user: SlackUser | str, channel: SlackChannel | str, thread_ts: str, text: str
                     ) -> dict[str, Any]:
        message = ev.user_message(self.world, user, channel, text, thread_ts=thread_ts)
        return ev.message_event(self.world, message)

    def channel_message(self, user: SlackUser | str, channel: SlackChannel | str, text: str, *,
                        thread_ts: str | None = None) -> dict[str, Any]:
        message = ev.user_message(self.world, user, channel, text, thread_ts=thread_ts)
        return ev.message_event(self.world, message)

    # -- senders

    async def deliver_event(self, target: Target, event: dict[str, Any], *, event_id: str | None = None,
                            retry_num: int = 0, retry_reason: str = "http_timeout", sign: bool = True,
                            signing_secret: str | None = None, timestamp: int | None = None,
                            event_time: int | None = None, ack_timeout: float = 5.0,
                            timeout: float = 10.0) -> Delivery:  # noqa: ASYNC109 (its API)
        """Deliver one event in its ``event_callback`` envelope (a redelivery when ``event_id`` repeats)."""
        event_id = event_id or ev.new_event_id()
        envelope = ev.event_callback(self.world, event, event_id=event_id, event_time=event_time)
        if isinstance(target, _Socket):
            return await self._socket_send("events_api", envelope, retry_num=retry_num,
                                           retry_reason=retry_reason if retry_num else "", ack_timeout=ack_timeout)
        body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason} if retry_num else {}
        delivery = await self._send_signed(target, body, "application/json", sign=sign,
                                           signing_secret=signing_secret, timestamp=timestamp, extra=extra,
                                           seconds=timeout)
        delivery.event_id = event_id
        delivery.payload = envelope
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    async def url_verification(self, target: Target, challenge: str | None = None, *, sign: bool = True,
                               timeout: float = 10.0) -> Delivery:  # noqa: ASYNC109 (its API)
        body = json.dumps(ev.url_verification_body(challenge or secrets.token_urlsafe(24))).encode()
        return await self._send_signed(target, body, "application/json", sign=sign, signing_secret=None,
                                       timestamp=None, extra={}, seconds=timeout)

    def block_actions(self, *, user: SlackUser | str, action_id: str, value: str | None = None,
                      channel: SlackChannel | str | None = None, message_ts: str | None = None,
                      selected_option: str | None = None, block_id: str | None = None,
                      action_type: str = "button", forge: bool = False) -> dict[str, Any]:
        """The ``block_actions`` payload of a click (without sending it; see :meth:`click`)."""
        world = self.world
        person = world.user(_as_id(user))
        if person is None:
            raise KeyError(f"no user {user!r} in the fake world")
        message: SlackMessage | None = None
        chan: SlackChannel | None = world.channel(_as_id(channel)) if channel is not None else None
        if message_ts is not None:
            if chan is None:
                chan = next((c for c in world.channels.values() if world.message(c.id, message_ts)), None)
            message = world.message(chan.id, message_ts) if chan else None
            if message is None:
                raise LookupError(f"no message {message_ts} to click in")
        if chan is None:
            raise ValueError("click needs a channel or the message_ts of a message in one")
        found = ev.find_element(message.blocks if message else None, action_id)
        if found is None and message is not None and not forge:
            raise LookupError(f"message {message_ts} has no element with action_id {action_id!r} "
                              "(pass forge=True to click one that is not there)")
        block, element = found if found else ({"block_id": block_id or secrets.token_hex(3)}, None)
        if element is not None and element.get("type") == "static_select" and selected_option is None:
            raise ValueError(f"{action_id!r} is a static_select: pass selected_option")
        kind = "static_select" if selected_option is not None else (element or {}).get("type", action_type)
        action = ev.action_of(element, block_id or str(block.get("block_id", "")), action_id=action_id,
                              value=value, selected_option=selected_option, action_type=str(kind))
        response_id = secrets.token_hex(8)
        with self._lock:
            self._response_urls[response_id] = (chan.id, message_ts, person.id)
        return ev.block_actions_payload(world, user=person, channel=chan, message=message, action=action,
                                        response_url=f"{self.base_url}actions/{self.team_id}/{response_id}",
                                        message_ts=message_ts, bot_profile=world.bot_profile())

    async def click(self, target: Target, *, user: SlackUser | str, action_id: str, value: str | None = None,
                    channel: SlackChannel | str | None = None, message_ts: str | None = None,
                    thread_ts: str | None = None, selected_option: str | None = None, block_id: str | None = None,
                    action_type: str = "button", forge: bool = False, sign: bool = True,
                    signing_secret: str | None = None, timestamp: int | None = None, ack_timeout: float = 5.0,
                    timeout: float = 10.0) -> Delivery:  # noqa: ASYNC109 (its API)
        """A person clicks ``action_id`` in the bot's message ``message_ts`` (or anywhere, with ``forge``)."""
        del thread_ts  # the thread comes from the message itself; accepted for symmetry with the builders
        payload = self.block_actions(user=user, action_id=action_id, value=value, channel=channel,
                                     message_ts=message_ts, selected_option=selected_option, block_id=block_id,
                                     action_type=action_type, forge=forge)
        if isinstance(target, _Socket):
            return await self._socket_send("interactive", payload, ack_timeout=ack_timeout)
        body = ev.interactive_body(payload)
        delivery = await self._send_signed(target, body, "application/x-www-form-urlencoded", sign=sign,
                                           signing_secret=signing_secret, timestamp=timestamp, extra={},
                                           seconds=timeout)
        delivery.payload = payload
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    # -- response_url (called by the server)

    def response_url_post(self, response_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            target = self._response_urls.get(response_id)
        if target is None:
            return 404, {"ok": False, "error": "expired_url"}
        channel_id, message_ts, user_id = target
        world = self.world
        text = str(body.get("text") or "")
        blocks = body.get("blocks")
        if body.get("delete_original") and message_ts:
            world.delete(channel_id, message_ts)
        elif body.get("replace_original") and message_ts:
            message = world.message(channel_id, message_ts)
            if message is not None:
                with world.lock:
                    message.text = text
                    message.blocks = blocks if isinstance(blocks, list) else None
                    message.edited += 1
                    message.edited_ts = world.next_ts()
        elif body.get("response_type") == "in_channel":
            world.post(channel_id, world.bot_user_id, text, blocks=blocks if isinstance(blocks, list) else None,
                       thread_ts=body.get("thread_ts"))
        else:
            world.post(channel_id, world.bot_user_id, text, blocks=blocks if isinstance(blocks, list) else None,
                       ephemeral_for=user_id)
        return 200, {"ok": True}
