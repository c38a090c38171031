"""Bounds, tried on a real control plane: each was unbounded (or broke the bridge) before issue 8.

The bridge is driven by hand with a sandbox's own token (the manual backend writes it), on a
real database — PostgreSQL where its column limits are the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import openinspect_protocol as p
import pytest
from openinspect_protocol import events as protocol_events
from openinspect_protocol.commands import MAX_MODEL_CHARS
from openinspect_protocol.logs import fields_of
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend_jobs.bridge_server import CLOSE_RATE_LIMITED
from openinspect_core.models import Artifact, Event, Message, Sandbox, Session
from openinspect_core.services import prompts, sessions
from sandbox.bridge import Bridge
from sandbox.config import BridgeSettings
from sandbox.outbox import Outbox
from tests.security.bridge_rig import (
    Rig,
    control_plane,
    frame,
    reply,
    send_expecting_ack,
    until,
)

LONG_ID = "m" * 40  # what closed the bridge with 1011 on PostgreSQL, on every re-send


@pytest.fixture
async def rig(postgres_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    marker = request.node.get_closest_marker("settings")
    async with control_plane(postgres_url, tmp_path, **(dict(marker.kwargs) if marker else {})) as rig:
        yield rig


def token(seq: int, text: str = "x", **fields: object) -> str:
    return frame("token", seq, part_id="p", text=text, **fields)


# ------------------------------------------------------------------ the protocol's limits are the columns'


def column_length(table: type, column: str) -> int:
    return table.__table__.c[column].type.length  # type: ignore[attr-defined, no-any-return]


def test_the_protocols_field_limits_equal_the_columns() -> None:
    assert protocol_events.MESSAGE_ID_MAX_CHARS == column_length(Event, "message_id") == column_length(
        Message, "id") == column_length(Artifact, "message_id")
    assert protocol_events.MAX_TITLE_CHARS == column_length(Session, "title") == sessions.MAX_TITLE_CHARS
    assert protocol_events.MAX_ARTIFACT_REF_CHARS == column_length(Artifact, "ref")
    assert MAX_MODEL_CHARS == column_length(Message, "model") == prompts.MAX_MODEL_CHARS == sessions.MAX_MODEL_CHARS
    assert sessions.MAX_BRANCH_CHARS == column_length(Session, "branch")
    assert prompts.MAX_CLIENT_REQUEST_ID_CHARS == column_length(Message, "client_request_id")
    assert max(len(kind) for kind in p.ArtifactKind.__args__) <= column_length(Artifact, "kind")  # type: ignore[attr-defined]
    assert protocol_events.MAX_SEQ == 2**31 - 1  # sandbox.last_acked_seq, event.sandbox_seq: INTEGER


# ------------------------------------------------------------------ frames that cannot be stored


async def test_an_over_long_message_id_is_refused_its_sequence_consumed_and_the_bridge_goes_on(rig: Rig) -> None:
    access = await rig.start_sandbox()
    async with rig.connect(access) as bridge:
        assert await send_expecting_ack(bridge, token(1, "before"), 1) == [p.Ack(seq=1)]
        refused = await send_expecting_ack(bridge, token(2, "lost", message_id=LONG_ID), 2)
        assert isinstance(refused[0], p.Reject) and "message_id" in refused[0].reason
        assert refused[1:] == [p.Ack(seq=2)]
        # A re-send of it (its ack lost) is refused again and acknowledged: never a close, never a loop.
        again = await send_expecting_ack(bridge, token(2, "lost", message_id=LONG_ID), 2)
        assert isinstance(again[0], p.Reject) and again[-1] == p.Ack(seq=2)
        assert await send_expecting_ack(bridge, token(3, "after"), 3) == [p.Ack(seq=3)]
        assert bridge.close_code is None
    stored = [(e.type, e.sandbox_seq, e.data.get("text")) for e in await rig.events(access.session_id)
              if e.sandbox_id == access.sandbox_id]
    assert stored == [("token", 1, "before"), ("bridge_rejected", 2, None), ("token", 3, "after")]


@pytest.mark.settings(max_frame_bytes=4096)
async def test_a_frame_over_the_size_limit_is_refused_with_a_reason_and_its_sequence_consumed(rig: Rig) -> None:
    access = await rig.start_sandbox()
    async with rig.connect(access) as bridge:
        refused = await send_expecting_ack(bridge, token(1, "y" * 5000), 1)
        assert isinstance(refused[0], p.Reject) and "larger than the limit of 4096 bytes" in refused[0].reason
        assert await send_expecting_ack(bridge, token(2, "z" * 3000), 2) == [p.Ack(seq=2)]
    stored = [(e.type, e.sandbox_seq) for e in await rig.events(access.session_id) if e.sandbox_id]
    assert stored == [("bridge_rejected", 1), ("token", 2)]
    rejected = next(e for e in await rig.events(access.session_id) if e.type == "bridge_rejected")
    assert len(rejected.data["frame"]) <= 501  # a preview of it, not the frame


# The rates are far below what the database stores a second, so the limit is what holds the sandbox back.
@pytest.mark.settings(bridge_max_events_per_second=5)
async def test_a_sandbox_over_its_event_rate_is_refused_with_a_reason_and_nothing_is_stored(rig: Rig) -> None:
    access = await rig.start_sandbox()
    sent = 400  # far more than ten seconds' worth (the burst, 50) and than the refill meanwhile
    async with rig.connect(access) as bridge:
        async def flood() -> None:
            with contextlib.suppress(ConnectionClosed):
                for seq in range(1, sent + 1):
                    await bridge.send(token(seq, str(seq)))
        flooding = asyncio.create_task(flood())
        commands: list[p.Command] = []
        with contextlib.suppress(ConnectionClosed):
            async for raw in bridge:
                commands.append(p.parse_command(raw))
        await flooding
        assert bridge.close_code == CLOSE_RATE_LIMITED
    rejects = [c for c in commands if isinstance(c, p.Reject)]
    assert len(rejects) == 1 and "rate limit" in rejects[0].reason and "retry in" in rejects[0].reason
    acked = max(c.seq for c in commands if isinstance(c, p.Ack))
    assert 50 <= acked < sent
    stored = [e.sandbox_seq for e in await rig.events(access.session_id) if e.sandbox_id]
    assert stored == list(range(1, acked + 1))  # the frame over budget and everything after it: not stored


@pytest.mark.settings(bridge_max_events_per_second=5)
async def test_a_real_bridge_over_its_rate_is_slowed_and_loses_nothing(rig: Rig) -> None:
    access = await rig.start_sandbox()
    settings = BridgeSettings(control_plane_url=f"ws://127.0.0.1:{rig.plane.jobs.bridge_server.port}",
                              session_id=access.session_id, sandbox_id=access.sandbox_id, sandbox_token=access.token,
                              heartbeat_interval_seconds=3600.0, reconnect_max_delay_seconds=1.0)
    bridge = Bridge(settings, Outbox())
    count = 100  # the burst is 50
    for n in range(count):
        bridge.emit(p.TokenDelta(part_id="p", text=str(n)))
    running = asyncio.create_task(bridge.run())
    try:
        assert await bridge.flush(120.0)
    finally:
        await bridge.close()
        await running
    assert bridge.connections > 1  # it was sent away at least once, and came back
    texts = [e.data["text"] for e in await rig.events(access.session_id) if e.type == "token"]
    assert texts == [str(n) for n in range(count)]  # each once, in order: nothing lost, nothing doubled


# ------------------------------------------------------------------ handshakes


async def test_a_refused_handshake_is_logged_and_writes_nothing_into_any_timeline(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    victim = await rig.start_sandbox()
    other = await rig.start_sandbox("grace@example.com")
    before = [e.id for e in await rig.events(victim.session_id)]
    attempts = [
        (dict(token="not-a-token"), 401),
        (dict(token=other.token), 403),  # another session's sandbox token
    ]
    with caplog.at_level(logging.WARNING):
        for overrides, status in attempts:
            with pytest.raises(InvalidStatus) as refused:
                async with rig.connect(victim, **overrides):
                    pass
            assert refused.value.response.status_code == status
    assert [e.id for e in await rig.events(victim.session_id)] == before
    assert not [e for e in await rig.events(other.session_id) if e.type == "bridge_rejected"]
    logged = [fields_of(r) for r in caplog.records if r.getMessage() == "bridge_handler.refused"]
    assert [(f["session_id"], f["status"]) for f in logged] == [(victim.session_id, 401), (victim.session_id, 403)]
    assert all(victim.token not in str(f) and other.token not in str(f) for f in logged)


async def test_a_second_bridge_connection_is_refused_while_the_first_lives(rig: Rig) -> None:
    access = await rig.start_sandbox()
    async with rig.connect(access) as first:
        assert await send_expecting_ack(first, token(1), 1) == [p.Ack(seq=1)]
        with pytest.raises(InvalidStatus) as refused:
            async with rig.connect(access):  # the token is right: an impostor who stole it
                pass
        assert refused.value.response.status_code == 409
        assert await send_expecting_ack(first, token(2), 2) == [p.Ack(seq=2)]  # the live one never noticed
        assert first.close_code is None
    async with rig.connect(access) as again:  # after it closed, the sandbox reconnects
        assert await send_expecting_ack(again, token(3), 3) == [p.Ack(seq=3)]


# ------------------------------------------------------------------ how many sandboxes


@pytest.mark.settings(max_sandboxes=2, max_sandboxes_per_user=10)
async def test_no_sandbox_starts_past_the_overall_limit_and_a_waiting_one_starts_when_a_slot_frees(
        rig: Rig) -> None:
    first = await rig.start_sandbox("ada@example.com")
    await rig.start_sandbox("grace@example.com")
    waiting = await rig.new_session("linus@example.com")
    session = await until(lambda: _status_reason_contains(rig, waiting, "2 of 2 are in use"))
    assert session.status == p.SessionStatus.SPAWNING and "OPENINSPECT_MAX_SANDBOXES" in (session.status_reason or "")
    assert len(await rig.sandboxes()) == 2 and await rig.sandboxes(waiting) == []

    async with rig.plane.context.work() as work:  # archiving a session shuts its sandbox down
        await sessions.archive(work.db, first.session_id)
        work.changed(first.session_id)
    started = await rig.sandbox_of(waiting)
    assert (await rig.session(waiting)).status_reason is None
    alive = [s for s in await rig.sandboxes() if s.status not in ("stopped", "failed")]
    assert len(alive) == 2 and started.sandbox_id in {s.id for s in alive}


@pytest.mark.settings(max_sandboxes=10, max_sandboxes_per_user=1)
async def test_no_sandbox_starts_past_a_persons_limit_while_others_still_get_theirs(rig: Rig) -> None:
    await rig.start_sandbox("ada@example.com")
    waiting = await rig.new_session("ada@example.com")
    await until(lambda: _status_reason_contains(rig, waiting, "owner has 1 of 1"))
    await rig.start_sandbox("grace@example.com")  # someone else is not held up by her
    assert await rig.sandboxes(waiting) == []


async def _status_reason_contains(rig: Rig, session_id: str, text: str) -> Session | None:
    session = await rig.session(session_id)
    return session if text in (session.status_reason or "") else None


@pytest.mark.settings(max_sandboxes=3, max_sandboxes_per_user=3)
async def test_many_sessions_at_once_never_start_more_sandboxes_than_the_limit(rig: Rig) -> None:
    created = [await rig.new_session(f"user{n}@example.com") for n in range(8)]
    await until(lambda: _count_waiting(rig, created, 5))
    live = [s for s in await rig.sandboxes() if s.status not in ("stopped", "failed")]
    assert len(live) == 3 and all(isinstance(s, Sandbox) for s in live)


async def _count_waiting(rig: Rig, session_ids: list[str], expected: int) -> bool:
    reasons = [(await rig.session(s)).status_reason or "" for s in session_ids]
    return sum("waiting for a sandbox" in r for r in reasons) == expected


async def test_the_rig_speaks_the_protocol(rig: Rig) -> None:
    access = await rig.start_sandbox()
    async with rig.connect(access) as bridge:
        await bridge.send(p.Heartbeat(seq=1).to_json())
        assert await reply(bridge) == p.Ack(seq=1)
