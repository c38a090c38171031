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
    CLOSE_REPLACED,
    BridgeConnection,
    BridgeConnections,
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


@pytest.fixture
async def bridge() -> AsyncIterator[Bridge]:
    handler = RecordingHandler({"tok-a": ("s1", "sb-a"), "tok-b": ("s1", "sb-b"), "tok-other": ("s2", "sb-x")})
    connections = BridgeConnections()
    server = BridgeServer(handler, connections, "127.0.0.1", 0)
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


async def test_a_newer_connection_of_the_session_replaces_the_older_one(bridge: Bridge) -> None:
    async with bridge.connect("/bridge/s1", "tok-a") as first:
        await bridge.handler.until(("connected", "sb-a", None))
        async with bridge.connect("/bridge/s1", "tok-b") as second:
            await asyncio.wait_for(first.wait_closed(), WAIT_SECONDS)
            assert (first.close_code, first.close_reason) == (CLOSE_REPLACED, "replaced by a newer connection")
            await bridge.handler.until(("disconnected", "sb-a", None), ("connected", "sb-b", None))

            # The older one's end did not unregister the newer one: commands go to the newer sandbox.
            current = bridge.connections.get("s1")
            assert current is not None and current.sandbox_id == "sb-b"
            assert await bridge.connections.send("s1", p.Stop(message_id="m1"))
            assert p.parse_command(await asyncio.wait_for(second.recv(), WAIT_SECONDS)) == p.Stop(message_id="m1")
            await second.send("after the takeover")
            await bridge.handler.until(("received", "sb-b", "after the takeover"))
    await bridge.handler.until(("disconnected", "sb-b", None))
    assert bridge.connections.get("s1") is None


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
