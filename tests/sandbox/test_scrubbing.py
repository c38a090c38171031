"""Every event the bridge numbers is scrubbed: whole fields, and token deltas across chunks."""

from __future__ import annotations

import json

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_TITLE_CHARS
from openinspect_protocol.redaction import Redactor

from sandbox.bridge import Bridge
from sandbox.config import BridgeSettings
from sandbox.outbox import Outbox
from sandbox.scrubbing import EventScrubber, register_runtime_values

VALUE = "pw-0123456789abcdef"
MARK = "[secret:DB_PASSWORD]"


def scrubber() -> EventScrubber:
    return EventScrubber(Redactor({"DB_PASSWORD": VALUE}))


def delta(text: str, part: str = "p1", message: str = "m1") -> protocol.TokenDelta:
    return protocol.TokenDelta(message_id=message, part_id=part, text=text)


def texts(events: list[protocol.SandboxEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, protocol.TokenDelta))


def test_a_value_split_across_deltas_never_leaves_and_the_rest_is_flushed_at_the_turns_end() -> None:
    s = scrubber()
    out: list[protocol.SandboxEvent] = []
    for piece in ("the password is pw-01", "2345", "6789ab", "cdef, and pw-0"):
        out += s.scrub(delta(piece))
    out += s.scrub(protocol.ExecutionComplete(message_id="m1", success=True))
    assert texts(out) == f"the password is {MARK}, and pw-0"
    assert VALUE not in "".join(e.model_dump_json() for e in out)
    assert isinstance(out[-1], protocol.ExecutionComplete)  # held-back text goes before the turn's end


def test_held_back_text_goes_before_any_other_event_of_its_message_but_not_before_a_heartbeat() -> None:
    s = scrubber()
    assert [e.text for e in s.scrub(delta("abc pw-0123"))] == ["abc "]  # type: ignore[union-attr]
    assert [type(e) for e in s.scrub(protocol.Heartbeat())] == [protocol.Heartbeat]  # still held
    out = s.scrub(protocol.ToolCall(message_id="m1", call_id="c", tool="bash", input={"command": "ls"}))
    assert [type(e) for e in out] == [protocol.TokenDelta, protocol.ToolCall]
    assert texts(out) == "pw-0123"


def test_another_part_of_the_same_message_flushes_the_earlier_one() -> None:
    s = scrubber()
    s.scrub(delta("x pw-01", part="p1"))
    out = s.scrub(delta("hello", part="p2"))
    assert [(e.part_id, e.text) for e in out] == [("p1", "pw-01"), ("p2", "hello")]  # type: ignore[union-attr]


def test_every_string_field_is_scrubbed_and_a_long_mark_is_cut_to_the_fields_limit() -> None:
    s = scrubber()
    [result] = s.scrub(protocol.ToolResult(message_id="m1", call_id="c", tool="bash", status="completed",
                                           title=f"echo {VALUE}", output=f"{VALUE}\n", error=None))
    assert json.loads(result.model_dump_json())["output"] == f"{MARK}\n" and VALUE not in result.model_dump_json()
    [call] = s.scrub(protocol.ToolCall(message_id="m1", call_id="c", tool="bash", input={"env": {"X": VALUE}}))
    assert call.input == {"env": {"X": MARK}}  # type: ignore[union-attr]
    title = "t" * (MAX_TITLE_CHARS - len(VALUE)) + VALUE
    [titled] = s.scrub(protocol.SessionTitle(message_id="m1", title=title))
    assert len(titled.title) == MAX_TITLE_CHARS and VALUE not in titled.title  # type: ignore[union-attr]


def test_runtime_values_are_scrubbed_under_their_own_names() -> None:
    redactor = Redactor()
    register_runtime_values(redactor, secrets={"API": "api-value-1"}, sandbox_token="bridge-token-1",
                            model_proxy_key="proxy-key-1")
    assert redactor.scrub("api-value-1 bridge-token-1 proxy-key-1") == (
        "[secret:API] [secret:SANDBOX_TOKEN] [secret:MODEL_PROXY_KEY]")


def test_the_bridge_numbers_only_scrubbed_events() -> None:
    settings = BridgeSettings(control_plane_url="ws://127.0.0.1:1", session_id="s", sandbox_id="x",
                              sandbox_token="t")
    bridge = Bridge(settings, Outbox(), redactor=Redactor({"DB_PASSWORD": VALUE}))
    bridge.emit(delta("a pw-0123456"))
    bridge.emit(delta("789abcdef b"))
    bridge.emit(protocol.WarningEvent(code="w", message=f"saw {VALUE}"))
    kept = bridge.outbox.after(0)
    assert [e.seq for e in kept] == [1, 2, 3]
    assert VALUE not in "".join(e.model_dump_json() for e in kept)
    assert texts(kept) == f"a {MARK} b"
