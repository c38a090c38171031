"""What a session spent on the model, and its spend limit.

Owns: the sums of ``model_usage`` (the model proxy's one row per call) for a session, per
prompt and for several sessions at once; a session's own limit (``Session.spend_limit_usd``,
None = the ``OPENINSPECT_SESSION_SPEND_LIMIT_USD`` default); the hold — when the limit is
reached, the dispatcher (``backend_jobs/dispatcher.py``, deciding in ``lifecycle.decide``)
lets the running turn finish and keeps queued prompts waiting, marks the session
(``spend_held_at``) and says why on its timeline; a change of the limit clears the mark, so
the dispatcher looks again (and says so again if the new limit still holds).

Leaves: metering to the proxy, what a sum means (``openinspect_core.costs``), the decision to
the dispatcher. Like every service here, functions take an open database session and leave
the commit to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from openinspect_protocol.timeline import PromptAuthor, SpendLimitChanged, SpendLimitReached, TurnUsage
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core import costs
from openinspect_core.models import ModelUsage, Session, User, utcnow
from openinspect_core.services import sessions, timeline
from openinspect_core.services.errors import InvalidInput

_SUMS = (func.coalesce(func.sum(ModelUsage.input_tokens), 0), func.coalesce(func.sum(ModelUsage.output_tokens), 0),
         func.coalesce(func.sum(ModelUsage.cost), 0.0), func.count(col(ModelUsage.id)))


def _spend(row: Sequence[Any]) -> costs.Spend:
    tokens_in, tokens_out, cost, calls = row
    return costs.Spend(int(tokens_in or 0), int(tokens_out or 0), float(cost or 0.0), int(calls or 0))


async def _rows(db: AsyncSession, *key: Any, where: Any) -> list[Sequence[Any]]:
    """The sums, grouped by ``key`` (none: one row). Core ``select``: sqlmodel's is typed for four columns."""
    query = sa.select(*key, *_SUMS).where(where)
    if key:
        query = query.group_by(*key)
    result = await db.exec(query)  # type: ignore[call-overload]
    return list(result.all())


async def of_session(db: AsyncSession, session_id: str) -> costs.Spend:
    """Everything the session's model calls cost, over all its sandboxes."""
    [row] = await _rows(db, where=col(ModelUsage.session_id) == session_id)
    return _spend(row)


async def of_prompts(db: AsyncSession, session_id: str) -> dict[str, costs.Spend]:
    """Per prompt (message id) of the session; calls made while no prompt ran are left out."""
    rows = await _rows(db, col(ModelUsage.message_id), where=sa.and_(
        col(ModelUsage.session_id) == session_id, col(ModelUsage.message_id).is_not(None)))
    return {row[0]: _spend(row[1:]) for row in rows}


async def of_prompt(db: AsyncSession, message_id: str) -> costs.Spend:
    [row] = await _rows(db, where=col(ModelUsage.message_id) == message_id)
    return _spend(row)


async def of_sessions(db: AsyncSession, session_ids: Iterable[str]) -> dict[str, costs.Spend]:
    """Per session, for a list of sessions (one query); a session without calls is absent."""
    ids = list(session_ids)
    if not ids:
        return {}
    rows = await _rows(db, col(ModelUsage.session_id), where=col(ModelUsage.session_id).in_(ids))
    return {row[0]: _spend(row[1:]) for row in rows}


def turn_usage(spend: costs.Spend) -> TurnUsage:
    """A prompt's spend as its ``prompt_finished`` event records it."""
    return TurnUsage(input_tokens=spend.input_tokens, output_tokens=spend.output_tokens,
                     cost_usd=round(spend.cost_usd, 6), calls=spend.calls)


async def set_limit(db: AsyncSession, session_id: str, limit_usd: float | None, *, by: User,
                    default_limit_usd: float | None) -> Session:
    """Set the session's own limit (None: back to the default) and say so on its timeline.

    Clears the hold mark: the dispatcher, woken by the caller's notification, dispatches what
    waits if the new limit allows it, or says again that the limit holds.
    """
    try:
        limit_usd = costs.check_limit(limit_usd)
    except ValueError as error:
        raise InvalidInput(str(error), code="invalid_spend_limit") from None
    session = await sessions.get(db, session_id)
    session.spend_limit_usd = limit_usd
    session.spend_held_at = None
    db.add(session)
    await timeline.append(db, session.id, SpendLimitChanged(
        limit_usd=limit_usd, effective_limit_usd=costs.effective_limit(limit_usd, default_limit_usd),
        by=PromptAuthor(id=by.id, name=by.name, email=by.email)))
    return session


async def hold(db: AsyncSession, session_id: str, *, spent_usd: float, limit_usd: float, waiting: int) -> bool:
    """Mark the session's queue as held by its limit and say why, once; False when it already was.

    A guarded UPDATE, so two rounds racing announce it once.
    """
    result = await db.exec(sa.update(Session).where(col(Session.id) == session_id,
                                                   col(Session.spend_held_at).is_(None))
                           .values(spend_held_at=utcnow()).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    await timeline.append(db, session_id, SpendLimitReached(spent_usd=round(spent_usd, 6), limit_usd=limit_usd,
                                                            waiting=waiting))
    return True


async def release(db: AsyncSession, session_id: str) -> bool:
    """The limit no longer holds the queue (raised, or nothing waits any more): clear the mark."""
    result = await db.exec(sa.update(Session).where(col(Session.id) == session_id,
                                                   col(Session.spend_held_at).is_not(None))
                           .values(spend_held_at=None).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)
