"""The bridge server: its handshake checks alone, then a real server on a local port with a real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus

import openinspect_protocol as p
import pytest
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from backend_jobs.bridge_server import (
    CLOSE_RATE_LIMITED,
    BridgeConnection,
    BridgeConnections,
    BridgeLimits,
    BridgeRefused,
    BridgeServer,
    Handshake,
    Refusal,
    check_handshake,
)

VERSION = str(p.PROTOCOL_VERSION)
WAIT_SECONDS = 5.0
BAD_PATH = Refusal(HTTPStatus.BAD_REQUEST, "expected /bridge/{session_id}")
NO_TOKEN = Refusal(HTTPStatus.UNAUTHORIZED, "missing bearer token")


def headers(authorization: str | None = "Bearer tok", version: str | None = VERSION) -> Headers:
    values = Headers()
    if authorization is not None:
        values["Authorization"] = authorization
    if version is not None:
        values[p.PROTOCOL_HEADER] = version
    return values


# ------------------------------------------------------------ the checks alone


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/bridge/s1", Handshake("s1", "tok")),
        ("/bridge/s1?attempt=2", Handshake("s1", "tok")),  # the query is not part of the id
        ("/bridge/", BAD_PATH),
        ("/bridge", BAD_PATH),
        ("/bridge/?x=s1", BAD_PATH),
        ("/bridge/s1/more", BAD_PATH),
        ("/bridges/s1", BAD_PATH),
        ("/other/s1", BAD_PATH),
        ("/", BAD_PATH),
    ],
)
def test_the_path_names_one_session(path: str, expected: Handshake | Refusal) -> None:
    assert check_handshake(path, headers()) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (VERSION, Handshake("s1", "tok")),
        (None, Refusal(HTTPStatus.UPGRADE_REQUIRED,
                       f"protocol version None not supported; this server speaks {VERSION}")),
        ("999", Refusal(HTTPStatus.UPGRADE_REQUIRED,
                        f"protocol version '999' not supported; this server speaks {VERSION}")),
        ("", Refusal(HTTPStatus.UPGRADE_REQUIRED, f"protocol version '' not supported; this server speaks {VERSION}")),
    ],
)
def test_the_protocol_version_must_match(version: str | None, expected: Handshake | Refusal) -> None:
    assert check_handshake("/bridge/s1", headers(version=version)) == expected


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer tok", Handshake("s1", "tok")),
        ("bearer tok", Handshake("s1", "tok")),  # the scheme is case-insensitive
        ("BEARER  tok ", Handshake("s1", "tok")),  # spaces around the token are not part of it
        ("Bearer a b", Handshake("s1", "a b")),
        (None, NO_TOKEN),
        ("", NO_TOKEN),
        ("Bearer", NO_TOKEN),
        ("Bearer   ", NO_TOKEN),
        ("Basic dXNlcjpwdw==", NO_TOKEN),
        ("tok", NO_TOKEN),
    ],
)
def test_the_bearer_token_is_parsed(authorization: str | None, expected: Handshake | Refusal) -> None:
    assert check_handshake("/bridge/s1", headers(authorization=authorization)) == expected


def test_the_checks_go_path_then_version_then_token() -> None:
    assert check_handshake("/nope", headers(authorization=None, version="0")) == BAD_PATH
    assert check_handshake("/bridge/s1", headers(authorization=None, version="0")) == Refusal(
        HTTPStatus.UPGRADE_REQUIRED, f"protocol version '0' not supported; this server speaks {VERSION}")


# ------------------------------------------------------------ a real server


class RecordingHandler:
    """A plain bridge handler: tokens known up front, everything it is told recorded in order."""

    def __init__(self, tokens: dict[str, tuple[str, str]]) -> None:
        self.tokens = tokens  # token -> (session id, sandbox id)
        self.seen: list[tuple[str, str, str | bytes | None]] = []
        self.reasons: list[str] = []
        self._news = asyncio.Event()

    async def authenticate(self, session_id: str, token: str) -> str:
        owner = self.tokens.get(token)
        if owner is None:
            raise BridgeRefused(HTTPStatus.UNAUTHORIZED, "invalid sandbox token")
        if owner[0] != session_id:
            raise BridgeRefused(HTTPStatus.FORBIDDEN, "this sandbox token belongs to another session")
        return owner[1]

    async def connected(self, connection: BridgeConnection) -> None:
        self._record("connected", connection, None)

    async def received(self, connection: BridgeConnection, frame: str | bytes) -> None:
        self._record("received", connection, frame)

    async def refused(self, connection: BridgeConnection, frame: str | bytes, reason: str) -> None:
        self._record("refused", connection, frame)
        self.reasons.append(reason)
        await connection.send(p.Reject(reason=reason))

    async def disconnected(self, connection: BridgeConnection) -> None:
        self._record("disconnected", connection, None)

    def _record(self, what: str, connection: BridgeConnection, frame: str | bytes | None) -> None:
        self.seen.append((what, connection.sandbox_id, frame))
        self._news.set()

    async def until(self, *expected: tuple[str, str, str | bytes | None]) -> None:
        """Wait until all of ``expected`` happened (in whatever order)."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not all(item in self.seen for item in expected):
                self._news.clear()
                await self._news.wait()

    def frames(self, sandbox_id: str) -> list[str | bytes | None]:
        return [frame for what, sid, frame in self.seen if what == "received" and sid == sandbox_id]


