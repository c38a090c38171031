"""A session's sandbox log: the sandbox runtimes' own log lines (``sandbox_log`` events), kept with it.

Not the timeline: these are for people debugging a session (its page's "Sandbox log"
panel, ``GET /api/sessions/{id}/sandbox-log``), so they are bounded per session —
the newest :data:`MAX_LINES` stay, older ones are pruned as new ones arrive — and
they stay after the sandbox has ended (a sandbox that died is when they matter most).
The lines arrive already scrubbed by the sandbox; ingestion stores them in the same
transaction that claims the event's sequence number, so a re-sent batch is not doubled.
"""

from __future__ import annotations

import openinspect_protocol as p
import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import SandboxLogLine

MAX_LINES = 5000  # per session
MAX_TAIL = MAX_LINES


async def append(db: AsyncSession, session_id: str, sandbox_id: str, batch: p.SandboxLog) -> None:
    """Store ``batch`` (oldest first), then prune the session's lines beyond the newest :data:`MAX_LINES`."""
    rows = [{"session_id": session_id, "sandbox_id": sandbox_id, "sandbox_seq": batch.seq, "ts": line.ts,
             "level": line.level, "line": line.line} for line in batch.lines]
    if batch.dropped:
        first = batch.lines[0]
        rows.insert(0, {"session_id": session_id, "sandbox_id": sandbox_id, "sandbox_seq": batch.seq,
                        "ts": first.ts, "level": "warning",
                        "line": f'{{"event": "sandbox_log.dropped", "lines": {batch.dropped}}}'})
    await db.exec(sa.insert(SandboxLogLine).values(rows))
    await prune(db, session_id, MAX_LINES)


async def prune(db: AsyncSession, session_id: str, keep: int) -> None:
    """Delete the session's lines older than its newest ``keep``."""
    oldest_kept = (select(SandboxLogLine.id).where(SandboxLogLine.session_id == session_id)
                   .order_by(col(SandboxLogLine.id).desc()).offset(keep - 1).limit(1).scalar_subquery())
    await db.exec(sa.delete(SandboxLogLine).where(
        col(SandboxLogLine.session_id) == session_id, col(SandboxLogLine.id) < oldest_kept))


async def tail(db: AsyncSession, session_id: str, limit: int) -> list[SandboxLogLine]:
    """The session's newest ``limit`` lines, oldest first."""
    newest = (await db.exec(select(SandboxLogLine).where(SandboxLogLine.session_id == session_id)
                            .order_by(col(SandboxLogLine.id).desc()).limit(limit))).all()
    return list(reversed(newest))
