"""The bridge against a real WebSocket server on loopback (tests/sandbox/control_plane.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import AsyncIterator

import openinspect_protocol as protocol
import pytest
from openinspect_protocol.logs import fields_of

from sandbox.bridge import Bridge, BridgeRejected, backoff_delay_seconds
from tests.sandbox.control_plane import TOKEN, FakeControlPlane, bridge_settings, wait_until


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(bridge.run())
    try:
        yield task
    finally:
        await bridge.close()
        with contextlib.suppress(BridgeRejected):
            await asyncio.wait_for(task, 10)


def warnings_(n: int) -> list[protocol.WarningEvent]:
    return [protocol.WarningEvent(code="test", message=f"event {i}") for i in range(n)]


async def test_handshake_carries_path_token_and_protocol_version():
    async with FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            await asyncio.wait_for(bridge.wait_connected(), 10)
        (handshake,) = cp.handshakes
        assert handshake.path == "/bridge/sess-1"
        assert handshake.headers["Authorization"] == f"Bearer {TOKEN}"
        assert handshake.headers[protocol.PROTOCOL_HEADER] == str(protocol.PROTOCOL_VERSION)


async def test_events_arrive_numbered_in_order_and_flush_waits_for_the_acks():
    async with FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url))
        for event in warnings_(5):  # emitted before the connection: kept and sent on connect
            bridge.emit(event)
        async with running(bridge):
            for event in warnings_(45):
                bridge.emit(event)
            assert await bridge.flush(10)
            assert bridge.outbox.empty
        assert [e.seq for e in cp.stored] == list(range(1, 51))
        assert [e.seq for e in cp.frames] == list(range(1, 51))  # nothing was sent twice


@pytest.mark.parametrize("abort", [False, True], ids=["close-frame", "tcp-abort"])
async def test_unacked_events_are_resent_after_the_server_drops_the_socket(abort: bool):
    # Acks come after every 4th frame only, and the first three connections drop
    # mid-stream, so each drop leaves events that were sent but never acked.
    async with FakeControlPlane(ack_every=4, drop_after_frames=[7, 10, 6], abort_on_drop=abort) as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            for _batch in range(8):
                for event in warnings_(5):
                    bridge.emit(event)
                await asyncio.sleep(0.01)
            await wait_until(lambda: len(cp.stored) == 40, what="all 40 events stored")
            # Acks come every 4th frame of a connection; the last connection's count need not end on one.
            await cp.send(protocol.Ack(seq=40))
            assert await bridge.flush(10)
        assert [e.seq for e in cp.stored] == list(range(1, 41))
        assert [e.message for e in cp.stored] == [f"event {i}" for _ in range(8) for i in range(5)]
        assert cp.connections >= 4
        assert len(cp.frames) > 40  # some events really were sent again
        # Every connection re-sent from the first unacked event, in order: nothing ever skipped past
        # what the control plane had seen (an ack may cover more than the connection carried: the fake
        # acks everything it stored, and a TCP abort can lose acks in flight, so resends repeat).
        seqs = [e.seq for e in cp.frames]
        seen = list(itertools.accumulate(seqs, max))
        assert all(b <= high + 1 for high, b in zip(seen, seqs[1:], strict=False)), str(seqs)


async def test_reconnects_with_backoff_until_the_server_appears(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="sandbox")
    with socket.socket() as probe:  # a port nobody listens on (yet)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bridge = Bridge(bridge_settings(f"ws://127.0.0.1:{port}"))
    bridge.emit(protocol.WarningEvent(code="early", message="before the control plane exists"))
    async with running(bridge):
        def failures() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.getMessage() == "bridge.connect_failed"]

        await wait_until(lambda: len(failures()) >= 3, what="three refused connection attempts")
        attempts = [fields_of(r)["attempt"] for r in failures()]
        assert attempts[:3] == [1, 2, 3]
        assert "ConnectionRefusedError" in fields_of(failures()[0])["error"]
        async with FakeControlPlane(port=port) as cp:
            await cp.wait_for(protocol.WarningEvent)
            assert cp.stored[0].seq == 1
            assert cp.stored[0].code == "early"


@pytest.mark.parametrize(("ack_every", "attempts"), [(1, [1, 1, 1]), (1000, [1, 2, 3])],
                         ids=["drops-after-progress", "drops-with-nothing-acked"])
async def test_the_backoff_restarts_after_a_connection_that_made_progress(
        caplog: pytest.LogCaptureFixture, ack_every: int, attempts: list[int]):
    # A flaky network between two healthy ends (events acknowledged before each drop) must not
    # push the sandbox towards the 15 s ceiling; a control plane that drops without doing anything does.
    caplog.set_level(logging.INFO, logger="sandbox")
    async with FakeControlPlane(ack_every=ack_every, drop_after_frames=[2, 2, 2]) as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            for event in warnings_(12):
                bridge.emit(event)

            def reconnects() -> list[int]:
                return [fields_of(r)["attempt"] for r in caplog.records if r.getMessage() == "bridge.reconnecting"]

            await wait_until(lambda: len(reconnects()) >= 3, what="three reconnects")
            assert reconnects()[:3] == attempts


def test_backoff_doubles_to_the_cap_with_jitter_in_the_upper_half():
    top = [backoff_delay_seconds(n, initial_seconds=0.25, max_seconds=15, rng=lambda a, b: b)
           for n in range(1, 10)]
    assert top == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    bottom = [backoff_delay_seconds(n, initial_seconds=0.25, max_seconds=15, rng=lambda a, b: a)
              for n in (1, 3, 9)]
    assert bottom == [0.125, 0.5, 7.5]


@pytest.mark.parametrize("status", [401, 403, 426])
async def test_a_refused_handshake_is_fatal_and_not_retried(status: int):
    async with FakeControlPlane(refuse_status=status) as cp:
        bridge = Bridge(bridge_settings(cp.url))
        with pytest.raises(BridgeRejected) as caught:
            await asyncio.wait_for(bridge.run(), 10)
        assert caught.value.status_code == status
        assert len(cp.handshakes) == 1


async def test_a_wrong_token_is_answered_401_and_fatal():
    async with FakeControlPlane(token="the-right-one") as cp:
        bridge = Bridge(bridge_settings(cp.url))
        with pytest.raises(BridgeRejected) as caught:
            await asyncio.wait_for(bridge.run(), 10)
        assert caught.value.status_code == 401
        assert TOKEN not in str(caught.value)


async def test_server_errors_at_the_handshake_are_retried():
    async with FakeControlPlane(refuse_status=503, refuse_first=2) as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            bridge.emit(protocol.WarningEvent(code="w", message="m"))
            await cp.wait_for(protocol.WarningEvent)
        assert len(cp.handshakes) == 3


async def test_any_server_close_code_leads_to_a_reconnect():
    async with FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            await asyncio.wait_for(bridge.wait_connected(), 10)
            await wait_until(lambda: cp.connection is not None)
            await cp.drop(code=4403)
            await wait_until(lambda: cp.connections == 2, what="a second connection")
            bridge.emit(protocol.WarningEvent(code="w", message="after the reconnect"))
            await cp.wait_for(protocol.WarningEvent)


async def test_heartbeats_are_numbered_events_at_the_configured_interval():
    async with FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url, heartbeat_interval_seconds=0.05))
        async with running(bridge):
            bridge.emit(protocol.WarningEvent(code="w", message="m"))
            beats = await cp.wait_for(protocol.Heartbeat, count=3)
        assert [e.seq for e in cp.stored[:4]] == [1, 2, 3, 4]
        assert all(beat.seq > 1 for beat in beats)


async def test_commands_are_handed_over_and_acks_rejects_and_garbage_are_not(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO, logger="sandbox")
    async with FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            await asyncio.wait_for(bridge.wait_connected(), 10)
            prompt = protocol.Prompt(message_id="m1", content="hi",
                                     author=protocol.Author(name="Ada", email="ada@example.com"))
            await cp.send(protocol.Reject(reason="frame too large"))
            assert cp.connection is not None
            await cp.connection.send("{not json")
            await cp.send(prompt)
            await cp.send(protocol.Stop(message_id="m1"))
            await cp.send(protocol.Shutdown(reason="archived"))
            received = [await asyncio.wait_for(bridge.commands.get(), 10) for _ in range(3)]
        assert received == [prompt, protocol.Stop(message_id="m1"), protocol.Shutdown(reason="archived")]
        events = [r.getMessage() for r in caplog.records]
        assert "bridge.frame_rejected" in events
        assert "bridge.bad_command" in events


async def test_flush_gives_up_after_its_timeout_when_nothing_is_acked():
    async with FakeControlPlane(auto_ack=False) as cp:
        bridge = Bridge(bridge_settings(cp.url))
        async with running(bridge):
            bridge.emit(protocol.WarningEvent(code="w", message="m"))
            await wait_until(lambda: len(cp.frames) == 1)
            assert not await bridge.flush(0.2)
            assert len(bridge.outbox) == 1


async def test_close_ends_run_even_while_waiting_to_reconnect():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bridge = Bridge(bridge_settings(f"ws://127.0.0.1:{port}", reconnect_initial_delay_seconds=30,
                                 reconnect_max_delay_seconds=30))
    task = asyncio.create_task(bridge.run())
    await asyncio.sleep(0.1)
    await bridge.close()
    await asyncio.wait_for(task, 5)


async def test_connections_dropped_at_once_back_off_further_each_time(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="sandbox")
    # Each connection is dropped after its first frame (a heartbeat, sent soon after connecting), unacknowledged.
    async with FakeControlPlane(drop_after_frames=[1, 1, 1, 1], ack_every=1000) as cp:
        bridge = Bridge(bridge_settings(cp.url, heartbeat_interval_seconds=0.01))
        async with running(bridge):
            await wait_until(lambda: cp.connections >= 5, what="five connections")
        reconnects = [fields_of(r)["attempt"] for r in caplog.records if r.getMessage() == "bridge.reconnecting"]
        assert reconnects[:4] == [1, 2, 3, 4]
        assert [e.seq for e in cp.stored] == list(range(1, len(cp.stored) + 1))
