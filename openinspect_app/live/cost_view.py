"""What the session page shows of spending: the session's sums, each prompt's, and the limit.

Read by the live projection (``live/projector.py``) whenever it reads the session's events
(a notification — the model proxy sends one after each call it records — or the periodic
re-read), and published as the shared state's ``cost_*``/``spend_*``/``prompt_costs`` vars;
the projection sends a var only when its value changed, so a quiet session costs one small
query per read and no update.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core import costs
from openinspect_core.models import Session
from openinspect_core.services import spend

# The shared state's vars this module fills (state/session.py declares them).
COST_VARS = ("cost_label", "cost_usd", "prompt_costs", "spend_limit_label", "spend_limit_own", "spend_held",
             "spend_notice", "title_from_user")


def limit_label(own_usd: float | None, default_usd: float | None) -> str:
    limit = costs.effective_limit(own_usd, default_usd)
    if limit is None:
        return "no spend limit"
    return f"limit {costs.usd(limit)}" + ("" if own_usd is not None else " (default)")


def cost_fields(session: Session, total: costs.Spend, per_prompt: dict[str, costs.Spend],
                default_limit_usd: float | None) -> dict[str, Any]:
    """The vars, from what was read (pure)."""
    limit = costs.effective_limit(session.spend_limit_usd, default_limit_usd)
    held = session.spend_held_at is not None
    notice = ""
    if held and limit is not None:
        notice = (f"Spend limit reached: {costs.usd(total.cost_usd)} spent of {costs.usd(limit)}. Queued prompts "
                  "wait until someone raises the limit.")
    return {
        "cost_label": costs.label(total),
        "cost_usd": round(total.cost_usd, 6),
        "prompt_costs": {message_id: costs.label(s) for message_id, s in per_prompt.items()},
        "spend_limit_label": limit_label(session.spend_limit_usd, default_limit_usd),
        # The session's own limit as the edit box starts with it ("" = the default).
        "spend_limit_own": "" if session.spend_limit_usd is None else f"{session.spend_limit_usd:g}",
        "spend_held": held,
        "spend_notice": notice,
        "title_from_user": session.title_from_user,
    }


async def read_cost_fields(db: AsyncSession, session_id: str, default_limit_usd: float | None) -> dict[str, Any]:
    session = await db.get(Session, session_id, populate_existing=True)
    if session is None:
        return {}
    return cost_fields(session, await spend.of_session(db, session_id), await spend.of_prompts(db, session_id),
                       default_limit_usd)
