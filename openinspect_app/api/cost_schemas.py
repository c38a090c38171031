"""What the REST API says of spending: a session's tokens and cost, its limit, per prompt."""

from __future__ import annotations

from pydantic import BaseModel, Field

from openinspect_core import costs
from openinspect_core.models import Session


class SpendOut(BaseModel):
    input_tokens: int
    output_tokens: int
    tokens: int
    cost_usd: float
    calls: int = Field(description="model calls through the model proxy")

    @classmethod
    def of(cls, value: costs.Spend) -> SpendOut:
        return cls(input_tokens=value.input_tokens, output_tokens=value.output_tokens, tokens=value.tokens,
                   cost_usd=round(value.cost_usd, 6), calls=value.calls)


class SessionSpendOut(BaseModel):
    total: SpendOut
    limit_usd: float | None = Field(description="the limit that holds (the session's own, else the default); "
                                    "null: none")
    own_limit_usd: float | None = Field(description="the session's own limit; null: it follows the default")
    limit_reached: bool
    queue_held: bool = Field(description="queued prompts wait for the limit to be raised")


class PromptSpendOut(BaseModel):
    message_id: str
    usage: SpendOut


class SessionCostOut(SessionSpendOut):
    prompts: list[PromptSpendOut] = Field(description="per prompt that made model calls, oldest first")


def spend_of(session: Session, total: costs.Spend, default_limit_usd: float | None) -> SessionSpendOut:
    limit = costs.effective_limit(session.spend_limit_usd, default_limit_usd)
    return SessionSpendOut(total=SpendOut.of(total), limit_usd=limit, own_limit_usd=session.spend_limit_usd,
                           limit_reached=costs.limit_reached(total.cost_usd, limit),
                           queue_held=session.spend_held_at is not None)
