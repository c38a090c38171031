"""What the service tests start from: a person and a session of theirs, written to a real database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openinspect_protocol.timeline import TimelineEvent

from openinspect_core.db import Database
from openinspect_core.models import User
from openinspect_core.services import sessions, timeline, users
from openinspect_core.services.repo_policy import RepoPolicy
from tests.fakes.dns import FakeDns

# Repositories under /tmp and on github.com (resolved by a fake: the tests have no DNS).
POLICY = sessions.SessionPolicy(RepoPolicy(hosts=("github.com",), roots=(Path("/tmp").resolve(),),
                                           resolve=FakeDns()), max_active_sessions_per_user=100)


@dataclass(frozen=True)
class Seeded:
    user: User
    session_id: str


async def seed(database: Database, *, repo_url: str = "/tmp/repo") -> Seeded:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        session = await sessions.create(db, repo_url=repo_url, creator=user, policy=POLICY)
        await db.commit()
        return Seeded(user, session.id)


async def timeline_of(database: Database, session_id: str) -> list[TimelineEvent]:
    """The session's stored timeline, as the typed events it holds."""
    async with database.session() as db:
        return [timeline.typed(row) for row in await timeline.after(db, session_id)]


async def types_of(database: Database, session_id: str) -> list[str]:
    return [event.type for event in await timeline_of(database, session_id)]
