"""Ingestion scrubs each stored event again with its session's values (defence in depth)."""

from __future__ import annotations

import json

import openinspect_protocol as p

from backend_jobs.ingestion import Ingestor, SessionRedactors
from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier
from openinspect_core.services import timeline
from tests.backend_jobs.test_ingestion import setup

VALUE = "whsec-0123456789abcdef"
TOKEN = "bridge-token-of-this-sandbox"


async def test_a_value_a_sandbox_failed_to_scrub_is_stored_as_its_mark(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    redactors = SessionRedactors()
    redactors.add(session_id, {"WEBHOOK_SECRET": VALUE, "SANDBOX_TOKEN": TOKEN})
    ingestor = Ingestor(database, Notifier(), redactors)
    await ingestor.ingest(session_id, sandbox_id, p.ToolResult(
        seq=1, call_id="c", tool="bash", status="completed", title=f"echo {VALUE}", output=f"{VALUE} {TOKEN}"))
    await ingestor.ingest(session_id, sandbox_id, p.ErrorEvent(seq=2, code="x", message=f"failed: {VALUE}"))
    await ingestor.reject(sandbox_id, json.dumps({"type": "nonsense", "seq": 3, "leak": VALUE}), f"bad {VALUE}")
    async with database.session() as db:
        stored = json.dumps([event.data for event in await timeline.after(db, session_id)])
    assert VALUE not in stored and TOKEN not in stored
    assert "[secret:WEBHOOK_SECRET] [secret:SANDBOX_TOKEN]" in stored and "failed: [secret:WEBHOOK_SECRET]" in stored


async def test_a_session_started_by_another_process_loads_its_secrets_once(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    asked: list[str] = []

    async def load(session: str) -> dict[str, str]:
        asked.append(session)
        return {"WEBHOOK_SECRET": VALUE}

    ingestor = Ingestor(database, Notifier(), SessionRedactors(load))
    for seq in (1, 2):
        await ingestor.ingest(session_id, sandbox_id, p.WarningEvent(seq=seq, code="w", message=VALUE))
    async with database.session() as db:
        messages = [event.data["message"] for event in await timeline.after(db, session_id) if event.type == "warning"]
    assert messages == ["[secret:WEBHOOK_SECRET]"] * 2 and asked == [session_id]
