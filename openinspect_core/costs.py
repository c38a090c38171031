"""What model calls cost, and whether a session may spend more: pure, no I/O.

The model proxy meters every call (``backend_jobs/model_proxy``) into ``model_usage``
rows; :mod:`openinspect_core.services.spend` sums them. This module holds what those
sums mean, so that the proxy, the dispatcher, the REST API and the page agree:

* :class:`Spend` — tokens and dollars of some calls, added up;
* :class:`Prices` — ``OPENINSPECT_MODEL_PRICES``: what a call costs when the provider's
  answer states no cost (OpenAI and Anthropic never do; OpenRouter does, and its figure wins);
* :func:`effective_limit`, :func:`limit_reached` — a session's spend limit (its own, else the
  ``OPENINSPECT_SESSION_SPEND_LIMIT_USD`` default) and whether what it spent reaches it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

MILLION = 1_000_000
MAX_LIMIT_USD = 1_000_000.0  # a limit above this is a typo, not a budget


@dataclass(frozen=True)
class Spend:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cost_usd + other.cost_usd, self.calls + other.calls)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def total(spends: Iterable[Spend]) -> Spend:
    result = Spend()
    for spend in spends:
        result = result + spend
    return result


def usd(amount: float) -> str:
    """Dollars as people read them: cents for sums of a dollar or more, four decimals below (tokens are cheap)."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def label(spend: Spend) -> str:
    """``1,234 tokens · $0.0123``: what the header and a prompt's row show."""
    return f"{spend.tokens:,} tokens · {usd(spend.cost_usd)}"


# ---------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class Price:
    input_per_million_usd: float
    output_per_million_usd: float

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million_usd + output_tokens * self.output_per_million_usd) / MILLION


@dataclass(frozen=True)
class Prices:
    """Per model; ``*`` for any other. A model is found by its exact name, else by the longest priced
    name it starts with (``gpt-4.1`` prices ``gpt-4.1-2025-04-14``, the name a provider answers with)."""

    by_model: tuple[tuple[str, Price], ...] = ()

    def price_of(self, model: str) -> Price | None:
        table = dict(self.by_model)
        if model in table:
            return table[model]
        prefixes = [name for name in table if name != "*" and model.startswith(name)]
        if prefixes:
            return table[max(prefixes, key=len)]
        return table.get("*")

    def cost_usd(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.price_of(model)
        return 0.0 if price is None else price.cost_usd(input_tokens, output_tokens)


def parse_prices(items: Iterable[str]) -> Prices:
    """``OPENINSPECT_MODEL_PRICES``'s items (``model=input/output``); ValueError naming a bad one."""
    found: list[tuple[str, Price]] = []
    for item in items:
        name, equals, numbers = item.partition("=")
        parts = numbers.split("/")
        if not equals or not name.strip() or len(parts) != 2:
            raise ValueError(f"OPENINSPECT_MODEL_PRICES: {item!r} is not model=input/output "
                             "(USD per million tokens, e.g. gpt-4.1=2/8)")
        try:
            values = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"OPENINSPECT_MODEL_PRICES: {item!r} has a price that is not a number") from None
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"OPENINSPECT_MODEL_PRICES: {item!r} has a negative or infinite price")
        found.append((name.strip(), Price(values[0], values[1])))
    return Prices(tuple(found))


def call_cost_usd(stated_usd: float, model: str, input_tokens: int, output_tokens: int, prices: Prices) -> float:
    """What one call cost: the provider's own figure when it states one, else the configured price."""
    if stated_usd > 0:
        return stated_usd
    return prices.cost_usd(model, input_tokens, output_tokens)


# ---------------------------------------------------------------------------- limits


def effective_limit(session_limit_usd: float | None, default_limit_usd: float | None) -> float | None:
    """The session's own limit if it has one, else the default; None: no limit."""
    return session_limit_usd if session_limit_usd is not None else default_limit_usd


def limit_reached(spent_usd: float, limit_usd: float | None) -> bool:
    return limit_usd is not None and spent_usd >= limit_usd


def check_limit(value: float | None) -> float | None:
    """A limit a person set: a finite amount from 0 to :data:`MAX_LIMIT_USD` (None: back to the default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("the spend limit must be a number of US dollars")
    if value < 0 or value > MAX_LIMIT_USD:
        raise ValueError(f"the spend limit must be between 0 and {MAX_LIMIT_USD:,.0f} US dollars")
    return float(value)
