"""Sessions and the repositories they work on.

Creating one checks its repository against the :class:`~openinspect_core.services.repo_policy.RepoPolicy`
and its creator against the active-session limit (:class:`SessionPolicy`, built from the settings
by the front end that creates it).
"""

from __future__ import annotations

from dataclasses import dataclass

from openinspect_protocol.status import UNFINISHED_MESSAGE_STATUSES, SessionStatus
from openinspect_protocol.timeline import SessionArchived, SessionRestored, SessionStatusChanged
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Message, Participant, Repo, Session, User, utcnow
from openinspect_core.services import repo_policy, timeline
from openinspect_core.services.errors import Conflict, InvalidInput, LimitReached, NotFound
from openinspect_core.settings import Settings

# The columns' lengths: a longer value is refused here, never by the database.
MAX_TITLE_CHARS = 200
MAX_BRANCH_CHARS = 255
MAX_MODEL_CHARS = 200
MAX_REPO_NAME_CHARS = 200
ROLE_OWNER, ROLE_MEMBER = "owner", "member"


@dataclass(frozen=True)
class SessionPolicy:
    """What creating a session is checked against: its repository, and how many a person may have."""

    repos: repo_policy.RepoPolicy
    max_active_sessions_per_user: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(repo_policy.RepoPolicy.from_settings(settings), settings.max_active_sessions_per_user)


async def normalise_repo_url(url: str, policy: repo_policy.RepoPolicy) -> str:
    """The form of ``url`` to store, if the policy allows it (:func:`repo_policy.admit`)."""
    return await repo_policy.admit(url, policy)


def repo_name(url: str) -> str:
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return (last.removesuffix(".git") or url)[:MAX_REPO_NAME_CHARS]


async def get_or_create_repo(db: AsyncSession, url: str, policy: repo_policy.RepoPolicy) -> Repo:
    return await _repo_row(db, await normalise_repo_url(url, policy))


async def _repo_row(db: AsyncSession, url: str) -> Repo:
    repo = (await db.exec(select(Repo).where(Repo.url == url))).first()
    if repo is not None:
        return repo
    repo = Repo(url=url, name=repo_name(url))
    try:
        async with db.begin_nested():
            db.add(repo)
    except IntegrityError:
        repo = (await db.exec(select(Repo).where(Repo.url == url))).one()
    return repo


async def create(
    db: AsyncSession,
    *,
    repo_url: str,
    creator: User,
    policy: SessionPolicy,
    branch: str | None = None,
    title: str | None = None,
    model: str | None = None,
) -> Session:
    title = _column_text(title, "title", MAX_TITLE_CHARS)
    branch = _column_text(branch, "branch", MAX_BRANCH_CHARS)
    model = _column_text(model, "model", MAX_MODEL_CHARS)
    url = await normalise_repo_url(repo_url, policy.repos)  # before any lock: it may resolve a host name
    await _check_active_limit(db, creator, policy.max_active_sessions_per_user)
    repo = await _repo_row(db, url)
    session = Session(
        repo_id=repo.id,
        branch=branch,
        title=title,
        title_from_user=title is not None,
        model=model,
        created_by=creator.id,
    )
    db.add(session)
    await db.flush()  # no ORM relationships, so rows are written in the order flushed
    db.add(Participant(session_id=session.id, user_id=creator.id, role=ROLE_OWNER))
    await db.flush()
    await timeline.append(db, session.id, SessionStatusChanged(status=session.status))
    return session


def _column_text(value: str | None, name: str, max_chars: int) -> str | None:
    """``value`` stripped (None when empty), if its column can hold it."""
    value = (value or "").strip() or None
    if value is None:
        return None
    if len(value) > max_chars:
        raise InvalidInput(f"{name} is longer than {max_chars} characters", code=f"{name}_too_long")
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters", code=f"invalid_{name}")
    return value


async def _check_active_limit(db: AsyncSession, creator: User, limit: int) -> None:
    # Lock the person's row (PostgreSQL; a SQLite writer holds the database already), so two
    # sessions created at once are counted one after the other.
    await db.exec(select(User.id).where(User.id == creator.id).with_for_update())
    active = await count_active(db, creator.id)
    if active >= limit:
        raise LimitReached(f"you have {active} sessions that are not archived (limit {limit}); "
                           "archive one to start another", code="limit_reached")


