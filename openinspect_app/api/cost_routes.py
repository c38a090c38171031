"""REST for a session's cost, spend limit and title.

* ``PATCH /api/sessions/{id}`` — a person's ``title`` (kept: the agent's later titles do not replace
  it) and/or ``spend_limit_usd`` (the session's own limit; ``null`` = back to the
  ``OPENINSPECT_SESSION_SPEND_LIMIT_USD`` default). Each change is a timeline event, so viewers see it
  live; a new limit wakes the dispatcher, which releases the queue if the limit allows it.
* ``GET /api/sessions/{id}/cost`` — the session's tokens and cost, in total and per prompt, and its limit.

The session's own representation (``GET /api/sessions[/{id}]``) carries the total and the limit too
(``spend``, :func:`spend_of`). Who may: any signed-in person or API token, as for every session
route (single tenant, docs/security.md); a sandbox's token is refused at the boundary.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_app.api.cost_schemas import PromptSpendOut, SessionCostOut, SpendOut, spend_of
from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, error_responses
from openinspect_app.api.schemas import ID_PATTERN, SessionOut, _In
from openinspect_core import costs
from openinspect_core.models import Session, User
from openinspect_core.services import prompts, sessions, spend, titles

router = APIRouter(responses=error_responses(*COMMON_ERRORS))

SessionId = Annotated[str, Path(pattern=ID_PATTERN)]


class SessionPatchIn(_In):
    title: str | None = Field(default=None, max_length=200, description="a person's title; the agent's later "
                              "titles no longer replace it")
    spend_limit_usd: float | None = Field(default=None, description="the session's own spend limit in USD; "
                                          "null: back to the default")


async def with_spend(db: AsyncSession, outs: list[SessionOut], rows: list[Session],
                     default_limit_usd: float | None) -> list[SessionOut]:
    """Sessions' representations with their ``spend`` (one query for all of them)."""
    totals = await spend.of_sessions(db, [row.id for row in rows])
    return [out.model_copy(update={"spend": spend_of(row, totals.get(row.id, costs.Spend()), default_limit_usd)})
            for out, row in zip(outs, rows, strict=True)]


@router.patch("/sessions/{session_id}", responses=error_responses(404))
async def change_session(session_id: SessionId, body: SessionPatchIn, system: System, me: Me) -> SessionOut:
    """Rename the session and/or set its spend limit; fields left out are not changed."""
    settings = system.context.settings
    async with system.context.work() as work:
        user = await work.db.get(User, me.user.id)
        assert user is not None
        if body.title is not None:
            await titles.rename(work.db, session_id, body.title, by=user)
        if "spend_limit_usd" in body.model_fields_set:
            await spend.set_limit(work.db, session_id, body.spend_limit_usd, by=user,
                                  default_limit_usd=settings.session_spend_limit_usd)
        summary = await sessions.summary(work.db, session_id)
        [out] = await with_spend(work.db, [SessionOut.of(summary)], [summary.session],
                                 settings.session_spend_limit_usd)
        work.changed(session_id)  # control: a new limit may release the queue
    return out


@router.get("/sessions/{session_id}/cost", responses=error_responses(404))
async def session_cost(session_id: SessionId, system: System, _: Me) -> SessionCostOut:
    async with system.context.db.session() as db:
        session = await sessions.get(db, session_id)
        total = await spend.of_session(db, session_id)
        per_prompt = await spend.of_prompts(db, session_id)
        order = {m.id: i for i, m in enumerate(await prompts.list_for_session(db, session_id))}
    base = spend_of(session, total, system.context.settings.session_spend_limit_usd)
    rows = [PromptSpendOut(message_id=message_id, usage=SpendOut.of(value))
            for message_id, value in sorted(per_prompt.items(), key=lambda kv: order.get(kv[0], len(order)))]
    return SessionCostOut(**base.model_dump(), prompts=rows)


