"""How cost, spend limits and renames look on a session's timeline (pure, like ``timeline_view``).

``timeline_view`` matches on the events and calls these builders; the amounts are formatted
by :mod:`openinspect_core.costs`, as everywhere else the page shows money.
"""

from __future__ import annotations

from openinspect_protocol.timeline import SessionRenamed, SpendLimitChanged, SpendLimitReached, TurnUsage

from openinspect_core import costs

SPEND_HELD = "spend_held"  # Entry.kind of "the limit holds the queue"


def usage_label(usage: TurnUsage | None) -> str:
    """A finished prompt's tokens and cost, as its row shows them ("" when it made no model call)."""
    if usage is None or not usage.calls:
        return ""
    return costs.label(costs.Spend(usage.input_tokens, usage.output_tokens, usage.cost_usd, usage.calls))


def renamed_text(event: SessionRenamed) -> str:
    return f"{event.by.name} renamed the session to “{event.title}”"


def limit_changed_text(event: SpendLimitChanged) -> str:
    if event.limit_usd is not None:
        return f"{event.by.name} set the spend limit to {costs.usd(event.limit_usd)}"
    after = "no limit" if event.effective_limit_usd is None else costs.usd(event.effective_limit_usd)
    return f"{event.by.name} set the spend limit back to the default ({after})"


def limit_reached_text(event: SpendLimitReached) -> str:
    waiting = "1 prompt waits" if event.waiting == 1 else f"{event.waiting} prompts wait"
    return (f"Spend limit reached: {costs.usd(event.spent_usd)} spent of {costs.usd(event.limit_usd)}. "
            f"{waiting} until someone raises the limit.")
