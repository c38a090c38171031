"""The runtime's own log lines go to the control plane in batches, without looping or ending a turn."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import openinspect_protocol as protocol
import pytest
from openinspect_protocol import logs
from openinspect_protocol.events import MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_BATCH

from sandbox.log_shipper import LogShipper
from sandbox.outbox import Outbox


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("sandbox.h3test")
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.handlers[:] = []


def shipper_on(logger: logging.Logger, outbox: Outbox, **options: int) -> LogShipper:
    shipper = LogShipper(outbox.add, **options)
    logger.addHandler(shipper)
    return shipper


def shipped_lines(outbox: Outbox) -> list[dict]:
    return [json.loads(line.line) for event in outbox.unacked() if isinstance(event, protocol.SandboxLog)
            for line in event.lines]


def test_lines_are_shipped_as_json_with_the_bound_ids_and_levels(logger: logging.Logger) -> None:
    outbox = Outbox()
    shipper = shipper_on(logger, outbox)
    log = logs.EventLog(logger.name)
    with logs.bind(session_id="s1", sandbox_id="sb1"):
        log.debug("not.shipped")  # below INFO: the stderr log has it, the stored one does not
        log.info("supervisor.ready", agent="opencode")
        with logs.bind(message_id="m1", request_id="r1"):
            log.error("supervisor.turn_crashed")
    assert shipper.ship() == 2 and shipper.ship() == 0
    [batch] = outbox.unacked()
    assert isinstance(batch, protocol.SandboxLog) and batch.seq == 1 and batch.dropped == 0
    assert [line.level for line in batch.lines] == ["info", "error"]
    first, second = shipped_lines(outbox)
    assert (first["event"], first["session_id"], first["sandbox_id"], first["agent"]) == (
        "supervisor.ready", "s1", "sb1", "opencode")
    assert (second["message_id"], second["request_id"]) == ("m1", "r1")


def test_the_bridges_per_frame_lines_are_not_shipped(logger: logging.Logger) -> None:
    """A refused log frame logs bridge.frame_rejected: shipping that would refuse and log again, forever."""
    outbox = Outbox()
    shipper = LogShipper(outbox.add)
    bridge_logger = logging.getLogger("sandbox.bridge")
    bridge_logger.addHandler(shipper)
    level = bridge_logger.level
    bridge_logger.setLevel(logging.INFO)
    try:
        bridge = logs.EventLog("sandbox.bridge")
        bridge.warning("bridge.frame_rejected", reason="x")
        bridge.warning("bridge.ack_ahead", seq=9)
        bridge.info("bridge.connected", connection=1)
    finally:
        bridge_logger.removeHandler(shipper)
        bridge_logger.setLevel(level)
    shipper.ship_all()
    assert [line["event"] for line in shipped_lines(outbox)] == ["bridge.connected"]


def test_batches_are_bounded_and_long_lines_cut(logger: logging.Logger) -> None:
    outbox = Outbox()
    shipper = shipper_on(logger, outbox)
    log = logs.EventLog(logger.name)
    for n in range(MAX_LOG_LINES_PER_BATCH + 5):
        log.info("many", n=n)
    log.info("long", text="y" * (2 * MAX_LOG_LINE_CHARS))
    shipper.ship_all()
    batches = outbox.unacked()
    sizes = [len(b.lines) for b in batches if isinstance(b, protocol.SandboxLog)]
    assert len(sizes) == len(batches) >= 2 and max(sizes) <= MAX_LOG_LINES_PER_BATCH
    assert sum(sizes) == MAX_LOG_LINES_PER_BATCH + 6
    last = batches[-1]
    assert isinstance(last, protocol.SandboxLog)
    assert len(last.lines[-1].line) == MAX_LOG_LINE_CHARS and last.lines[-1].line.endswith("…[truncated]")
    assert [event.seq for event in batches] == list(range(1, len(batches) + 1))


def test_a_full_outbox_drops_log_batches_instead_of_ending_the_turn_and_says_how_many(
        logger: logging.Logger) -> None:
    outbox = Outbox(max_events=2)
    shipper = shipper_on(logger, outbox)
    log = logs.EventLog(logger.name)
    outbox.add(protocol.TokenDelta(message_id="m1", part_id="p", text="a"))
    outbox.add(protocol.TokenDelta(message_id="m1", part_id="p", text="b"))
    log.info("lost.one")
    log.info("lost.two")
    assert shipper.ship() == 2  # handed on, but the outbox kept nothing and numbered nothing
    assert outbox.last_seq == 2 and shipper.dropped == 2
    outbox.ack(2)
    log.info("after.ack")
    shipper.ship_all()
    [batch] = outbox.unacked()
    assert isinstance(batch, protocol.SandboxLog) and batch.dropped == 2 and batch.seq == 3
    assert [line["event"] for line in shipped_lines(outbox)] == ["after.ack"]
    assert shipper.dropped == 0


def test_the_buffer_is_bounded_while_nothing_is_shipped(logger: logging.Logger) -> None:
    outbox = Outbox()
    shipper = shipper_on(logger, outbox, max_buffered=3)
    log = logs.EventLog(logger.name)
    for n in range(5):
        log.info("line", n=n)
    shipper.ship_all()
    [batch] = outbox.unacked()
    assert isinstance(batch, protocol.SandboxLog) and batch.dropped == 2
    assert [line["n"] for line in shipped_lines(outbox)] == [2, 3, 4]
