"""A session's timeline: the ordered, append-only list of its events.

``sequence`` is dense and unique per session. It is allocated by bumping
``session.last_event_seq`` in the caller's transaction: the UPDATE locks the
session row (PostgreSQL) or the database (SQLite) until commit, so two writers
never get the same number and readers never see a hole that fills later.

What is stored is a typed :data:`~openinspect_protocol.timeline.TimelineEvent`
(never a dict built by hand); :func:`typed` turns a row back into one.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from openinspect_protocol.timeline import TimelineEvent, from_stored, message_id_of, stored_data
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Event, Session, utcnow

MAX_PAGE = 1000


async def append(
    db: AsyncSession,
    session_id: str,
    event: TimelineEvent,
    *,
    sandbox_id: str | None = None,
    sandbox_seq: int | None = None,
) -> int:
    """Add an event at the end of the session's timeline; return its sequence.

    Two Core statements, no ORM bookkeeping: this runs for every streamed token.
    """
    now = utcnow()
    result = await db.exec(
        sa.update(Session)
        .where(col(Session.id) == session_id)
        .values(last_event_seq=col(Session.last_event_seq) + 1, last_activity_at=now)
        .returning(col(Session.last_event_seq))
        .execution_options(synchronize_session=False)
    )
    sequence: int = result.scalar_one()
    await db.exec(
        sa.insert(Event).values(session_id=session_id, sequence=sequence, type=event.type,
                                data=stored_data(event), message_id=message_id_of(event), sandbox_id=sandbox_id,
                                sandbox_seq=sandbox_seq, created_at=now)
    )
    _refresh_loaded_session(db, session_id, sequence, now)
    return sequence


def _refresh_loaded_session(db: AsyncSession, session_id: str, sequence: int, now: datetime) -> None:
    """Keep a Session row this transaction already loaded in step with the UPDATE above."""
    for obj in db.identity_map.values():
        if isinstance(obj, Session) and obj.id == session_id:
            set_committed_value(obj, "last_event_seq", sequence)
            set_committed_value(obj, "last_activity_at", now)


async def after(db: AsyncSession, session_id: str, after_sequence: int = 0, limit: int = MAX_PAGE, *,
                max_bytes: int | None = None) -> list[Event]:
    """Events with a sequence above ``after_sequence``, oldest first.

    At most ``limit`` of them and, with ``max_bytes``, no more than fit in that many
    bytes (:func:`row_bytes` each) — but always the first one, so a reader moves on.
    The sizes are measured by the database; only the rows that fit are loaded.
    """
    limit = min(max(limit, 1), MAX_PAGE)
    query = select(Event).where(Event.session_id == session_id, Event.sequence > after_sequence)
    if max_bytes is not None:
        last = await _last_that_fits(db, session_id, after_sequence, limit, max_bytes)
        if last is None:
            return []
        query = query.where(Event.sequence <= last)
    rows = await db.exec(query.order_by(col(Event.sequence)).limit(limit))
    return list(rows.all())


# What a row costs beyond its JSON data (its other columns, the envelope a page wraps it in).
ROW_OVERHEAD_BYTES = 200


def _data_bytes(db: AsyncSession) -> sa.ColumnElement[int]:
    text = sa.cast(col(Event.data), sa.Text)
    if db.get_bind().dialect.name == "postgresql":
        return sa.func.octet_length(text)
    return sa.func.length(sa.cast(text, sa.LargeBinary))  # SQLite: length() of a blob counts bytes


async def _last_that_fits(db: AsyncSession, session_id: str, after_sequence: int, limit: int,
                          max_bytes: int) -> int | None:
    """The sequence of the last event of the page that ``max_bytes`` allows (None: no events)."""
    sizes = await db.exec(
        select(col(Event.sequence), _data_bytes(db))
        .where(Event.session_id == session_id, Event.sequence > after_sequence)
        .order_by(col(Event.sequence))
        .limit(limit)
    )
    last, total = None, 0
    for sequence, size in sizes.all():
        total += int(size or 0) + ROW_OVERHEAD_BYTES
        if last is not None and total > max_bytes:
            break
        last = sequence
    return last


def row_bytes(row: Event) -> int:
    """What :func:`after` counts for a row: its JSON data's bytes plus :data:`ROW_OVERHEAD_BYTES`."""
    return len(json.dumps(row.data).encode()) + ROW_OVERHEAD_BYTES



def typed(row: Event) -> TimelineEvent:
    """The typed event a row holds (:class:`~openinspect_protocol.ProtocolError` if it holds none)."""
    return from_stored(row.type, row.data, row.message_id, row.sandbox_seq)
