"""Sessions and the repositories they work on.

Creating one checks its repository against the :class:`~openinspect_core.services.repo_policy.RepoPolicy`
and its creator against the active-session limit (:class:`SessionPolicy`, built from the settings
by the front end that creates it). With a GitHub App the repository is named ``owner/name`` and
must be covered by an installation now (``Repo.installation_id``, kept by
``openinspect_core.github.repos``); the session then gets its own branch (:func:`work_branch_name`),
which the sandbox pushes.
"""

from __future__ import annotations

import re
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
WORK_BRANCH_PREFIX = "openinspect/"
WORK_BRANCH_SLUG_CHARS = 40  # Why: branch names show in GitHub's lists; the id part keeps them unique anyway
SOURCES = ("api", "web", "slack")  # where a session was started (Session.source)


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


def work_branch_name(session_id: str, words: str) -> str:
    """``openinspect/<first 8 characters of the id>-<slug of words>`` (the slug: lowercase ``[a-z0-9-]``,
    at most :data:`WORK_BRANCH_SLUG_CHARS`; left out when nothing of ``words`` remains)."""
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")[:WORK_BRANCH_SLUG_CHARS].strip("-")
    return f"{WORK_BRANCH_PREFIX}{session_id[:8]}" + (f"-{slug}" if slug else "")


async def _github_repo(db: AsyncSession, repo: str | None, repo_url: str | None) -> Repo:
    """The GitHub App's repository ``owner/name`` (``repo``, or a ``repo_url`` that is one), if an
    installation covers it now."""
    if repo is None and repo_url and ("://" in repo_url or repo_url.strip().startswith(("/", ".", "~"))):
        raise InvalidInput("repositories come from the GitHub App here: name one as repo=owner/name, "
                           "not a URL or a path", code="github_repo_required")
    full_name = repo_policy.github_full_name(repo if repo is not None else (repo_url or ""))
    found = (await db.exec(select(Repo).where(func.lower(col(Repo.full_name)) == full_name.lower(),
                                              col(Repo.installation_id).is_not(None)))).first()
    if found is None:
        raise InvalidInput(f"{full_name} is not one of the GitHub App's repositories (install the App on it, "
                           "or ask an administrator to)", code="repo_not_installed")
    return found


async def create(
    db: AsyncSession,
    *,
    repo_url: str | None = None,
    creator: User,
    policy: SessionPolicy,
    branch: str | None = None,
    title: str | None = None,
    model: str | None = None,
    repo: str | None = None,
    source: str = "api",
) -> Session:
    """A new session on ``repo_url`` (a path or URL the policy admits) or, with a GitHub App, on ``repo``
    (``owner/name``); its creator becomes its owner. ``source`` says where it was started (:data:`SOURCES`)."""
    if source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", code="invalid_source")
    title = _column_text(title, "title", MAX_TITLE_CHARS)
    branch = _column_text(branch, "branch", MAX_BRANCH_CHARS)
    model = _column_text(model, "model", MAX_MODEL_CHARS)
    on_github = policy.repos.github_url is not None
    if on_github:
        row = await _github_repo(db, repo, repo_url)
        await _check_active_limit(db, creator, policy.max_active_sessions_per_user)
    else:
        if repo is not None:
            raise InvalidInput("repo=owner/name needs a GitHub App (OPENINSPECT_GITHUB_APP_ID); give repo_url",
                               code="github_not_configured")
        if not repo_url:
            raise InvalidInput("repo_url is required", code="invalid_repo_url")
        url = await normalise_repo_url(repo_url, policy.repos)  # before any lock: it may resolve a host name
        await _check_active_limit(db, creator, policy.max_active_sessions_per_user)
        row = await _repo_row(db, url)
    session = Session(
        repo_id=row.id,
        branch=branch,
        title=title,
        title_from_user=title is not None,
        model=model,
        created_by=creator.id,
        source=source,
    )
    if on_github:
        session.work_branch = work_branch_name(session.id, title or row.name)
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
