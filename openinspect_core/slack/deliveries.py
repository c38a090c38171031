"""Slack deliveries already handled: an Events API retry or a redelivered interaction does nothing twice.

Slack retries an event it thinks went unanswered (``X-Slack-Retry-Num``), and Socket Mode
redelivers envelopes after a reconnect; either way the same ``event_id`` (or interaction key)
arrives again. :func:`first_time` records the key in a :class:`~openinspect_core.models.SlackDelivery`
row: called in the same unit of work as the delivery's effects, a delivery that failed half-way is
not remembered, so its retry is applied. Two copies arriving at once race on the primary key;
exactly one gets True. Old rows are dropped by :func:`prune` (Slack stops retrying within hours).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import SlackDelivery, utcnow

MAX_KEY_CHARS = 128  # the column
MAX_KIND_CHARS = 32
# Why a day: Slack retries an event three times within about an hour; Socket Mode redelivers
# only what was not acknowledged before a reconnect.
KEEP_SECONDS = 24 * 3600


def _key(key: str) -> str:
    """The key as stored: a longer one (an interaction's own composite key) by its hash."""
    return key if len(key) <= MAX_KEY_CHARS else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


async def first_time(db: AsyncSession, key: str, kind: str) -> bool:
    """Record the delivery ``key``; False when it was recorded before (a retry, or a twin arriving now)."""
    stored = _key(key)
    if (await db.get(SlackDelivery, stored)) is not None:
        return False
    try:
        async with db.begin_nested():
            db.add(SlackDelivery(id=stored, kind=kind[:MAX_KIND_CHARS], received_at=utcnow()))
    except IntegrityError:
        return False
    return True


async def prune(db: AsyncSession, *, keep_seconds: float = KEEP_SECONDS) -> int:
    """Forget deliveries older than ``keep_seconds``; returns how many."""
    cutoff = utcnow() - timedelta(seconds=keep_seconds)
    result = await db.exec(sa.delete(SlackDelivery).where(col(SlackDelivery.received_at) < cutoff))
    return int(result.rowcount or 0)
