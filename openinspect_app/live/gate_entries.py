"""How the verify gate and the session's changes look on its timeline and in its header. Pure.

:mod:`openinspect_app.live.timeline_view` matches on the events and calls these. A
verify run is one script entry (its output streams in as ``script_output`` with
``script`` = ``verify``, tied to the turn's prompt; ``verify_finished`` settles it), and
its outcome is the session's verify badge (passed, failed, timed_out) until the next run.
A ``changes_updated`` is one line saying what the Changes panel now holds.
"""

from __future__ import annotations

import openinspect_protocol as p
from openinspect_protocol.timeline import ChangesUpdated

VERIFY = "verify"  # ScriptOutput.script of verify.sh
CHANGES = "changes"  # Entry.kind of a changes_updated line
# The badge's words for each outcome.
VERIFY_LABELS = {"passed": "verify passed", "failed": "verify failed", "timed_out": "verify timed out"}


def script_key(script: str, message_id: str | None, sandbox_round: int) -> str:
    """The entry a script's output belongs to: setup and start once per sandbox, verify once per turn."""
    if script == VERIFY:
        return f"script:{VERIFY}:{message_id or sandbox_round}"
    return f"script:{script}:{sandbox_round}"


def verify_meta(event: p.VerifyFinished) -> str:
    """The entry's and the badge's detail: how it ended, and how long it took."""
    how = ("timed out" if event.outcome == "timed_out"
           else f"exit {event.exit_code}" if event.exit_code is not None else event.outcome)
    commit = f" · {event.head_sha[:10]}" if event.head_sha else ""
    return f"{how} · {event.duration_ms / 1000:.1f} s{commit}"


def verify_badge(event: p.VerifyFinished) -> dict[str, str]:
    """What the header's badge and the PR card's show of the newest verify run."""
    return {"verify": event.outcome, "verify_detail": verify_meta(event)}


def changes_text(event: ChangesUpdated) -> str:
    files = f"{event.files} file{'' if event.files == 1 else 's'}"
    folded = f", {event.folded} folded" if event.folded else ""
    return f"Changes: {files} changed, +{event.additions} -{event.deletions}{folded}"
