"""Who is calling the model and what it cost: the proxy's two database questions.

:func:`caller_for` turns a sandbox's proxy token into the live sandbox and the
session it serves (the token is looked up by its SHA-256 hash, as it is
stored; an unknown token or one of a sandbox that has ended is nobody).
:func:`record` writes one :class:`~openinspect_core.models.ModelUsage` row per
model call, charged to the prompt running in that sandbox when the call is made
(the dispatcher runs one prompt at a time per session, so this is unambiguous).
Nothing here sees the provider's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from openinspect_protocol.status import MessageStatus
from sqlmodel import col, select

from backend_jobs import tokens
from backend_jobs.model_proxy.metering import Usage
from openinspect_core.costs import Prices, call_cost_usd
from openinspect_core.db import Database
from openinspect_core.models import LIVE_SANDBOX_STATUSES, Message, ModelUsage, Sandbox
from openinspect_core.notify.local import Notifier

NO_PRICES = Prices()


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


async def record(db: Database, caller: Caller, usage: Usage, *, prices: Prices = NO_PRICES,
                 notifier: Notifier | None = None) -> ModelUsage:
    """One row for one call, charged to the prompt the caller's sandbox is running (if any); its cost
    is the provider's stated one, else the configured price. Viewers are told (the header's sums grow)."""
    cost = call_cost_usd(usage.cost, usage.model, usage.input_tokens, usage.output_tokens, prices)
    async with db.writer() as session:
        running = (await session.exec(select(Message.id).where(
            Message.session_id == caller.session_id, Message.sandbox_id == caller.sandbox_id,
            Message.status == MessageStatus.RUNNING))).first()
        row = ModelUsage(session_id=caller.session_id, sandbox_id=caller.sandbox_id, message_id=running,
                         model=usage.model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                         cost=cost)
        session.add(row)
        await session.commit()
    if notifier is not None:
        # Only the sums changed: nothing for the dispatcher (a turn's end, which it does wait for, comes after).
        notifier.publish(caller.session_id, control=False)
    return row
