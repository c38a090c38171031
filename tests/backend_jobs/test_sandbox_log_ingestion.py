"""A sandbox's log batches are kept with its session, exactly once, and never on the timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import openinspect_protocol as p

from backend_jobs.ingestion import Ingestor
from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.services import sandbox_logs, timeline
from tests.backend_jobs.test_ingestion import setup


def batch(seq: int, *events: str) -> p.SandboxLog:
    return p.SandboxLog(seq=seq, lines=[p.SandboxLogLine(ts=datetime.now(UTC), level="info",
                                                         line=f'{{"event": "{event}"}}') for event in events])


async def test_log_batches_are_stored_once_in_order_beside_the_timeline(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    ingestor = Ingestor(database, Notifier())
    results = [await ingestor.ingest(session_id, sandbox_id, event) for event in (
        batch(1, "supervisor.ready"),
        p.StageChanged(seq=2, stage="setup"),
        batch(1, "supervisor.ready"),  # re-sent after a reconnect: acknowledged, not stored again
        batch(3, "a", "b"))]
    assert [(r.outcome, r.ack_seq, r.control) for r in results] == [
        ("stored", 1, False), ("stored", 2, True), ("duplicate", 2, False), ("stored", 3, False)]
    async with database.session() as db:
        stored = await sandbox_logs.tail(db, session_id, 100)
        kinds = [e.type for e in await timeline.after(db, session_id)]
    assert [row.line for row in stored] == ['{"event": "supervisor.ready"}', '{"event": "a"}', '{"event": "b"}']
    assert {row.sandbox_id for row in stored} == {sandbox_id}
    assert "sandbox_log" not in kinds and "stage" in kinds


async def test_the_log_of_a_sandbox_that_ended_is_still_kept(database: Database) -> None:
    session_id, sandbox_id = await setup(database, sandbox_status="failed")
    await Ingestor(database, Notifier()).ingest(session_id, sandbox_id, batch(1, "supervisor.fatal"))
    async with database.session() as db:
        assert [row.line for row in await sandbox_logs.tail(db, session_id, 10)] == ['{"event": "supervisor.fatal"}']