@dataclass
class Bridge:
    server: BridgeServer
    handler: RecordingHandler
    connections: BridgeConnections

    def connect(self, path: str, token: str | None = None, version: str | None = VERSION) -> connect:
        extra: dict[str, str] = {}
        if token is not None:
            extra["Authorization"] = f"Bearer {token}"
        if version is not None:
            extra[p.PROTOCOL_HEADER] = version
        return connect(f"ws://127.0.0.1:{self.server.port}{path}", additional_headers=extra, proxy=None,
                       open_timeout=WAIT_SECONDS, close_timeout=WAIT_SECONDS)


class Clock:
    """The bridge server's time, moved by the test (the budgets are judged against it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bridge(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Bridge]:
    """A server; a test may set its limits with ``@pytest.mark.parametrize("limits", [BridgeLimits(...)])``."""
    limits = getattr(request, "param", None) or BridgeLimits()
    handler = RecordingHandler({"tok-a": ("s1", "sb-a"), "tok-b": ("s1", "sb-b"), "tok-other": ("s2", "sb-x")})
    connections = BridgeConnections()
    server = BridgeServer(handler, connections, "127.0.0.1", 0, limits, clock=clock)
    await server.start()
    try:
        yield Bridge(server, handler, connections)
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("path", "token", "version", "status", "reason"),
    [
        ("/elsewhere/s1", "tok-a", VERSION, 400, "expected /bridge/{session_id}"),
        ("/bridge/s1", None, VERSION, 401, "missing bearer token"),
        ("/bridge/s1", "tok-unknown", VERSION, 401, "invalid sandbox token"),
        ("/bridge/s1", "tok-other", VERSION, 403, "this sandbox token belongs to another session"),
        ("/bridge/s1", "tok-a", "999", 426, "protocol version '999' not supported"),
        ("/bridge/s1", "tok-a", None, 426, "protocol version None not supported"),
    ],
)
async def test_a_refusal_is_an_http_answer_before_the_upgrade(
        bridge: Bridge, path: str, token: str | None, version: str | None, status: int, reason: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with bridge.connect(path, token, version):
            pass
    assert refused.value.response.status_code == status
    assert reason in refused.value.response.body.decode()
    assert bridge.handler.seen == []
    assert bridge.connections.get("s1") is None


async def test_frames_reach_the_handler_in_order_and_commands_reach_the_sandbox(bridge: Bridge) -> None:
    sent: list[str | bytes] = [f'{{"n": {n}}}' if n % 7 else f'{{"n": {n}}}'.encode() for n in range(100)]
    async with bridge.connect("/bridge/s1?attempt=1", "tok-a") as client:
        await bridge.handler.until(("connected", "sb-a", None))
        for frame in sent:
            await client.send(frame)
        await bridge.handler.until(("received", "sb-a", sent[-1]))
        assert bridge.handler.frames("sb-a") == sent  # text stays text, bytes stay bytes

        connection = bridge.connections.get("s1")
        assert connection is not None and (connection.session_id, connection.sandbox_id) == ("s1", "sb-a")
        assert await bridge.connections.send("s1", p.Ack(seq=100))
        assert p.parse_command(await asyncio.wait_for(client.recv(), WAIT_SECONDS)) == p.Ack(seq=100)
        assert not await bridge.connections.send("s2", p.Ack(seq=1))  # nobody connected there

    await bridge.handler.until(("disconnected", "sb-a", None))
    assert bridge.connections.get("s1") is None
    assert [what for what, _, _ in bridge.handler.seen] == ["connected"] + ["received"] * 100 + ["disconnected"]


async def test_a_second_connection_is_refused_while_the_first_lives_and_accepted_after(bridge: Bridge) -> None:
    async with bridge.connect("/bridge/s1", "tok-a") as first:
        await bridge.handler.until(("connected", "sb-a", None))
        for token in ("tok-a", "tok-b"):  # the same sandbox reconnecting too early, or an impostor with a token
            with pytest.raises(InvalidStatus) as refused:
                async with bridge.connect("/bridge/s1", token):
                    pass
            assert refused.value.response.status_code == 409
            assert "connected already" in refused.value.response.body.decode()
        # The live one was not touched: still registered, still receiving commands, still sending.
        assert first.close_code is None
        current = bridge.connections.get("s1")
        assert current is not None and current.sandbox_id == "sb-a"
        assert await bridge.connections.send("s1", p.Stop(message_id="m1"))
        assert p.parse_command(await asyncio.wait_for(first.recv(), WAIT_SECONDS)) == p.Stop(message_id="m1")
        await first.send("still here")
        await bridge.handler.until(("received", "sb-a", "still here"))
    await bridge.handler.until(("disconnected", "sb-a", None))
    assert [what for what, sid, _ in bridge.handler.seen if sid == "sb-b"] == []

    # Once it has closed, a reconnect gets in (a bridge reconnects after every drop).
    async with bridge.connect("/bridge/s1", "tok-a") as again:
        await bridge.handler.until(("received", "sb-a", "still here"))
        await again.send("back")
        await bridge.handler.until(("received", "sb-a", "back"))
        assert bridge.connections.get("s1") is not None


async def test_of_handshakes_at_once_exactly_one_gets_in(bridge: Bridge) -> None:
    refused: list[int] = []
    all_refused = asyncio.Event()

    async def attempt(token: str) -> int:
        try:
            async with bridge.connect("/bridge/s1", token):
                await asyncio.wait_for(all_refused.wait(), WAIT_SECONDS)  # hold it while the others try
                return 101
        except InvalidStatus as refusal:
            refused.append(refusal.response.status_code)
            if len(refused) == 3:
                all_refused.set()
            return refusal.response.status_code

    results = await asyncio.gather(*(attempt(t) for t in ("tok-a", "tok-b", "tok-a", "tok-b")))
    assert sorted(results) == [101, 409, 409, 409]


@pytest.mark.parametrize("bridge", [BridgeLimits(max_frame_bytes=1000)], indirect=True)
async def test_a_frame_over_the_size_limit_is_refused_with_a_reason_and_the_connection_goes_on(
        bridge: Bridge) -> None:
    big = '{"seq": 1, "pad": "' + "x" * 1000 + '"}'
    async with bridge.connect("/bridge/s1", "tok-a") as client:
        await client.send(big)
        reject = p.parse_command(await asyncio.wait_for(client.recv(), WAIT_SECONDS))
        assert isinstance(reject, p.Reject) and "larger than the limit of 1000 bytes" in reject.reason
        await client.send("small")
        await bridge.handler.until(("received", "sb-a", "small"))
    assert bridge.handler.frames("sb-a") == ["small"]  # the big one never reached the handler as a frame
    assert ("refused", "sb-a", big) in bridge.handler.seen


@pytest.mark.parametrize("bridge", [BridgeLimits(max_frame_bytes=1000)], indirect=True)
async def test_a_frame_beyond_the_transport_limit_closes_the_connection_unread(bridge: Bridge) -> None:
    async with bridge.connect("/bridge/s1", "tok-a") as client:
        await client.send("x" * (bridge.server.limits.transport_bytes + 1))
        await asyncio.wait_for(client.wait_closed(), WAIT_SECONDS)
        assert client.close_code == 1009
    assert bridge.handler.frames("sb-a") == []


@pytest.mark.parametrize("bridge", [BridgeLimits(max_events_per_second=2, max_bytes_per_second=10**6)],
                         indirect=True)
async def test_over_its_budget_a_sandbox_is_refused_and_slowed_and_later_let_through(
        bridge: Bridge, clock: Clock) -> None:
    # 2 events a second, 10 s of burst: 20 frames pass at once, the 21st is refused.
    async with bridge.connect("/bridge/s1", "tok-a") as client:
        for n in range(21):
            await client.send(f"frame {n}")
        reject = p.parse_command(await asyncio.wait_for(client.recv(), WAIT_SECONDS))
        assert isinstance(reject, p.Reject) and "rate limit" in reject.reason and "retry in 0.50 s" in reject.reason
        await asyncio.wait_for(client.wait_closed(), WAIT_SECONDS)
        assert client.close_code == CLOSE_RATE_LIMITED
    await bridge.handler.until(("disconnected", "sb-a", None))
    assert bridge.handler.frames("sb-a") == [f"frame {n}" for n in range(20)]  # the 21st was not handed on

    # Reconnecting does not reset the budget: it is the sandbox's, not the connection's.
    async with bridge.connect("/bridge/s1", "tok-a") as client:
        await client.send("frame 20")
        await asyncio.wait_for(client.wait_closed(), WAIT_SECONDS)
        assert client.close_code == CLOSE_RATE_LIMITED
    await bridge.handler.until(("disconnected", "sb-a", None))
    clock.now += 1.0  # two events' worth refills
    async with bridge.connect("/bridge/s1", "tok-a") as client:
        await client.send("frame 20")
        await client.send("frame 21")
        await bridge.handler.until(("received", "sb-a", "frame 21"))
    # Another sandbox has a budget of its own.
    bridge.handler.tokens["tok-s2"] = ("s2", "sb-2")
    async with bridge.connect("/bridge/s2", "tok-s2") as other:
        await other.send("hello")
        await bridge.handler.until(("received", "sb-2", "hello"))


async def test_sessions_have_their_own_connections(bridge: Bridge) -> None:
    bridge.handler.tokens["tok-s2"] = ("s2", "sb-2")
    async with bridge.connect("/bridge/s1", "tok-a") as one, bridge.connect("/bridge/s2", "tok-s2") as two:
        await bridge.handler.until(("connected", "sb-a", None), ("connected", "sb-2", None))
        await one.send("to s1")
        await two.send("to s2")
        await bridge.handler.until(("received", "sb-a", "to s1"), ("received", "sb-2", "to s2"))
        assert await bridge.connections.send("s2", p.Shutdown(reason="idle"))
        assert p.parse_command(await asyncio.wait_for(two.recv(), WAIT_SECONDS)) == p.Shutdown(reason="idle")
        assert one.close_code is None  # untouched by the other session's traffic
