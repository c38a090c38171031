"""Sessions and the repositories they work on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from openinspect_protocol.status import UNFINISHED_MESSAGE_STATUSES, SessionStatus
from openinspect_protocol.timeline import SessionArchived, SessionRestored, SessionStatusChanged
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Message, Participant, Repo, Session, User, utcnow
from openinspect_core.services import timeline
from openinspect_core.services.errors import Conflict, InvalidInput, NotFound

MAX_TITLE_CHARS = 200
ROLE_OWNER, ROLE_MEMBER = "owner", "member"


def normalise_repo_url(url: str) -> str:
    """Absolute local path, file:// URL or http(s) URL; anything else is refused."""
    url = url.strip()
    if not url:
        raise InvalidInput("repo_url is required", code="invalid_repo_url")
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc:
            raise InvalidInput(f"repo_url {url!r} has no host", code="invalid_repo_url")
        return url.rstrip("/")
    if parsed.scheme == "file":
        return url
    if parsed.scheme == "" and url.startswith(("/", "./", "../", "~")):
        return str(Path(url).expanduser().resolve())
    raise InvalidInput(
        f"repo_url {url!r} is not a local path, file:// or http(s) URL", code="invalid_repo_url"
    )


def repo_name(url: str) -> str:
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last.removesuffix(".git") or url


async def get_or_create_repo(db: AsyncSession, url: str) -> Repo:
    url = normalise_repo_url(url)
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
    branch: str | None = None,
    title: str | None = None,
    model: str | None = None,
) -> Session:
    repo = await get_or_create_repo(db, repo_url)
    title = (title or "").strip() or None
    if title and len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"title is longer than {MAX_TITLE_CHARS} characters", code="title_too_long")
    branch = (branch or "").strip() or None
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


async def restore(db: AsyncSession, session_id: str) -> Session:
    """Bring an archived session back; its next prompt (or typing) starts a sandbox."""
    session = await get(db, session_id)
    if session.archived_at is not None:
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
