"""A sandbox's changes and verify outcomes through ingestion, on a real database (SQLite and PostgreSQL):
kept once, replaced by newer ones, readable after the sandbox ended, scrubbed of the session's secrets; the
last verify read back for the badge and the pull request's body."""

from __future__ import annotations

import openinspect_protocol as p
from openinspect_protocol.timeline import ChangesUpdated
from sqlmodel import select

from backend_jobs.ingestion import Ingestor, SessionRedactors
from openinspect_core.db import Database
from openinspect_core.github.pulls import with_verify_warning
from openinspect_core.models import Sandbox, SandboxStatus, SessionChanges
from openinspect_core.notify.local import Notifier
from openinspect_core.services import changes
from tests.backend_jobs.test_ingestion import setup
from tests.openinspect_core.services.seed import timeline_of

PATCH = "@@ -1 +1 @@\n-old\n+new\n"


def snapshot(seq: int, message_id: str, *, text: str = PATCH, head: str = "b" * 40) -> p.ChangesSnapshot:
    return p.ChangesSnapshot(
        seq=seq, message_id=message_id, base_ref="origin/main", base_sha="a" * 40, head_sha=head,
        files=[p.ChangedFile(path="app.py", additions=1, deletions=1, patch=text, patch_bytes=len(text)),
               p.ChangedFile(path="big.sql", additions=9000, patch_bytes=900_000, omitted="file_cap"),
               p.ChangedFile(path="logo.png", binary=True, omitted="binary")],
        files_omitted=2, additions=9001, deletions=1, uncommitted=True, max_file_bytes=65536,
        max_total_bytes=196608)


async def test_changes_are_kept_apart_replaced_and_outlive_the_sandbox(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    ingestor = Ingestor(database, Notifier())
    first = snapshot(1, "m1")
    assert (await ingestor.ingest(session_id, sandbox_id, first)).outcome == "stored"
    assert (await ingestor.ingest(session_id, sandbox_id, first)).outcome == "duplicate"

    events = await timeline_of(database, session_id)
    notes = [e for e in events if isinstance(e, ChangesUpdated)]
    assert len(notes) == 1 and not any(isinstance(e, p.ChangesSnapshot) for e in events)
    assert (notes[0].files, notes[0].additions, notes[0].deletions, notes[0].folded) == (5, 9001, 1, 4)
    assert notes[0].message_id == "m1"

    newer = snapshot(2, "m2", text="@@ -1 +1 @@\n-old\n+newer\n", head="c" * 40)
    await ingestor.ingest(session_id, sandbox_id, newer)
    async with database.session() as db:
        sandbox = await db.get(Sandbox, sandbox_id)
        assert sandbox is not None
        sandbox.status = SandboxStatus.STOPPED  # the sandbox is gone; its changes stay
        db.add(sandbox)
        await db.commit()
    async with database.session() as db:
        rows = (await db.exec(select(SessionChanges))).all()
        stored = await changes.read(db, session_id)
    assert len(rows) == 1 and rows[0].message_id == "m2" and rows[0].head_sha == "c" * 40
    assert stored is not None and stored.message_id == "m2"
    assert [f.model_dump() for f in stored.files] == [f.model_dump() for f in newer.files]
    assert (stored.files_omitted, stored.uncommitted, stored.max_file_bytes) == (2, True, 65536)


async def test_a_secret_in_a_diff_is_stored_as_its_mark(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    redactors = SessionRedactors()
    redactors.add(session_id, {"API_KEY": "sk-live-1234567890abcdef"})
    ingestor = Ingestor(database, Notifier(), redactors)
    leaky = snapshot(1, "m1", text="@@ -0,0 +1 @@\n+KEY=sk-live-1234567890abcdef\n")
    await ingestor.ingest(session_id, sandbox_id, leaky)
    async with database.session() as db:
        stored = await changes.read(db, session_id)
    assert stored is not None
    assert stored.files[0].patch == "@@ -0,0 +1 @@\n+KEY=[secret:API_KEY]\n"


async def test_the_last_verify_outcome_and_what_a_pull_request_body_says(database: Database) -> None:
    session_id, sandbox_id = await setup(database)
    ingestor = Ingestor(database, Notifier())
    async with database.session() as db:
        assert await changes.last_verify(db, session_id) is None
    passed = p.VerifyFinished(seq=1, message_id="m1", outcome="passed", exit_code=0, duration_ms=800,
                              timeout_seconds=300, head_sha="a" * 40, tail="2 passed")
    failed = p.VerifyFinished(seq=2, message_id="m2", outcome="failed", exit_code=1, duration_ms=900,
                              timeout_seconds=300, head_sha="b" * 40, tail="FAILED test_heading\n1 failed")
    await ingestor.ingest(session_id, sandbox_id, passed)
    async with database.session() as db:
        last = await changes.last_verify(db, session_id)
    assert last is not None and last.outcome == "passed"
    assert changes.verify_warning(last) == "" and with_verify_warning("Body", "") == "Body"

    await ingestor.ingest(session_id, sandbox_id, failed)
    async with database.session() as db:
        last = await changes.last_verify(db, session_id)
    assert last is not None and last.outcome == "failed" and last.message_id == "m2"
    warning = changes.verify_warning(last)
    assert "verify" in warning and "failed (exit code 1)" in warning and "`bbbbbbbbbb`" in warning
    assert "1 failed" in warning
    body = with_verify_warning("## What changed\nThe heading.", warning)
    assert body.startswith(warning) and body.endswith("The heading.")
    assert with_verify_warning(body, warning) == body  # said once


def test_a_timed_out_verify_says_so() -> None:
    hung = p.VerifyFinished(outcome="timed_out", exit_code=None, duration_ms=5000, timeout_seconds=5, tail="")
    warning = changes.verify_warning(hung)
    assert "did not finish within 5 s" in warning and "<details>" not in warning
