"""Folding typed timeline events into timeline entries, and the live window over them."""

from __future__ import annotations

import typing

import openinspect_protocol as p
import pytest
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
)

from openinspect_app.live.projector import SLOT_COUNT, SLOT_SIZE, Window
from openinspect_app.live.timeline_view import TOOL_OUTPUT_PREVIEW_CHARS, Entry, TimelineView

ADA = PromptAuthor(id="u1", name="Ada", email="ada@x")


def queued(message_id: str, content: str, position: int = 1) -> PromptQueued:
    return PromptQueued(message_id=message_id, author=ADA, content=content, source="web", position=position)


def fold(events: list[TimelineEvent]) -> TimelineView:
    view = TimelineView()
    for seq, event in enumerate(events, start=1):
        view.apply(seq, event)
    return view


def test_a_turn_folds_into_few_entries() -> None:
    view = fold([
        SessionStatusChanged(status=SessionStatus.SPAWNING),
        p.GitSync(status="completed", repo_url="r", branch="main", head_sha="abcdef1234567"),
        p.ScriptOutput(script="setup", text="one\n"),
        p.ScriptOutput(script="setup", text="two\n"),
        p.ScriptFinished(script="setup", exit_code=0, duration_ms=1500),
        queued("m1", "fix it"),
        PromptStarted(message_id="m1"),
        p.TokenDelta(message_id="m1", part_id="p1", text="Look"),
        p.TokenDelta(message_id="m1", part_id="p1", text="ing"),
        p.ToolCall(message_id="m1", call_id="c1", tool="bash", input={"command": "ls"}),
        p.ToolResult(message_id="m1", call_id="c1", tool="bash", status="completed", output="a\nb"),
        p.StepFinish(message_id="m1", tokens=p.TokenUsage(input=1200, output=30), cost=0.01),
        p.Artifact(message_id="m1", kind="commit", ref="0123456789abc", data={"subject": "Fix", "author_name": "Ada"}),
        PromptFinished(message_id="m1", status=MessageStatus.COMPLETED),
    ])
    assert [(e.kind, e.status) for e in view.entries] == [
        ("note", ""), ("script", "completed"), ("prompt", "completed"), ("text", ""), ("tool", "completed"),
        ("step", ""), ("artifact", ""),
    ]
    assert view.entries[0].text == "Repository ready (main at abcdef1234)"
    assert view.entries[1].output == "one\ntwo\n" and view.entries[1].meta == "exit 0 · 1.5 s"
    assert (view.entries[2].author, view.entries[2].author_email, view.entries[2].text) == ("Ada", "ada@x", "fix it")
    assert view.entries[3].text == "Looking" and view.entries[3].message_id == "m1"
    assert (view.entries[4].title, view.entries[4].output) == ("ls", "a\nb")
    assert view.entries[5].meta == "1,200 in · 30 out · $0.0100"
    assert (view.entries[6].meta, view.entries[6].text, view.entries[6].author) == ("0123456789", "Fix", "Ada")
    assert [e.key for e in view.entries] == ["event:2", "script:setup:1", "prompt:m1", "text:p1", "tool:c1",
                                             "event:12", "event:13"]
    assert view.queue() == []
    assert view.artifacts(10) == [view.entries[6]]


def test_apply_reports_what_changed_and_ignores_what_it_has_seen() -> None:
    view = TimelineView()
    assert view.apply(1, queued("m1", "x")) == {0}
    assert view.apply(2, p.TokenDelta(message_id="m1", part_id="p", text="a")) == {1}
    assert view.apply(3, p.TokenDelta(message_id="m1", part_id="p", text="b")) == {1}
    assert view.apply(3, p.TokenDelta(message_id="m1", part_id="p", text="b")) == set()  # already folded
    assert view.apply(4, p.StepStart(message_id="m1")) == set()  # nothing to show
    view.skip(5)  # an unreadable row: passed over, not read again
    assert view.last_sequence == 5
    assert view.apply(5, p.TokenDelta(message_id="m1", part_id="p", text="c")) == set()
    assert view.entries[1].text == "ab"


def test_the_session_status_title_and_archive_state() -> None:
    view = fold([
        SessionStatusChanged(status=SessionStatus.SPAWNING),
        p.SessionTitle(title="Fix the build"),
        SessionStatusChanged(status=SessionStatus.STOPPED, reason="idle for 30 minutes"),
        SessionArchived(),
        SessionRestored(),
        BridgeRejected(reason="bad frame"),
        p.WarningEvent(code="setup_failed", message="exit 1"),
        p.Ready(agent="opencode", agent_version="1.0"),
    ])
    assert (view.status, view.status_reason, view.title, view.archived) == (
        "stopped", "idle for 30 minutes", "Fix the build", False)
    assert [(e.kind, e.text) for e in view.entries] == [
        ("note", "The sandbox stopped: idle for 30 minutes"), ("note", "Session archived"),
        ("note", "Session restored"), ("warning", "Refused a sandbox message: bad frame"),
        ("warning", "exit 1"), ("note", "Agent ready (opencode 1.0)"),
    ]


