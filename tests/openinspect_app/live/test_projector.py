"""The live projection reads stored rows as typed events; a row it cannot read is logged and passed over."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from openinspect_protocol.logs import fields_of

from openinspect_app.live.projector import SUMMARY_EVENTS, LiveSessions, Projection
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Event
from openinspect_core.notify.local import Notifier
from openinspect_core.services import prompts, sessions, users
from openinspect_core.settings import Settings


@pytest.fixture
def context(database: Database, tmp_path: Path) -> AppContext:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")}, database_url=database.url,
                                 repo_roots=(str(tmp_path),))
    return AppContext.of(settings, database, Notifier())


async def test_an_unreadable_row_is_logged_and_skipped(context: AppContext, caplog: pytest.LogCaptureFixture,
                                                      tmp_path: Path) -> None:
    async with context.work() as work:
        ada = await users.get_or_create(work.db, "Ada", "ada@example.com")
        session = await sessions.create(work.db, repo_url=str(tmp_path / "some-repo"), creator=ada,
                                        policy=sessions.SessionPolicy.from_settings(context.settings))  # sequence 1
        # Rows no writer of today makes: an unknown type, and a known one missing its fields.
        work.db.add(Event(session_id=session.id, sequence=2, type="no_such_event", data={}))
        work.db.add(Event(session_id=session.id, sequence=3, type="token", data={"text": 5}, message_id="m"))
        session.last_event_seq = 3
        work.db.add(session)
        await work.db.flush()
        await prompts.enqueue(work.db, session_id=session.id, author=ada, content="still shown",
                              client_request_id="r1", limits=context.limits)  # sequence 4
    published: list[dict[str, Any]] = []

    async def publish(_: str, changes: dict[str, Any]) -> None:
        published.append(changes)

    live = LiveSessions(context, publish)
    projection = Projection(session.id)
    caplog.set_level(logging.WARNING, logger="openinspect_app.live.projector")
    await live._catch_up(projection, full=True)

    unreadable = [fields_of(r) for r in caplog.records if r.getMessage() == "live.unreadable_event"]
    assert [(f["session_id"], f["sequence"]) for f in unreadable] == [(session.id, 2), (session.id, 3)]
    assert "no_such_event" in unreadable[0]["reason"] and "part_id" in unreadable[1]["reason"]
    assert projection.view.last_sequence == 4
    assert [e.text for e in projection.view.entries] == ["still shown"]
    assert published[0]["tail"][0].text == "still shown" and published[0]["status"] == "spawning"

    # Passed over for good: the next read neither logs them again nor re-sends anything.
    caplog.clear()
    await live._catch_up(projection)
    assert not [r for r in caplog.records if r.getMessage() == "live.unreadable_event"]
    assert len(published) == 1


def test_summary_events_are_model_classes() -> None:
    assert all(isinstance(kind, type) for kind in SUMMARY_EVENTS)
