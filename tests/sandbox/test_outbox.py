import openinspect_protocol as protocol

from sandbox.outbox import Outbox


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
