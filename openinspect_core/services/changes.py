"""A session's changes against its base branch, and the outcome of its verify gate.

Changes: each turn's end brings a ``changes`` event from the sandbox (files, counts,
each file's diff within the size caps the sandbox applied). It is not a timeline event:
:func:`store` keeps the newest one per session in ``session_changes`` — replaced, since
each is the whole picture — and adds a small ``changes_updated`` event to the timeline,
so viewers see that something changed. Both happen in the ingestion's transaction, so a
re-sent event is stored once. The row stays after the sandbox has ended.

Verify: the outcomes are ``verify_finished`` events on the timeline; :func:`last_verify`
reads the newest (the session's badge, the PR body's warning).

Who may read them: whoever may read the session (the callers check).
"""

from __future__ import annotations

from typing import Any

import openinspect_protocol as p
from openinspect_protocol import ProtocolError
from openinspect_protocol.timeline import ChangesUpdated
from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Event, SessionChanges, utcnow
from openinspect_core.services import timeline

_ENVELOPE = frozenset({"type", "seq", "ts", "message_id"})


async def store(db: AsyncSession, session_id: str, sandbox_id: str, event: p.ChangesSnapshot) -> ChangesUpdated:
    """Keep ``event`` as the session's changes (replacing the last) and note it on the timeline."""
    folded = sum(1 for f in event.files if f.omitted) + event.files_omitted
    values: dict[str, Any] = {
        "message_id": event.message_id, "sandbox_id": sandbox_id, "base_ref": event.base_ref,
        "base_sha": event.base_sha, "head_sha": event.head_sha, "file_count": len(event.files) + event.files_omitted,
        "additions": event.additions, "deletions": event.deletions, "folded": folded,
        "data": event.model_dump(mode="json", exclude=set(_ENVELOPE)), "updated_at": utcnow(),
    }
    row = await db.get(SessionChanges, session_id)
    if row is None:
        row = SessionChanges(session_id=session_id, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    db.add(row)
    note = ChangesUpdated(files=row.file_count, additions=event.additions, deletions=event.deletions, folded=folded,
                          head_sha=event.head_sha, message_id=event.message_id)
    # The note stands for the frame on the timeline: it carries the frame's number, so every frame stays findable.
    await timeline.append(db, session_id, note, sandbox_id=sandbox_id, sandbox_seq=event.seq)
    return note


async def read(db: AsyncSession, session_id: str) -> p.ChangesSnapshot | None:
    """The session's newest changes (None: no turn has reported any, or the stored row is unreadable)."""
    row = await db.get(SessionChanges, session_id)
    if row is None:
        return None
    return snapshot_of(row)


def snapshot_of(row: SessionChanges) -> p.ChangesSnapshot | None:
    try:
        return p.ChangesSnapshot.model_validate({**row.data, "message_id": row.message_id})
    except (ValidationError, ProtocolError, TypeError):
        return None


async def last_verify(db: AsyncSession, session_id: str) -> p.VerifyFinished | None:
    """The newest ``verify_finished`` of the session (None: verify.sh has not run)."""
    row = (await db.exec(select(Event).where(Event.session_id == session_id, Event.type == "verify_finished")
                         .order_by(col(Event.sequence).desc()).limit(1))).first()
    if row is None:
        return None
    event = timeline.typed(row)
    return event if isinstance(event, p.VerifyFinished) else None


def verify_warning(result: p.VerifyFinished | None) -> str:
    """What a pull request's body says when the last verify did not pass ("" when it passed or never ran)."""
    if result is None or result.outcome == "passed":
        return ""
    commit = f" at `{result.head_sha[:10]}`" if result.head_sha else ""
    how = (f"did not finish within {result.timeout_seconds:g} s and was stopped" if result.outcome == "timed_out"
           else f"failed (exit code {result.exit_code})")
    lines = [f"> [!WARNING]\n> The last verify (`.openinspect/verify.sh`){commit} {how}."]
    if result.tail.strip():
        tail = "\n".join(result.tail.strip().splitlines()[-10:]).replace("```", "'''")
        lines.append(f"<details><summary>Its last output</summary>\n\n```\n{tail}\n```\n</details>")
    return "\n\n".join(lines)
