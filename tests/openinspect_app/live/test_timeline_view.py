"""Folding stored events into timeline entries, and the live window over them."""

from __future__ import annotations

from typing import Any

from openinspect_app.live.projector import SLOT_COUNT, SLOT_SIZE, Window
from openinspect_app.live.timeline_view import TOOL_OUTPUT_PREVIEW_CHARS, Entry, TimelineView

ADA = {"name": "Ada", "email": "ada@x"}


def fold(events: list[tuple[str, dict[str, Any], str | None]]) -> TimelineView:
    view = TimelineView()
    for seq, (kind, data, message_id) in enumerate(events, start=1):
        view.apply(seq, kind, data, message_id)
    return view


def test_a_turn_folds_into_few_entries() -> None:
    view = fold([
        ("session_status", {"status": "spawning"}, None),
        ("git_sync", {"status": "completed", "repo_url": "r", "branch": "main", "head_sha": "abcdef1234567"}, None),
        ("script_output", {"script": "setup", "text": "one\n"}, None),
        ("script_output", {"script": "setup", "text": "two\n"}, None),
        ("script_finished", {"script": "setup", "exit_code": 0, "duration_ms": 1500}, None),
        ("prompt_queued", {"author": ADA, "content": "fix it"}, "m1"),
        ("prompt_started", {}, "m1"),
        ("token", {"part_id": "p1", "text": "Look"}, "m1"),
        ("token", {"part_id": "p1", "text": "ing"}, "m1"),
        ("tool_call", {"call_id": "c1", "tool": "bash", "input": {"command": "ls"}}, "m1"),
        ("tool_result", {"call_id": "c1", "tool": "bash", "status": "completed", "output": "a\nb"}, "m1"),
        ("step_finish", {"tokens": {"input": 1200, "output": 30}, "cost": 0.01}, "m1"),
        ("artifact", {"kind": "commit", "ref": "0123456789abc", "data": {"subject": "Fix", "author_name": "Ada"}},
         "m1"),
        ("prompt_finished", {"status": "completed"}, "m1"),
    ])
    assert [(e.kind, e.status) for e in view.entries] == [
        ("note", ""), ("script", "completed"), ("prompt", "completed"), ("text", ""), ("tool", "completed"),
        ("step", ""), ("artifact", ""),
    ]
    assert view.entries[0].text == "Repository ready (main at abcdef1234)"
    assert view.entries[1].output == "one\ntwo\n" and view.entries[1].meta == "exit 0 · 1.5 s"
    assert (view.entries[2].author, view.entries[2].text) == ("Ada", "fix it")
    assert view.entries[3].text == "Looking"
    assert (view.entries[4].title, view.entries[4].output) == ("ls", "a\nb")
    assert view.entries[5].meta == "1,200 in · 30 out · $0.0100"
    assert (view.entries[6].meta, view.entries[6].text) == ("0123456789", "Fix")
    assert view.queue() == []


def test_apply_reports_what_changed_and_ignores_what_it_has_seen() -> None:
    view = TimelineView()
    assert view.apply(1, "prompt_queued", {"author": ADA, "content": "x"}, "m1") == {0}
    assert view.apply(2, "token", {"part_id": "p", "text": "a"}, "m1") == {1}
    assert view.apply(3, "token", {"part_id": "p", "text": "b"}, "m1") == {1}
    assert view.apply(3, "token", {"part_id": "p", "text": "b"}, "m1") == set()  # already folded
    assert view.apply(4, "heartbeat_or_unknown", {}, None) == set()
    assert view.entries[1].text == "ab"


def test_the_queue_lists_running_then_waiting_prompts() -> None:
    view = fold([
        ("prompt_queued", {"author": ADA, "content": "one"}, "m1"),
        ("prompt_queued", {"author": ADA, "content": "two"}, "m2"),
        ("prompt_queued", {"author": ADA, "content": "three"}, "m3"),
        ("prompt_started", {}, "m1"),
        ("prompt_cancelled", {}, "m2"),
    ])
    assert [(q.message_id, q.position, q.status) for q in view.queue()] == [("m1", 0, "running"), ("m3", 1, "queued")]


def test_failures_and_big_outputs() -> None:
    view = fold([
        ("prompt_queued", {"author": ADA, "content": "x"}, "m1"),
        ("tool_call", {"call_id": "c", "tool": "bash", "input": {}}, "m1"),
        ("tool_result", {"call_id": "c", "tool": "bash", "status": "completed", "output": "z" * 10_000}, "m1"),
        ("prompt_finished", {"status": "failed", "error": "model refused"}, "m1"),
        ("session_status", {"status": "failed", "reason": "repository not found"}, None),
    ])
    assert len(view.entries[1].output) < TOOL_OUTPUT_PREVIEW_CHARS + 100
    assert [(e.kind, e.text) for e in view.entries[2:]] == [
        ("error", "model refused"), ("error", "The sandbox failed: repository not found")]


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
    view.apply(1, "prompt_queued", {"author": ADA, "content": "x"}, "m1")
    paragraph = "word " * 60 + "\n\n"  # ~300 characters
    seq = 2
    for _ in range(20):
        for piece in (paragraph[:150], paragraph[150:]):
            view.apply(seq, "token", {"part_id": "p", "text": piece}, "m1")
            seq += 1
    texts = [e for e in view.entries if e.kind == "text"]
    assert len(texts) > 3
    assert "".join(e.text for e in texts) == paragraph * 20  # nothing lost or doubled at the cuts
    assert all(len(e.text) < 2 * 1_500 for e in texts)
    # A code block is never cut in the middle, even where it has blank lines.
    view2 = TimelineView()
    code = "```\n" + ("line\n\n" * 400) + "```\n\nafter the code\n\nmore"
    view2.apply(1, "token", {"part_id": "q", "text": code[:1000]}, "m")
    view2.apply(2, "token", {"part_id": "q", "text": code[1000:]}, "m")
    assert len(view2.entries) == 2
    assert view2.entries[0].text.count("```") == 2  # the whole fence, opening and closing
    assert "".join(e.text for e in view2.entries) == code