async def count_active(db: AsyncSession, user_id: str) -> int:
    """Sessions the person created that are not archived."""
    return (await db.exec(select(func.count()).where(
        Session.created_by == user_id, col(Session.archived_at).is_(None)))).one()


async def get(db: AsyncSession, session_id: str) -> Session:
    session = await db.get(Session, session_id)
    if session is None:
        raise NotFound(f"no session {session_id!r}", code="session_not_found")
    return session


async def get_active(db: AsyncSession, session_id: str) -> Session:
    session = await get(db, session_id)
    if session.archived_at is not None:
        raise Conflict("the session is archived; restore it first", code="session_archived")
    return session


@dataclass(frozen=True)
class SessionSummary:
    session: Session
    repo: Repo
    pending_prompts: int


async def list_sessions(
    db: AsyncSession, *, archived: bool = False, limit: int = 50, offset: int = 0
) -> list[SessionSummary]:
    archived_filter = col(Session.archived_at).is_not(None) if archived else col(Session.archived_at).is_(None)
    pending = (
        select(Message.session_id, func.count().label("n"))
        .where(col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES))
        .group_by(col(Message.session_id))
        .subquery()
    )
    rows = await db.exec(
        select(Session, Repo, func.coalesce(pending.c.n, 0))
        .join(Repo, col(Repo.id) == Session.repo_id)
        .outerjoin(pending, pending.c.session_id == Session.id)
        .where(archived_filter)
        .order_by(col(Session.last_activity_at).desc())
        .limit(min(max(limit, 1), 200))
        .offset(max(offset, 0))
    )
    return [SessionSummary(s, r, int(n)) for s, r, n in rows.all()]


async def summary(db: AsyncSession, session_id: str) -> SessionSummary:
    session = await get(db, session_id)
    repo = await db.get(Repo, session.repo_id)
    assert repo is not None
    pending = (
        await db.exec(
            select(func.count()).where(
                Message.session_id == session_id, col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES)
            )
        )
    ).one()
    return SessionSummary(session, repo, int(pending))


async def set_status(db: AsyncSession, session: Session, status: SessionStatus, reason: str | None = None) -> bool:
    """Record a status change (and its timeline event); False when nothing changed."""
    if session.status == status and session.status_reason == reason:
        return False
    session.status = status
    session.status_reason = reason
    session.last_activity_at = utcnow()
    db.add(session)
    await timeline.append(db, session.id, SessionStatusChanged(status=status, reason=reason))
    return True


async def archive(db: AsyncSession, session_id: str) -> Session:
    """Archive: the sandbox is shut down, queued prompts are dropped, history stays."""
    session = await get(db, session_id)
    if session.archived_at is None:
        session.archived_at = utcnow()
        db.add(session)
        await timeline.append(db, session.id, SessionArchived())
    return session


async def restore(db: AsyncSession, session_id: str, *, max_active: int | None = None) -> Session:
    """Bring an archived session back; its next prompt (or typing) starts a sandbox.

    With ``max_active`` (the policy's ``max_active_sessions_per_user``), a person at the
    limit cannot restore one either.
    """
    session = await get(db, session_id)
    if session.archived_at is not None:
        if max_active is not None:
            creator = await db.get(User, session.created_by)
            assert creator is not None
            await _check_active_limit(db, creator, max_active)
        session.archived_at = None
        db.add(session)
        await timeline.append(db, session.id, SessionRestored())
    return session


async def request_warm(db: AsyncSession, session_id: str) -> bool:
    """Someone is about to prompt: have a sandbox ready. False when nothing is needed."""
    session = await get_active(db, session_id)
    if session.status not in (SessionStatus.STOPPED, SessionStatus.FAILED):
        return False  # a sandbox is starting or running already
    session.warm_requested_at = utcnow()
    db.add(session)
    return True


async def join(db: AsyncSession, session: Session, user: User) -> Participant:
    """Make the person a participant of the session (once)."""
    participant = (await db.exec(select(Participant).where(
        Participant.session_id == session.id, Participant.user_id == user.id))).first()
    if participant is not None:
        participant.last_seen_at = utcnow()
        db.add(participant)
        return participant
    participant = Participant(session_id=session.id, user_id=user.id, role=ROLE_MEMBER)
    try:
        async with db.begin_nested():
            db.add(participant)
    except IntegrityError:
        participant = (await db.exec(select(Participant).where(
            Participant.session_id == session.id, Participant.user_id == user.id))).one()
    return participant
