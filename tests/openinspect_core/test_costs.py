"""Cost sums, prices and limits: the pure rules the proxy, the dispatcher, the API and the page share."""

from __future__ import annotations

import math

import pytest

from openinspect_core import costs
from openinspect_core.costs import Price, Prices, Spend


def test_spends_add_up() -> None:
    calls = [Spend(100, 20, 0.001, 1), Spend(50, 5, 0.0005, 1), Spend(0, 0, 0.0, 1)]
    assert costs.total(calls) == Spend(150, 25, pytest.approx(0.0015), 3)  # type: ignore[arg-type]
    assert costs.total(calls).tokens == 175
    assert costs.total([]) == Spend()


@pytest.mark.parametrize(("amount", "shown"), [(0, "$0.0000"), (0.00123, "$0.0012"), (0.5, "$0.5000"),
                                               (1, "$1.00"), (1234.5, "$1,234.50")])
def test_dollars_are_shown_to_the_cent_above_a_dollar_and_finer_below(amount: float, shown: str) -> None:
    assert costs.usd(amount) == shown


def test_a_label_says_tokens_and_cost() -> None:
    assert costs.label(Spend(1200, 34, 0.0123, 2)) == "1,234 tokens · $0.0123"


def test_prices_are_read_from_the_setting() -> None:
    prices = costs.parse_prices(["gpt-4.1=2/8", " claude-sonnet-4-5 = 3/15 ", "*=0.5/1"])
    assert prices.price_of("gpt-4.1") == Price(2, 8)
    assert prices.price_of("claude-sonnet-4-5") == Price(3, 15)
    assert prices.price_of("something-else") == Price(0.5, 1)
    assert costs.parse_prices([]) == Prices()


def test_a_dated_model_name_takes_the_longest_priced_prefix() -> None:
    prices = costs.parse_prices(["gpt-4=30/60", "gpt-4.1=2/8", "gpt-4.1-mini=0.4/1.6"])
    assert prices.price_of("gpt-4.1-2025-04-14") == Price(2, 8)
    assert prices.price_of("gpt-4.1-mini-2025-04-14") == Price(0.4, 1.6)
    assert prices.price_of("o3") is None  # no "*": unpriced
    assert prices.cost_usd("o3", 1000, 1000) == 0.0


def test_a_price_is_per_million_tokens_in_and_out() -> None:
    prices = costs.parse_prices(["m=2/8"])
    assert prices.cost_usd("m", 1_000_000, 0) == 2.0
    assert prices.cost_usd("m", 500_000, 250_000) == pytest.approx(1.0 + 2.0)


@pytest.mark.parametrize("item", ["gpt-4.1", "gpt-4.1=2", "=1/2", "m=1/2/3", "m=a/b", "m=-1/2", "m=inf/1",
                                  "m=nan/1"])
def test_a_bad_price_is_refused_naming_the_setting_and_the_item(item: str) -> None:
    with pytest.raises(ValueError, match="OPENINSPECT_MODEL_PRICES") as error:
        costs.parse_prices(["ok=1/1", item])
    assert repr(item) in str(error.value)


def test_the_providers_own_cost_wins_over_the_configured_price() -> None:
    prices = costs.parse_prices(["*=1/1"])
    assert costs.call_cost_usd(0.25, "m", 1_000_000, 0, prices) == 0.25  # OpenRouter states it
    assert costs.call_cost_usd(0.0, "m", 1_000_000, 0, prices) == 1.0  # OpenAI does not
    assert costs.call_cost_usd(0.0, "m", 1_000_000, 0, Prices()) == 0.0


def test_the_effective_limit_is_the_sessions_own_else_the_default() -> None:
    assert costs.effective_limit(None, None) is None
    assert costs.effective_limit(None, 5.0) == 5.0
    assert costs.effective_limit(2.0, 5.0) == 2.0
    assert costs.effective_limit(0.0, 5.0) == 0.0  # zero is a limit (nothing more may be spent), not "unset"
    assert costs.effective_limit(50.0, None) == 50.0


@pytest.mark.parametrize(("spent", "limit", "reached"), [(0.0, None, False), (1e9, None, False), (0.99, 1.0, False),
                                                         (1.0, 1.0, True), (1.01, 1.0, True), (0.0, 0.0, True)])
def test_a_limit_is_reached_once_spending_gets_to_it(spent: float, limit: float | None, reached: bool) -> None:
    assert costs.limit_reached(spent, limit) is reached


def test_a_limit_a_person_sets_is_checked() -> None:
    assert costs.check_limit(None) is None
    assert costs.check_limit(5) == 5.0 and isinstance(costs.check_limit(5), float)
    assert costs.check_limit(0) == 0.0
    for bad in (-0.01, costs.MAX_LIMIT_USD + 1, math.inf, math.nan, True):
        with pytest.raises(ValueError, match="spend limit"):
            costs.check_limit(bad)
