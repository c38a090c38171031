"""Sessions on a real database (SQLite and PostgreSQL): their status, archive and warm-up, on the timeline once."""

from __future__ import annotations

from pathlib import Path

import pytest
from openinspect_protocol.status import SessionStatus
from openinspect_protocol.timeline import SessionStatusChanged
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.models import Participant, Repo, Session
from openinspect_core.services import sessions, users
from openinspect_core.services.errors import Conflict, InvalidInput
from tests.openinspect_core.services.seed import Seeded, seed, timeline_of, types_of


@pytest.fixture
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def load(database: Database, session_id: str) -> Session:
    async with database.session() as db:
        return await sessions.get(db, session_id)


async def set_status(database: Database, session_id: str, status: SessionStatus, reason: str | None = None) -> bool:
    async with database.session() as db:
        changed = await sessions.set_status(db, await sessions.get(db, session_id), status, reason)
        await db.commit()
        return changed


# ----------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://github.com/acme/app.git/", "https://github.com/acme/app.git"),
        ("  http://git.local/app  ", "http://git.local/app"),
        ("file:///srv/git/app", "file:///srv/git/app"),
        ("/srv/git/app", "/srv/git/app"),
        ("/srv/git/../git/app", "/srv/git/app"),
        ("~/app", str(Path("~/app").expanduser().resolve())),
    ],
)
def test_repo_urls_are_normalised(url: str, normalised: str) -> None:
    assert sessions.normalise_repo_url(url) == normalised


@pytest.mark.parametrize("url", ["", "   ", "https://", "git@github.com:acme/app.git", "ssh://host/app", "app"])
def test_other_repo_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        sessions.normalise_repo_url(url)
    assert refused.value.code == "invalid_repo_url"


@pytest.mark.parametrize(
    ("url", "name"),
    [("https://github.com/acme/app.git", "app"), ("/srv/git/tool/", "tool"), ("file:///x/y.git", "y")],
)
def test_a_repo_is_named_after_its_last_path_part(url: str, name: str) -> None:
    assert sessions.repo_name(url) == name


# ------------------------------------------------------------------- create


async def test_create_writes_the_session_its_owner_and_a_status_event(database: Database) -> None:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        session = await sessions.create(db, repo_url="https://github.com/acme/app.git/", creator=user,
                                        branch="  main ", title="  Fix the login  ", model="openinspect/scripted")
        again = await sessions.create(db, repo_url="https://github.com/acme/app.git", creator=user, title="  ")
        await db.commit()
    stored = await load(database, session.id)
    assert (stored.status, stored.branch, stored.title, stored.title_from_user, stored.model) == (
        SessionStatus.SPAWNING, "main", "Fix the login", True, "openinspect/scripted")
    assert (again.title, again.title_from_user, again.branch) == (None, False, None)
    async with database.session() as db:
        repos = (await db.exec(select(Repo))).all()
        owners = (await db.exec(select(Participant).where(Participant.session_id == session.id))).all()
    assert [(r.url, r.name) for r in repos] == [("https://github.com/acme/app.git", "app")]  # one repo, reused
    assert [(p.user_id, p.role) for p in owners] == [(user.id, sessions.ROLE_OWNER)]
    assert await timeline_of(database, session.id) == [SessionStatusChanged(status=SessionStatus.SPAWNING)]


async def test_a_title_too_long_is_refused(database: Database) -> None:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        with pytest.raises(InvalidInput) as refused:
            await sessions.create(db, repo_url="/tmp/repo", creator=user, title="x" * 201)
    assert refused.value.code == "title_too_long"


# --------------------------------------------------------------- set_status


