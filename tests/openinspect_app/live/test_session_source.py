"""The session page's header knows where a session was started, and a Slack-started one links its thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openinspect_app.live.projector import LiveSessions, Projection
from openinspect_app.routes import slack_thread_url
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import SlackThread
from openinspect_core.notify.local import Notifier
from openinspect_core.services import sessions, users
from openinspect_core.settings import Settings


@pytest.fixture
def context(database: Database, tmp_path: Path) -> AppContext:
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")}, database_url=database.url,
                                 repo_roots=(str(tmp_path),))
    return AppContext.of(settings, database, Notifier())


async def header(context: AppContext, session_id: str) -> dict[str, Any]:
    published: list[dict[str, Any]] = []

    async def publish(_: str, changes: dict[str, Any]) -> None:
        published.append(changes)

    await LiveSessions(context, publish)._catch_up(Projection(session_id), full=True)
    return {key: published[0][key] for key in ("source", "slack_thread")}


async def test_a_slack_started_session_shows_its_source_and_links_its_thread(context: AppContext,
                                                                           tmp_path: Path) -> None:
    policy = sessions.SessionPolicy.from_settings(context.settings)
    async with context.work() as work:
        ada = await users.get_or_create(work.db, "Ada", "ada@example.com")
        from_slack = await sessions.create(work.db, repo_url=str(tmp_path / "repo"), creator=ada, policy=policy,
                                           source="slack")
        work.db.add(SlackThread(session_id=from_slack.id, team_id="T0TEAM", channel_id="C0GENERAL",
                                thread_ts="1700000000.000100", slack_user_id="U0ADA"))
        from_web = await sessions.create(work.db, repo_url=str(tmp_path / "repo"), creator=ada, policy=policy,
                                         source="web")
    assert await header(context, from_slack.id) == {
        "source": "slack", "slack_thread": "https://slack.com/archives/C0GENERAL/p1700000000000100"}
    assert await header(context, from_web.id) == {"source": "web", "slack_thread": ""}


def test_a_thread_address_is_slack_s_permalink_and_escapes_what_is_not_an_id() -> None:
    assert slack_thread_url("C024BE91L", "1355517523.000005") == "https://slack.com/archives/C024BE91L/p1355517523000005"
    assert slack_thread_url("C1/../x", "1.2?x") == "https://slack.com/archives/C1%2F..%2Fx/p12%3Fx"
