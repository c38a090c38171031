"""The verify gate and the changes on the timeline: one script entry per verify run (its output, then its
outcome), the session's badge following the newest run, and one line per changes_updated."""

from __future__ import annotations

import openinspect_protocol as p
from openinspect_protocol.timeline import ChangesUpdated

from openinspect_app.live.timeline_view import TimelineView


def verify(message_id: str, outcome: p.events.VerifyOutcome, exit_code: int | None) -> p.VerifyFinished:
    return p.VerifyFinished(message_id=message_id, outcome=outcome, exit_code=exit_code, duration_ms=1234,
                            timeout_seconds=300, head_sha="0123456789abcdef")


def test_each_turn_s_verify_is_its_own_entry_and_the_badge_follows_the_newest() -> None:
    view = TimelineView()
    view.apply(1, p.GitSync(status="completed", repo_url="/r", branch="main", head_sha="abc"))
    view.apply(2, p.ScriptOutput(script="setup", text="installing\n"))
    view.apply(3, p.ScriptOutput(script="verify", message_id="m1", text="2 passed\n"))
    view.apply(4, verify("m1", "passed", 0))
    assert (view.verify, view.verify_detail) == ("passed", "exit 0 · 1.2 s · 0123456789")
    view.apply(5, p.ScriptOutput(script="verify", message_id="m2", text="1 failed\n"))
    view.apply(6, verify("m2", "failed", 1))
    runs = [e for e in view.entries if e.kind == "script" and e.detail == "verify"]
    assert [(e.key, e.status, e.output, e.title) for e in runs] == [
        ("script:verify:m1", "completed", "2 passed\n", "verify passed"),
        ("script:verify:m2", "error", "1 failed\n", "verify failed")]
    assert view.verify == "failed"
    setup = [e for e in view.entries if e.detail == "setup"]
    assert len(setup) == 1 and setup[0].key == "script:setup:1"  # setup is still keyed by the sandbox


def test_a_silent_verify_that_timed_out_still_gets_its_entry() -> None:
    view = TimelineView()
    assert view.apply(1, verify("m1", "timed_out", None)) == {0}
    entry = view.entries[0]
    assert (entry.kind, entry.status, entry.meta, entry.title) == ("script", "error", "timed out · 1.2 s · 0123456789",
                                                                   "verify timed out")
    assert view.verify == "timed_out"


def test_changes_updated_is_a_line_and_moves_the_panel_s_cue() -> None:
    view = TimelineView()
    view.apply(4, ChangesUpdated(files=3, additions=10, deletions=2, folded=1, message_id="m1"))
    view.apply(9, ChangesUpdated(files=1, additions=1, deletions=0))
    assert [(e.kind, e.text) for e in view.entries] == [
        ("changes", "Changes: 3 files changed, +10 -2, 1 folded"), ("changes", "Changes: 1 file changed, +1 -0")]
    assert view.changes_seq == 9
