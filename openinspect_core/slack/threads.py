"""Slack threads and the requests waiting in them: the rows the bot and the reporter share.

A :class:`~openinspect_core.models.SlackThread` ties a session to the thread it reports to (one
each way); the reporter moves its saved position forward only (:func:`save_status`), so a slow
writer never takes it back. A :class:`~openinspect_core.models.SlackPending` is a request that
waits on someone (a repository to choose, an account to link); :func:`resolve_pending` is one
guarded UPDATE, so of two clicks on the same buttons exactly one goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import SlackPending, SlackThread, SlackUserLink, utcnow
from openinspect_core.services.errors import InvalidInput

CHOOSE_REPO, LINK_ACCOUNT = "choose_repo", "link_account"
REASONS = (CHOOSE_REPO, LINK_ACCOUNT)
# Why a day: a request left for the night is stale; buttons clicked later say so instead of
# starting work nobody waits for any more.
PENDING_TTL_SECONDS = 24 * 3600
MAX_CANDIDATES = 25  # the buttons and the select's options come from here; a JSON column, kept small


async def thread_for(db: AsyncSession, channel_id: str, thread_ts: str) -> SlackThread | None:
    """The session thread whose parent message is ``thread_ts`` in ``channel_id``, if any."""
    return (await db.exec(select(SlackThread).where(SlackThread.channel_id == channel_id,
                                                    SlackThread.thread_ts == thread_ts))).first()


async def thread_of_session(db: AsyncSession, session_id: str) -> SlackThread | None:
    return (await db.exec(select(SlackThread).where(SlackThread.session_id == session_id))).first()


async def threads_of_sessions(db: AsyncSession, session_ids: Iterable[str]) -> dict[str, SlackThread]:
    """The threads of those sessions that have one, by session id."""
    ids = list(dict.fromkeys(session_ids))
    if not ids:
        return {}
    rows = await db.exec(select(SlackThread).where(col(SlackThread.session_id).in_(ids)))
    return {row.session_id: row for row in rows.all()}


async def save_status(
    db: AsyncSession,
    session_id: str,
    *,
    status_ts: str | None = None,
    status_text: str | None = None,
    reported_event_seq: int | None = None,
    reported_message_at: datetime | None = None,
) -> SlackThread | None:
    """Store what the thread shows now (only the values given); the reported position only moves forward.

    None when the session has no thread.
    """
    thread = await thread_of_session(db, session_id)
    if thread is None:
        return None
    if status_ts is not None:
        thread.status_ts = status_ts
    if status_text is not None:
        thread.status_text = status_text
    if reported_event_seq is not None and reported_event_seq > thread.reported_event_seq:
        thread.reported_event_seq = reported_event_seq
    if reported_message_at is not None and (thread.reported_message_at is None
                                            or reported_message_at > thread.reported_message_at):
        thread.reported_message_at = reported_message_at
    db.add(thread)
    await db.flush()
    return thread


async def create_pending(
    db: AsyncSession,
    *,
    reason: str,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    message_ts: str,
    slack_user_id: str,
    text: str,
    candidates: Sequence[str] = (),
    ttl_seconds: float = PENDING_TTL_SECONDS,
) -> SlackPending:
    """A request kept until someone answers it (``reason``: :data:`CHOOSE_REPO` or :data:`LINK_ACCOUNT`)."""
    if reason not in REASONS:
        raise InvalidInput(f"a pending Slack request is one of {', '.join(REASONS)}", code="slack_invalid_pending")
    now = utcnow()
    row = SlackPending(reason=reason, team_id=team_id, channel_id=channel_id, thread_ts=thread_ts,
                       message_ts=message_ts, slack_user_id=slack_user_id, text=text,
                       candidates=list(candidates)[:MAX_CANDIDATES], created_at=now,
                       expires_at=now + timedelta(seconds=ttl_seconds))
    db.add(row)
    await db.flush()
    return row


async def pending(db: AsyncSession, pending_id: str) -> SlackPending | None:
    return await db.get(SlackPending, pending_id)


async def set_prompt_ts(db: AsyncSession, pending_id: str, prompt_ts: str) -> None:
    """Remember the bot's message that asks (its buttons are replaced once the request is answered)."""
    await db.exec(sa.update(SlackPending).where(col(SlackPending.id) == pending_id)
                  .values(prompt_ts=prompt_ts).execution_options(synchronize_session=False))


async def resolve_pending(db: AsyncSession, pending_id: str) -> bool:
    """Mark the request answered; False when it was answered before, has expired, or does not exist."""
    now = utcnow()
    result = await db.exec(
        sa.update(SlackPending)
        .where(col(SlackPending.id) == pending_id, col(SlackPending.resolved_at).is_(None),
               col(SlackPending.expires_at) > now)
        .values(resolved_at=now)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)


async def linked_waiting(db: AsyncSession) -> list[SlackPending]:
    """Link requests whose Slack user has been linked since (on the web) and that nobody resumed yet.

    What a bot in another process than the web polls for, to go on with those requests.
    """
    now = utcnow()
    rows = await db.exec(
        select(SlackPending)
        .join(SlackUserLink, col(SlackUserLink.slack_user_id) == SlackPending.slack_user_id)
        .where(SlackPending.reason == LINK_ACCOUNT, col(SlackPending.resolved_at).is_(None),
               col(SlackPending.expires_at) > now)
        .order_by(col(SlackPending.created_at)))
    return list(rows.all())


async def prune_pending(db: AsyncSession, *, older_than_seconds: float = 7 * 24 * 3600) -> int:
    """Forget requests that ended (answered or expired) more than ``older_than_seconds`` ago."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    result = await db.exec(sa.delete(SlackPending).where(
        sa.or_(col(SlackPending.expires_at) < cutoff, col(SlackPending.resolved_at) < cutoff)))
    return int(result.rowcount or 0)
