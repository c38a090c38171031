"""What "every event stored exactly once, in order" means, checked on a session's stored rows."""

from __future__ import annotations

import re

from sqlmodel import col, select

from openinspect_core.models import Event, SandboxLogLine
from tests.support.system import RunningSystem


def assert_dense(events: list[dict]) -> None:
    """Session sequences are 1..n: no hole, no repeat."""
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))


async def assert_every_frame_stored_once(s: RunningSystem, session_id: str) -> None:
    """Each bridge frame of the session's sandboxes is stored once: an event, or a batch of the sandbox's
    own log (a batch's lines share its number); for one sandbox, the numbers are 1..n with no hole."""
    async with s.system.db.session() as db:
        rows = (await db.exec(select(Event.sandbox_seq).where(Event.session_id == session_id,
                                                                col(Event.sandbox_seq).is_not(None)))).all()
        log_batches = set((await db.exec(select(SandboxLogLine.sandbox_seq).where(
            SandboxLogLine.session_id == session_id))).all())
    assert len(rows) == len(set(rows)) and not log_batches & set(rows)
    frames = sorted([*rows, *log_batches])
    assert frames == list(range(1, len(frames) + 1)), "every bridge frame stored exactly once"


def ticks(events: list[dict], message_id: str) -> list[int]:
    """The numbers the scripted model's ``slow`` script streamed for a prompt, as stored."""
    text = "".join(e["data"]["text"] for e in events if e["type"] == "token" and e["message_id"] == message_id)
    return [int(n) for n in re.findall(r"tick(\d+)", text)]
