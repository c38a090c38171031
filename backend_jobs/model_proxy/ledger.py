"""Who is calling the model and what it cost: the proxy's two database questions.

:func:`caller_for` turns a sandbox's proxy token into the live sandbox and the
session it serves (the token is looked up by its SHA-256 hash, as it is
stored; an unknown token or one of a sandbox that has ended is nobody).
:func:`record` writes one :class:`~openinspect_core.models.ModelUsage` row per
model call. Nothing here sees the provider's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from backend_jobs import tokens
from backend_jobs.model_proxy.metering import Usage
from openinspect_core.db import Database
from openinspect_core.models import LIVE_SANDBOX_STATUSES, ModelUsage, Sandbox


@dataclass(frozen=True)
class Caller:
    sandbox_id: str
    session_id: str


async def caller_for(db: Database, token: str) -> Caller | None:
    """The live sandbox holding ``token``, or None."""
    if not token:
        return None
    async with db.session() as session:
        row = (await session.exec(select(Sandbox.id, Sandbox.session_id).where(
            Sandbox.proxy_token_hash == tokens.token_hash(token),
            col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES)))).first()
    return None if row is None else Caller(sandbox_id=row[0], session_id=row[1])


async def record(db: Database, caller: Caller, usage: Usage) -> ModelUsage:
    row = ModelUsage(session_id=caller.session_id, sandbox_id=caller.sandbox_id, model=usage.model,
                     input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost=usage.cost)
    async with db.writer() as session:
        session.add(row)
        await session.commit()
    return row
