"""Every timeline event survives the trip into a row and back; bad rows are refused; the catalogue is current."""

from __future__ import annotations

import typing

import openinspect_protocol as p
import pytest
from openinspect_protocol import catalogue
from openinspect_protocol.status import MessageStatus, SessionStatus
from openinspect_protocol.timeline import (
    ArtifactCreated,
    BridgeRejected,
    ChangesUpdated,
    PromptAuthor,
    PromptCancelled,
    PromptFinished,
    PromptQueued,
    PromptStarted,
    PullRequestChanged,
    PullRequestFailed,
    SandboxExited,
    SandboxSpawning,
    SessionArchived,
    SessionRenamed,
    SessionRestored,
    SessionStatusChanged,
    SpendLimitChanged,
    SpendLimitReached,
    StopRequested,
    TimelineEvent,
    TurnUsage,
    from_stored,
    message_id_of,
    stored_data,
)

from tests.conftest import REPO_ROOT
from tests.openinspect_protocol.test_wire import SANDBOX_EVENTS

CONTROL_EVENTS: list[TimelineEvent] = [
    SessionStatusChanged(status=SessionStatus.SETUP, reason=None),
    SandboxSpawning(sandbox_id="s1", backend="local"),
    SandboxExited(sandbox_id="s1", exit_code=3, reason="exited", log_tail="last line"),
    PromptQueued(message_id="m1", author=PromptAuthor(id="u1", name="Ada", email="ada@example.com"),
                 content="hi", source="web", position=1),
    PromptStarted(message_id="m1"),
    PromptFinished(message_id="m1", status=MessageStatus.FAILED, error="boom"),
    PromptCancelled(message_id="m2"),
    StopRequested(message_id="m1"),
    BridgeRejected(reason="bad frame", frame="{"),
    SessionArchived(),
    SessionRestored(),
    PullRequestChanged(number=7, url="https://github.com/acme/widgets/pull/7", title="Fix", state="merged",
                       head="openinspect/ab12cd34-fix", base="main", author_login="ada", opened_as="user",
                       requested_by=PromptAuthor(id="u1", name="Ada", email="ada@example.com"), action="closed"),
    PullRequestFailed(reason="GitHub refused it", code="github_refused",
                      compare_url="https://github.com/acme/widgets/compare/main...openinspect/ab12cd34-fix"),
    PromptFinished(message_id="m1", status=MessageStatus.COMPLETED,
                   usage=TurnUsage(input_tokens=1200, output_tokens=34, cost_usd=0.0021, calls=2)),
    SessionRenamed(title="Fix the build", by=PromptAuthor(id="u1", name="Ada", email="ada@example.com")),
    SpendLimitChanged(limit_usd=None, effective_limit_usd=5.0,
                      by=PromptAuthor(id="u1", name="Ada", email="ada@example.com")),
    SpendLimitReached(spent_usd=5.01, limit_usd=5.0, waiting=2),
    ChangesUpdated(files=3, additions=10, deletions=2, folded=1, head_sha="def", message_id="m1"),
    ArtifactCreated(artifact_id="a1", content_type="image/png", size_bytes=2048, width=1280, height=800,
                    message_id="m1", caption="The new heading", page_url="http://127.0.0.1:3000/",
                    page_title="Shop", viewport="phone", full_page=True),
]
STORED: list[TimelineEvent] = ([e for e in SANDBOX_EVENTS  # type: ignore[misc]
                               if not isinstance(e, p.Heartbeat | p.SandboxLog | p.ChangesSnapshot)]
          + CONTROL_EVENTS)


def test_every_timeline_event_type_is_covered() -> None:
    union = typing.get_args(typing.get_args(TimelineEvent)[0])
    assert {type(e) for e in STORED} == set(union)
    assert p.Heartbeat not in union  # liveness only, never stored
    assert p.SandboxLog not in union  # kept as the session's sandbox log instead
    assert p.ChangesSnapshot not in union  # kept as the session's changes instead


@pytest.mark.parametrize("event", STORED, ids=lambda e: e.type)
def test_round_trip_through_a_row(event: TimelineEvent) -> None:
    data = stored_data(event)
    assert "type" not in data and "seq" not in data
    seq = getattr(event, "seq", None)
    back = from_stored(event.type, data, message_id_of(event), seq)
    assert back == event


def test_a_sandbox_events_message_id_lives_in_its_column() -> None:
    event = p.TokenDelta(seq=4, message_id="m1", part_id="x", text="hi")
    assert "message_id" not in stored_data(event)
    assert message_id_of(event) == "m1"
    # The control plane's prompt events keep it in their data too (older rows were written so).
    assert stored_data(PromptStarted(message_id="m1")) == {"message_id": "m1"}


@pytest.mark.parametrize(("event_type", "data", "reason"), [
    ("no_such_event", {}, "unknown stored event type 'no_such_event'"),
    ("prompt_started", {}, "message_id"),
    ("session_status", {"status": "sleeping"}, "status"),
    ("prompt_queued", {"message_id": "m", "author": {}, "content": "", "source": "api", "position": 1}, "author"),
])
def test_a_row_that_holds_no_valid_event_is_refused_with_a_reason(event_type: str, data: dict[str, object],
                                                                  reason: str) -> None:
    with pytest.raises(p.ProtocolError, match=reason):
        from_stored(event_type, data)


def test_the_docs_catalogue_is_generated_from_the_models() -> None:
    """docs/events.md is what ``python -m openinspect_protocol.catalogue`` prints (regenerate it when this fails)."""
    assert (REPO_ROOT / "docs" / "events.md").read_text() == catalogue.render()