def test_the_queue_lists_running_then_waiting_prompts() -> None:
    view = fold([
        queued("m1", "one"),
        queued("m2", "two", position=2),
        queued("m3", "three", position=3),
        PromptStarted(message_id="m1"),
        PromptCancelled(message_id="m2"),
    ])
    assert [(q.message_id, q.position, q.status) for q in view.queue()] == [("m1", 0, "running"), ("m3", 1, "queued")]
    view.apply(6, StopRequested(message_id="m1"))
    assert (view.entries[-1].text, view.entries[-1].message_id) == ("Stop requested", "m1")


def test_failures_and_big_outputs() -> None:
    view = fold([
        queued("m1", "x"),
        p.ToolCall(message_id="m1", call_id="c", tool="bash"),
        p.ToolResult(message_id="m1", call_id="c", tool="bash", status="completed", output="z" * 10_000),
        PromptFinished(message_id="m1", status=MessageStatus.FAILED, error="model refused"),
        SessionStatusChanged(status=SessionStatus.FAILED, reason="repository not found"),
        p.GitSync(status="failed", repo_url="r", detail="no such repo"),
        p.ErrorEvent(message_id="m1", code="agent_exited", message="boom"),
        p.ScriptFinished(script="start", exit_code=None, timed_out=True, duration_ms=60_000),
    ])
    assert len(view.entries[1].output) < TOOL_OUTPUT_PREVIEW_CHARS + 100
    assert [(e.kind, e.text) for e in view.entries[2:6]] == [
        ("error", "model refused"), ("error", "The sandbox failed: repository not found"),
        ("error", "Could not get the repository: no such repo"), ("error", "boom")]
    assert (view.entries[6].kind, view.entries[6].status, view.entries[6].meta) == (
        "script", "error", "timed out · 60.0 s")


def test_a_tool_result_may_come_without_its_call() -> None:
    view = fold([p.ToolResult(message_id="m1", call_id="c", tool="read", status="error", title="Read x",
                              error="no such file", output="ignored")])
    entry = view.entries[0]
    assert (entry.kind, entry.tool, entry.status, entry.title, entry.output) == (
        "tool", "read", "error", "Read x", "no such file")


# One of each event the timeline stores, with as little as each needs.
EVERY_EVENT: list[TimelineEvent] = [
    p.Ready(agent="opencode", agent_version="1"),
    p.StageChanged(stage="setup"),
    p.GitSync(status="completed", repo_url="r"),
    p.ScriptOutput(script="setup", text=""),
    p.ScriptFinished(script="setup", exit_code=0, duration_ms=0),
    p.TokenDelta(part_id="p", text=""),
    p.ToolCall(call_id="c", tool="bash"),
    p.ToolResult(call_id="c", tool="bash", status="completed"),
    p.StepStart(),
    p.StepFinish(),
    p.ErrorEvent(code="c", message="m"),
    p.ExecutionComplete(success=True),
    p.Artifact(kind="commit", ref="abc"),
    p.WarningEvent(code="c", message="m"),
    p.SessionTitle(title="t"),
    SessionStatusChanged(status=SessionStatus.READY),
    SandboxSpawning(sandbox_id="s", backend="local"),
    SandboxExited(sandbox_id="s", exit_code=0, reason="done"),
    queued("m", "x"),
    PromptStarted(message_id="m"),
    PromptFinished(message_id="m", status=MessageStatus.COMPLETED),
    PromptCancelled(message_id="m"),
    StopRequested(message_id="m"),
    BridgeRejected(reason="r"),
    SessionArchived(),
    SessionRestored(),
    p.PushComplete(branch="b", head_sha="abc"),
    p.PushError(branch="b", code="push_failed", message="m"),
    p.PullRequestRequested(request_id="r"),
    p.PreviewPorts(ports=[]),
    PullRequestChanged(number=1, url="https://x/pull/1", title="t", state="open", head="b", base="main",
                       author_login="a", opened_as="user"),
    PullRequestFailed(reason="r", code="c"),
    SessionRenamed(title="t", by=ADA),
    SpendLimitChanged(limit_usd=1.0, effective_limit_usd=1.0, by=ADA),
    SpendLimitReached(spent_usd=1.5, limit_usd=1.0, waiting=1),
    p.VerifyFinished(outcome="failed", exit_code=1, duration_ms=10, timeout_seconds=300),
    ChangesUpdated(files=1, additions=1, deletions=0),
    ArtifactCreated(artifact_id="a1", content_type="image/png", size_bytes=1, width=1, height=1),
]


