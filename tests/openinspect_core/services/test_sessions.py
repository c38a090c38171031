"""Sessions on a real database (SQLite and PostgreSQL): their status, archive and warm-up, on the timeline once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from openinspect_protocol.status import SessionStatus
from openinspect_protocol.timeline import SessionStatusChanged
from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.models import Participant, Repo, Session
from openinspect_core.services import sessions, users
from openinspect_core.services.errors import Conflict, InvalidInput, LimitReached
from tests.openinspect_core.services.seed import POLICY, Seeded, seed, timeline_of, types_of


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
# (which repository URLs are accepted: tests/security/test_repo_policy.py)


@pytest.mark.parametrize(
    ("url", "name"),
    [("https://github.com/acme/app.git", "app"), ("/srv/git/tool/", "tool"), ("file:///x/y.git", "y"),
     ("/srv/" + "n" * 250, "n" * 200)],  # a name longer than its column is cut, not a database error
)
def test_a_repo_is_named_after_its_last_path_part(url: str, name: str) -> None:
    assert sessions.repo_name(url) == name


# ------------------------------------------------------------------- create


async def test_create_writes_the_session_its_owner_and_a_status_event(database: Database) -> None:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        session = await sessions.create(db, repo_url="https://github.com/acme/app.git/", creator=user, policy=POLICY,
                                        branch="  main ", title="  Fix the login  ", model="openinspect/scripted")
        again = await sessions.create(db, repo_url="https://github.com/acme/app.git", creator=user, title="  ",
                                      policy=POLICY)
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


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("title", "x" * 201, "title_too_long"),
        ("branch", "b" * 256, "branch_too_long"),
        ("model", "p/" + "m" * 199, "model_too_long"),
        ("title", "a\x00b", "invalid_title"),
        ("branch", "main\x00", "invalid_branch"),
    ],
)
async def test_a_value_its_column_cannot_hold_is_refused_before_the_database(
        database: Database, field: str, value: str, code: str) -> None:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        with pytest.raises(InvalidInput) as refused:
            await sessions.create(db, repo_url="/tmp/repo", creator=user, policy=POLICY, **{field: value})
    assert refused.value.code == code


async def test_the_longest_values_the_columns_hold_are_stored(database: Database) -> None:
    async with database.session() as db:
        user = await users.get_or_create(db, "Ada", "ada@example.com")
        session = await sessions.create(db, repo_url="/tmp/" + "r" * 250, creator=user, policy=POLICY,
                                        title="t" * 200, branch="b" * 255, model="p/" + "m" * 198)
        await db.commit()
    stored = await load(database, session.id)
    assert (len(stored.title or ""), len(stored.branch or ""), len(stored.model or "")) == (200, 255, 200)


async def test_a_person_at_the_active_session_limit_cannot_create_or_restore_another(database: Database) -> None:
    policy = replace(POLICY, max_active_sessions_per_user=2)
    async with database.session() as db:
        ada = await users.get_or_create(db, "Ada", "ada@example.com")
        grace = await users.get_or_create(db, "Grace", "grace@example.com")
        first = await sessions.create(db, repo_url="/tmp/repo", creator=ada, policy=policy)
        await sessions.create(db, repo_url="/tmp/repo", creator=ada, policy=policy)
        await db.commit()
    async with database.session() as db:
        with pytest.raises(LimitReached) as refused:
            await sessions.create(db, repo_url="/tmp/repo", creator=ada, policy=policy)
    assert (refused.value.status_code, refused.value.code) == (429, "limit_reached")
    assert "limit 2" in refused.value.message
    async with database.session() as db:  # someone else's sessions do not count against her
        await sessions.create(db, repo_url="/tmp/repo", creator=grace, policy=policy)
        await sessions.archive(db, first.id)  # an archived session does not count either
        await sessions.create(db, repo_url="/tmp/repo", creator=ada, policy=policy)
        await db.commit()
    async with database.session() as db:
        with pytest.raises(LimitReached):
            await sessions.restore(db, first.id, max_active=policy.max_active_sessions_per_user)
        assert await sessions.count_active(db, ada.id) == 2


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