async def test_set_status_records_a_change_once(database: Database, seeded: Seeded) -> None:
    before = (await load(database, seeded.session_id)).last_activity_at
    assert await set_status(database, seeded.session_id, SessionStatus.READY)
    assert not await set_status(database, seeded.session_id, SessionStatus.READY)
    assert await set_status(database, seeded.session_id, SessionStatus.FAILED, "exit code 1")
    assert not await set_status(database, seeded.session_id, SessionStatus.FAILED, "exit code 1")
    assert await set_status(database, seeded.session_id, SessionStatus.FAILED, "exit code 2")  # a new reason
    stored = await load(database, seeded.session_id)
    assert (stored.status, stored.status_reason) == (SessionStatus.FAILED, "exit code 2")
    assert stored.last_activity_at > before
    assert await timeline_of(database, seeded.session_id) == [
        SessionStatusChanged(status=SessionStatus.SPAWNING),
        SessionStatusChanged(status=SessionStatus.READY),
        SessionStatusChanged(status=SessionStatus.FAILED, reason="exit code 1"),
        SessionStatusChanged(status=SessionStatus.FAILED, reason="exit code 2"),
    ]


# ---------------------------------------------------------- archive, restore


async def test_archive_and_restore_are_each_recorded_once(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        await sessions.restore(db, seeded.session_id)  # not archived: nothing to restore
        first = await sessions.archive(db, seeded.session_id)
        archived_at = first.archived_at
        await sessions.archive(db, seeded.session_id)
        await db.commit()
    assert archived_at is not None and (await load(database, seeded.session_id)).archived_at == archived_at
    async with database.session() as db:
        with pytest.raises(Conflict) as refused:
            await sessions.get_active(db, seeded.session_id)
    assert refused.value.code == "session_archived"
    async with database.session() as db:
        await sessions.restore(db, seeded.session_id)
        await sessions.restore(db, seeded.session_id)
        await db.commit()
    assert (await load(database, seeded.session_id)).archived_at is None
    assert await types_of(database, seeded.session_id) == ["session_status", "session_archived", "session_restored"]
    async with database.session() as db:
        listed = [s.session.id for s in await sessions.list_sessions(db)]
        listed_archived = await sessions.list_sessions(db, archived=True)
    assert (listed, listed_archived) == ([seeded.session_id], [])


# ------------------------------------------------------------- request_warm


async def test_warm_up_is_asked_for_only_when_no_sandbox_is_on_its_way(database: Database, seeded: Seeded) -> None:
    for status in SessionStatus:
        await set_status(database, seeded.session_id, status)
        async with database.session() as db:
            wanted = await sessions.request_warm(db, seeded.session_id)
            await db.commit()
        warm_requested_at = (await load(database, seeded.session_id)).warm_requested_at
        expected = status in (SessionStatus.STOPPED, SessionStatus.FAILED)
        assert (wanted, warm_requested_at is not None) == (expected, expected), status
        async with database.session() as db:  # start the next status from scratch
            session = await sessions.get(db, seeded.session_id)
            session.warm_requested_at = None
            db.add(session)
            await db.commit()
    assert set(await types_of(database, seeded.session_id)) == {"session_status"}  # typing leaves no event


async def test_an_archived_session_is_not_warmed(database: Database, seeded: Seeded) -> None:
    await set_status(database, seeded.session_id, SessionStatus.STOPPED)
    async with database.session() as db:
        await sessions.archive(db, seeded.session_id)
        await db.commit()
    async with database.session() as db:
        with pytest.raises(Conflict):
            await sessions.request_warm(db, seeded.session_id)
    assert (await load(database, seeded.session_id)).warm_requested_at is None


async def test_joining_twice_makes_one_participant(database: Database, seeded: Seeded) -> None:
    async with database.session() as db:
        grace = await users.get_or_create(db, "Grace", "grace@example.com")
        session = await sessions.get(db, seeded.session_id)
        first = await sessions.join(db, session, grace)
        again = await sessions.join(db, session, grace)
        owner = await sessions.join(db, session, seeded.user)
        await db.commit()
    assert first.id == again.id and first.role == sessions.ROLE_MEMBER
    assert owner.role == sessions.ROLE_OWNER  # the creator stays the owner