def test_the_examples_cover_every_timeline_event_type() -> None:
    members = typing.get_args(typing.get_args(TimelineEvent)[0])
    assert {type(e) for e in EVERY_EVENT} == set(members)


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: e.type)
def test_every_timeline_event_type_has_a_case(event: TimelineEvent) -> None:
    # A type with no case would reach assert_never and raise here (mypy says so before any test runs).
    view = TimelineView()
    changed = view.apply(1, event)
    assert changed <= set(range(len(view.entries)))
    assert view.last_sequence == 1


def entries(n: int) -> list[Entry]:
    return [Entry(key=str(i), kind="note", seq=i) for i in range(n)]


def test_the_window_sends_only_the_slot_that_changed_and_the_tail() -> None:
    window = Window()
    items = entries(40)
    first = window.changes(items, set(), full=True)
    assert first["tail"] == items[-1:]
    assert first["slot_0"] == items[:16] and first["slot_1"] == items[16:32] and first["slot_2"] == items[32:39]
    # A token into the newest entry: only the tail.
    assert set(window.changes(items, {39})) == {"tail"}
    # A new entry: the old tail joins its page, the new one is the tail.
    items.append(Entry(key="40", kind="note", seq=40))
    assert set(window.changes(items, {40})) == {"slot_2", "tail"}
    # An update to an older entry inside the window: its page only.
    assert set(window.changes(items, {3})) == {"slot_0"}


def test_the_window_slides_and_what_is_sent_does_not_grow_with_history() -> None:
    window = Window()
    items = entries(SLOT_SIZE * SLOT_COUNT * 10)
    window.changes(items, set(), full=True)
    for i in range(len(items), len(items) + 3 * SLOT_SIZE):
        items.append(Entry(key=str(i), kind="note", seq=i))
        out = window.changes(items, {i})
        sent = sum(len(v) for k, v in out.items() if k.startswith("slot_") or k == "tail")
        assert sent <= SLOT_SIZE + 1
        if "slot_order" in out:  # a new page pushed the oldest one out of the ring
            assert sorted(out["slot_order"]) == list(range(SLOT_COUNT))
            assert out["window_start"] == window.first_page * SLOT_SIZE
    shown = SLOT_SIZE * SLOT_COUNT
    assert window.first_page * SLOT_SIZE >= len(items) - 1 - shown


def test_a_long_answer_continues_in_new_entries_at_paragraph_breaks() -> None:
    view = TimelineView()
    view.apply(1, queued("m1", "x"))
    paragraph = "word " * 60 + "\n\n"  # ~300 characters
    seq = 2
    for _ in range(20):
        for piece in (paragraph[:150], paragraph[150:]):
            view.apply(seq, p.TokenDelta(message_id="m1", part_id="p", text=piece))
            seq += 1
    texts = [e for e in view.entries if e.kind == "text"]
    assert len(texts) > 3
    assert "".join(e.text for e in texts) == paragraph * 20  # nothing lost or doubled at the cuts
    assert all(len(e.text) < 2 * 1_500 for e in texts)
    # A code block is never cut in the middle, even where it has blank lines.
    view2 = TimelineView()
    code = "```\n" + ("line\n\n" * 400) + "```\n\nafter the code\n\nmore"
    view2.apply(1, p.TokenDelta(message_id="m", part_id="q", text=code[:1000]))
    view2.apply(2, p.TokenDelta(message_id="m", part_id="q", text=code[1000:]))
    assert len(view2.entries) == 2
    assert view2.entries[0].text.count("```") == 2  # the whole fence, opening and closing
    assert "".join(e.text for e in view2.entries) == code


def test_a_screenshot_is_an_entry_with_its_image_url_and_never_its_bytes() -> None:
    view = TimelineView()
    view.apply(1, ArtifactCreated(artifact_id="a" * 32, content_type="image/png", size_bytes=52_000, width=1280,
                                  height=800, message_id="m1", caption="The new heading",
                                  page_url="http://127.0.0.1:3000/", page_title="Shop"))
    [entry] = view.entries
    assert (entry.kind, entry.url, entry.title) == ("screenshot", "/api/artifacts/" + "a" * 32, "The new heading")
    assert entry.detail == "http://127.0.0.1:3000/" and "1280\u00d7800" in entry.meta and entry.message_id == "m1"
    view.apply(2, ArtifactCreated(artifact_id="b" * 32, content_type="image/webp", size_bytes=1, width=1, height=1,
                                  page_title="Shop"))
    assert view.entries[1].title == "Shop"  # no caption: the page's title
