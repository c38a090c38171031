"""Ingestion on a real database (SQLite and PostgreSQL): exactly once, in order."""

from __future__ import annotations

import openinspect_protocol as p

from backend_jobs import tokens
from backend_jobs.ingestion import Ingestor
from openinspect_core.db import Database
from openinspect_core.models import Sandbox
from openinspect_core.notify.local import Notifier
from openinspect_core.services import sessions, timeline, users
from tests.openinspect_core.services.seed import POLICY


async def setup(database: Database, sandbox_status: str = "connected") -> tuple[str, str]:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        session = await sessions.create(db, repo_url="/tmp/repo", creator=user, policy=POLICY)
        sandbox = Sandbox(session_id=session.id, backend="test", auth_token_hash=tokens.token_hash("t"),
                          status=sandbox_status)
        db.add(sandbox)
        await db.commit()
        return session.id, sandbox.id


async def test_duplicates_are_acknowledged_and_skipped_and_a_gap_is_refused(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    ingestor = Ingestor(database, Notifier())
    first = await ingestor.ingest(session_id, sandbox_id, p.TokenDelta(seq=1, part_id="a", text="x"))
    again = await ingestor.ingest(session_id, sandbox_id, p.TokenDelta(seq=1, part_id="a", text="x"))
    gap = await ingestor.ingest(session_id, sandbox_id, p.TokenDelta(seq=3, part_id="a", text="z"))
    second = await ingestor.ingest(session_id, sandbox_id, p.TokenDelta(seq=2, part_id="a", text="y"))
    assert [(r.outcome, r.ack_seq) for r in (first, again, gap, second)] == [
        ("stored", 1), ("duplicate", 1), ("gap", 1), ("stored", 2)]
    async with database.session() as db:
        texts = [e.data["text"] for e in await timeline.after(db, session_id) if e.type == "token"]
    assert texts == ["x", "y"]


async def test_an_ended_sandbox_no_longer_moves_its_session(database: Database) -> None:
    session_id, sandbox_id = await setup(database, sandbox_status="failed")
    ingestor = Ingestor(database, Notifier())
    await ingestor.ingest(session_id, sandbox_id, p.StageChanged(seq=1, stage="syncing"))
    await ingestor.ingest(session_id, sandbox_id, p.Ready(seq=2, agent="opencode", agent_version="1"))
    async with database.session() as db:
        sandbox = await db.get(Sandbox, sandbox_id)
        session = await sessions.get(db, session_id)
        kinds = [e.type for e in await timeline.after(db, session_id)]
    assert sandbox is not None and sandbox.status == "failed"
    assert session.status == "spawning"  # unchanged by what the ended sandbox said
    assert kinds[-2:] == ["stage", "ready"]  # still on the timeline
