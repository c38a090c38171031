import openinspect_protocol as protocol
import pytest
from openinspect_protocol.events import MAX_EVENT_BYTES

from sandbox.outbox import RESERVE_EVENTS, TRUNCATED, Outbox, OutboxFull, fit, frame_bytes


def _warn(n: int) -> protocol.WarningEvent:
    return protocol.WarningEvent(code="w", message=str(n))


def test_numbers_from_one_in_order_and_keeps_the_rest_of_the_event():
    outbox = Outbox()
    numbered = [outbox.add(_warn(n)) for n in range(3)]
    assert [e.seq for e in numbered] == [1, 2, 3]
    assert [e.message for e in numbered] == ["0", "1", "2"]
    assert outbox.last_seq == 3
    assert [e.seq for e in outbox.unacked()] == [1, 2, 3]


def test_numbering_does_not_change_the_callers_event():
    outbox = Outbox()
    event = _warn(0)
    outbox.add(event)
    assert event.seq == 0


def test_cumulative_ack_drops_everything_up_to_it():
    outbox = Outbox()
    for n in range(5):
        outbox.add(_warn(n))
    assert outbox.ack(3) == 3
    assert [e.seq for e in outbox.unacked()] == [4, 5]
    assert outbox.acked_seq == 3
    assert not outbox.empty


def test_old_or_repeated_ack_changes_nothing():
    outbox = Outbox()
    for n in range(4):
        outbox.add(_warn(n))
    outbox.ack(3)
    assert outbox.ack(2) == 0
    assert outbox.ack(3) == 0
    assert [e.seq for e in outbox.unacked()] == [4]


def test_ack_beyond_the_newest_is_clamped():
    outbox = Outbox()
    outbox.add(_warn(0))
    assert outbox.ack(99) == 1
    assert outbox.empty
    assert outbox.acked_seq == 1
    assert outbox.add(_warn(1)).seq == 2
    assert [e.seq for e in outbox.unacked()] == [2]


def test_after_gives_the_unacked_tail_for_sending():
    outbox = Outbox()
    for n in range(6):
        outbox.add(_warn(n))
    outbox.ack(2)
    assert [e.seq for e in outbox.after(0)] == [3, 4, 5, 6]
    assert [e.seq for e in outbox.after(4)] == [5, 6]
    assert outbox.after(6) == []


def test_everything_unacked_is_there_for_a_resend_after_acks_and_new_events():
    outbox = Outbox()
    for n in range(3):
        outbox.add(_warn(n))
    outbox.ack(1)
    outbox.add(_warn(3))
    assert [(e.seq, e.message) for e in outbox.unacked()] == [(2, "1"), (3, "2"), (4, "3")]
    assert len(outbox) == 3


# ------------------------------------------------------------------ bounds


def _token(n: int) -> protocol.TokenDelta:
    return protocol.TokenDelta(message_id="m1", part_id="p", text=str(n))


def test_a_full_outbox_refuses_streamed_events_and_keeps_a_reserve_for_how_a_turn_ends():
    outbox = Outbox(max_events=5)
    for n in range(5):
        outbox.add(_token(n))
    assert outbox.full
    with pytest.raises(OutboxFull, match="5 events the control plane has not acknowledged"):
        outbox.add(_token(5))
    assert outbox.last_seq == 5  # a refused event takes no number
    # What tells the control plane how the turn ended still gets in.
    done = outbox.add(protocol.ExecutionComplete(message_id="m1", success=False, error="the outbox is full"))
    fatal = outbox.add(protocol.ErrorEvent(code="x", message="y", fatal=True))
    assert (done.seq, fatal.seq) == (6, 7)
    # A heartbeat is not kept at all (it would only say something stale) and takes no number.
    heartbeat = outbox.add(protocol.Heartbeat())
    assert heartbeat.seq == 0 and outbox.last_seq == 7 and len(outbox) == 7
    # Once acknowledged, it takes streamed events again.
    outbox.ack(7)
    assert outbox.add(_token(6)).seq == 8


def test_the_reserve_is_bounded_too():
    outbox = Outbox(max_events=1)
    outbox.add(_token(0))
    for _ in range(RESERVE_EVENTS):
        outbox.add(protocol.StageChanged(stage="setup"))
    with pytest.raises(OutboxFull):
        outbox.add(protocol.StageChanged(stage="setup"))
    assert len(outbox) == 1 + RESERVE_EVENTS


def test_the_default_bound_is_the_launch_specs():
    assert Outbox().max_events == protocol.LaunchSpec.model_fields["max_outbox_events"].default
    assert Outbox().max_event_bytes == MAX_EVENT_BYTES


@pytest.mark.parametrize(
    "event",
    [
        protocol.TokenDelta(message_id="m1", part_id="p", text="é" * 100_000),
        protocol.ToolResult(call_id="c", tool="bash", status="completed", output="o" * 300_000, title="t" * 300_000),
        protocol.ToolCall(call_id="c", tool="write", input={"content": "c" * 300_000, "path": "a.txt",
                                                           "lines": ["l" * 10_000] * 100}),
        protocol.ToolCall(call_id="c", tool="many", input={f"k{n}": n for n in range(50_000)}),
        protocol.ExecutionComplete(message_id="m1", success=False, error="e" * 300_000),
        protocol.Artifact(kind="commit", ref="abc", data={"subject": "s" * 300_000}),
    ],
    ids=lambda e: e.type,
)
def test_an_event_too_large_for_one_frame_is_cut_to_fit_and_keeps_its_meaning(event: protocol.SandboxEvent):
    outbox = Outbox(max_event_bytes=64 * 1024)
    numbered = outbox.add(event)
    assert frame_bytes(numbered) <= 64 * 1024
    assert (numbered.type, numbered.seq, numbered.message_id) == (event.type, 1, event.message_id)
    assert protocol.parse_sandbox_event(numbered.to_json()) == numbered  # still a valid event
    text = numbered.to_json()
    assert TRUNCATED in text


def test_an_event_that_fits_is_kept_as_it_is():
    event = protocol.ToolResult(call_id="c", tool="bash", status="completed", output="o" * 1000)
    assert fit(event, 64 * 1024) is event


def test_an_event_that_cannot_be_cut_to_fit_becomes_a_warning_with_its_number():
    event = protocol.ToolCall(seq=9, message_id="m1", call_id="c", tool="t", input={"deep": [[[[[[[[1]]]]]]]]})
    replaced = fit(event, 120)
    assert isinstance(replaced, protocol.WarningEvent) and replaced.code == "event_too_large"
    assert (replaced.seq, replaced.message_id) == (9, "m1") and "tool_call event" in replaced.message
