"""The sessions a person moves between: the session page's sidebar.

One query answers "which sessions, for whom, matching what" (:func:`list_for_sidebar`), and a pure
function sorts each into the group the sidebar shows it in (:func:`group_of`): needing attention
(failed, or its newest prompt failed), running (starting, working, or with prompts waiting), and
recent (the rest, newest activity first). "Mine" means the person started the session or has
joined it (opened it, or prompted it): their ``participant`` row.

Single tenant: every signed-in person may see every session, so "everyone's" is every session;
the front end checks that somebody is signed in before it asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openinspect_protocol.status import STARTUP_STAGES, UNFINISHED_MESSAGE_STATUSES, MessageStatus, SessionStatus
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Message, Participant, Repo, Session

MAX_QUERY_CHARS = 200  # a search longer than any title, branch or repository name could match nothing more
DEFAULT_LIMIT = 100  # the sidebar lists this many at most (the sessions page lists the rest)
LIMIT_CAP = 200


class Group(StrEnum):
    """Where the sidebar shows a session, in the order it shows the groups."""

    ATTENTION = "attention"
    RUNNING = "running"
    RECENT = "recent"


GROUP_ORDER: tuple[Group, ...] = (Group.ATTENTION, Group.RUNNING, Group.RECENT)
# A sandbox on its way up counts as running: the person is waiting on it.
_BUSY_STATUSES = frozenset({SessionStatus.RUNNING, *STARTUP_STAGES[:-1]})


@dataclass(frozen=True)
class IndexedSession:
    session: Session
    repo: Repo
    pending_prompts: int  # queued or running
    last_prompt_status: MessageStatus | None  # the newest prompt's, None without any


def group_of(status: SessionStatus, pending_prompts: int, last_prompt_status: MessageStatus | None,
             spend_held: bool = False) -> Group:
    """Which group a session belongs to (pure: its status, its prompts and its spend hold decide)."""
    if status == SessionStatus.FAILED or last_prompt_status == MessageStatus.FAILED or spend_held:
        return Group.ATTENTION
    if status in _BUSY_STATUSES or pending_prompts > 0:
        return Group.RUNNING
    return Group.RECENT


def _like_pattern(query: str) -> str:
    """A LIKE pattern matching ``query`` anywhere, its own ``%``, ``_`` and ``\\`` taken literally."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


async def list_for_sidebar(db: AsyncSession, *, user_id: str, mine: bool, query: str = "",
                           limit: int = DEFAULT_LIMIT) -> list[IndexedSession]:
    """Unarchived sessions, newest activity first: only the person's when ``mine``, only those whose
    title, repository or branch contains ``query`` (case-insensitive) when it is not blank."""
    pending = (
        select(Message.session_id, func.count().label("n"))
        .where(col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES))
        .group_by(col(Message.session_id))
        .subquery()
    )
    # The newest prompt's status, per session (a correlated subquery: one row each).
    newest = (
        select(Message.status)
        .where(Message.session_id == Session.id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(1)
        .correlate(Session)
        .scalar_subquery()
    )
    statement = (
        select(Session, Repo, func.coalesce(pending.c.n, 0), newest)
        .join(Repo, col(Repo.id) == Session.repo_id)
        .outerjoin(pending, pending.c.session_id == Session.id)
        .where(col(Session.archived_at).is_(None))
    )
    if mine:
        joined = select(Participant.session_id).where(Participant.user_id == user_id)
        statement = statement.where(or_(Session.created_by == user_id, col(Session.id).in_(joined)))
    words = query.strip()[:MAX_QUERY_CHARS]
    if words:
        pattern = _like_pattern(words)
        fields = (Session.title, Session.branch, Session.work_branch, Repo.name, Repo.full_name, Repo.url)
        statement = statement.where(or_(*(func.lower(func.coalesce(field, "")).like(pattern, escape="\\")
                                          for field in fields)))
    statement = statement.order_by(col(Session.last_activity_at).desc()).limit(min(max(limit, 1), LIMIT_CAP))
    rows = (await db.exec(statement)).all()
    return [IndexedSession(s, r, int(n), MessageStatus(last) if last else None) for s, r, n, last in rows]
