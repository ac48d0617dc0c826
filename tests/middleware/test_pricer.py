"""Pricer: the same figures as genai-prices' `calc_price` (tiers, cache reads and writes,
reasoning, batch, prices that change by date or time of day), with each model looked up once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import genai_prices
import pytest
from genai_prices.types import ModelInfo, Provider

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse
from ashford_llm.middleware import Budget, Cost
from ashford_llm.middleware.cost import Pricer
from ashford_llm.middleware.cost.pricer import snapshot_lookup
from ashford_llm.middleware.cost.prices import price
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
BATCH = {"processing": "batch"}


class CountingLookup:
    """Finds models in genai-prices' snapshot and counts the lookups per model."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], int] = {}

    def __call__(self, model: str, provider_id: str) -> tuple[Provider, ModelInfo]:
        key = (provider_id, model)
        self.calls[key] = self.calls.get(key, 0) + 1
        return snapshot_lookup(model, provider_id)


def calc(provider_id: str, model: str, *, batch: bool, at: datetime, **usage: int) -> Any:
    """What genai-prices' own API says the usage costs."""
    return genai_prices.calc_price(
        genai_prices.Usage(**usage),
        model,
        provider_id=provider_id,
        genai_request_timestamp=at,
        price_context=BATCH if batch else None,
    )


def figures(cost: Any) -> tuple[str, str, str]:
    """A cost's figures as strings, so a different Decimal exponent also differs."""
    return str(cost.total), str(cost.input), str(cost.output)


USAGES = [
    {"input_tokens": 10_000, "output_tokens": 2_000},
    {"input_tokens": 10_000, "output_tokens": 2_000, "cache_read_tokens": 4_000},
    {
        "input_tokens": 12_000,
        "output_tokens": 3_000,
        "cache_read_tokens": 4_000,
        "cache_write_tokens": 1_000,
        "output_reasoning_tokens": 1_500,
    },
    # Past the 200k-token tiers of the tiered models below.
    {
        "input_tokens": 300_000,
        "output_tokens": 5_000,
        "cache_read_tokens": 100_000,
        "cache_write_tokens": 20_000,
    },
]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("openai", "o3"),  # its price changed on 2025-06-10
        ("openai", "gpt-5.4"),  # tiered
        ("anthropic", "claude-sonnet-4-5"),  # tiered
        ("anthropic", "claude-sonnet-4-6"),  # tiered, and a price from 2026-03-13
        ("gcp.gemini", "gemini-2.5-pro"),  # tiered
        ("gcp.gemini", "gemini-2.5-flash"),
    ],
)
@pytest.mark.parametrize("batch", [False, True])
def test_pricer_gives_calc_prices_figures(provider: str, model: str, batch: bool) -> None:
    info = ProviderInfo(name=provider, model=model, otel_provider_name=provider)
    pricer = Pricer()
    provider_id = "google" if provider == "gcp.gemini" else provider
    for at in (datetime(2025, 1, 1, tzinfo=UTC), AT):
        for usage in USAGES:  # one Pricer across usages, tiers and dates: nothing leaks
            cost = pricer.price(
                info,
                model,
                input_tokens=usage["input_tokens"],
                output_tokens=usage["output_tokens"],
                cached_input_tokens=usage.get("cache_read_tokens"),
                cache_write_tokens=usage.get("cache_write_tokens"),
                reasoning_tokens=usage.get("output_reasoning_tokens"),
                batch=batch,
                at=at,
            )
            expected = calc(provider_id, model, batch=batch, at=at, **usage)
            assert cost.batch is batch
            assert figures(cost) == (
                str(expected.total_price),
                str(expected.input_price),
                str(expected.output_price),
            )


def test_pricer_follows_a_price_change_by_date_with_the_same_pricer() -> None:
    info = ProviderInfo(name="openai", model="o3")
    pricer = Pricer()
    before = pricer.price(
        info, "o3", input_tokens=1_000_000, output_tokens=0, at=datetime(2025, 6, 9, tzinfo=UTC)
    )
    after = pricer.price(
        info, "o3", input_tokens=1_000_000, output_tokens=0, at=datetime(2025, 6, 10, tzinfo=UTC)
    )
    assert before.total is not None
    assert after.total is not None
    assert after.total < before.total  # o3's input price was cut on 2025-06-10
    for cost, day in ((before, 9), (after, 10)):
        at = datetime(2025, 6, day, tzinfo=UTC)
        expected = calc("openai", "o3", batch=False, at=at, input_tokens=1_000_000)
        assert cost.total == expected.total_price


def test_pricer_follows_off_peak_prices_by_time_of_day() -> None:
    info = ProviderInfo(name="deepseek", model="deepseek-chat")
    pricer = Pricer()
    costs = []
    for hour in (12, 17, 12):  # deepseek-chat is cheaper from 16:30 to 00:30 UTC
        at = datetime(2025, 3, 1, hour, tzinfo=UTC)
        cost = pricer.price(info, "deepseek-chat", input_tokens=1_000, output_tokens=1_000, at=at)
        expected = calc("deepseek", "deepseek-chat", batch=False, at=at, input_tokens=1_000,
                        output_tokens=1_000)  # fmt: skip
        assert cost.total == expected.total_price
        costs.append(cost.total)
    assert costs[0] == costs[2] != costs[1]


def test_pricer_looks_each_model_up_once() -> None:
    lookup = CountingLookup()
    pricer = Pricer(lookup=lookup)
    openai = ProviderInfo(name="openai", model="gpt-4o-mini")
    anthropic = ProviderInfo(name="anthropic", model="claude-sonnet-4-5")
    for tokens in (10, 20_000, 300_000):
        for batch in (False, True):
            pricer.price(openai, "gpt-4o-mini", input_tokens=tokens, output_tokens=5, batch=batch)
            pricer.price(anthropic, "claude-sonnet-4-5", input_tokens=tokens, output_tokens=5)
    assert lookup.calls == {("openai", "gpt-4o-mini"): 1, ("anthropic", "claude-sonnet-4-5"): 1}


def test_pricer_keeps_at_most_max_entries_models() -> None:
    lookup = CountingLookup()
    pricer = Pricer(lookup=lookup, max_entries=1)
    info = ProviderInfo(name="openai", model="gpt-4o-mini")
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o-mini"):
        assert pricer.price(info, model, input_tokens=10, output_tokens=5).known
    assert lookup.calls == {("openai", "gpt-4o-mini"): 2, ("openai", "gpt-4o"): 1}


def test_pricer_figures_differ_when_the_lookup_finds_another_model() -> None:
    # The comparison against calc_price can fail: a lookup answering with the wrong model
    # (what a cache keyed too loosely would do) prices differently.
    def wrong(model: str, provider_id: str) -> tuple[Provider, ModelInfo]:
        return snapshot_lookup("gpt-4o", provider_id)

    info = ProviderInfo(name="openai", model="gpt-4o-mini")
    cost = Pricer(lookup=wrong).price(info, "gpt-4o-mini", input_tokens=1_000, output_tokens=1_000)
    expected = calc("openai", "gpt-4o-mini", batch=False, at=AT, input_tokens=1_000,
                    output_tokens=1_000)  # fmt: skip
    assert cost.total != expected.total_price


@pytest.mark.parametrize(
    ("model", "usage"),
    [
        ("no-such-model-xyz", {"input_tokens": 10, "output_tokens": 5}),
        # More cache reads than input: genai-prices refuses the usage.
        ("gpt-4o-mini", {"input_tokens": 10, "output_tokens": 5, "cached_input_tokens": 50}),
        ("gpt-4o-mini", {"input_tokens": -1, "output_tokens": 5}),
        (None, {"input_tokens": 10, "output_tokens": 5}),
    ],
)
def test_pricer_leaves_unknown_what_price_leaves_unknown(
    model: str | None, usage: dict[str, int]
) -> None:
    info = ProviderInfo(name="openai", model="gpt-4o-mini")
    pricer = Pricer()
    for _ in range(2):  # the second time from the Pricer's cache
        cost = pricer.price(info, model, **usage, at=AT)
        assert cost == price(info, model, **usage, at=AT)
        assert cost.total is None
        assert cost.unknown_reason


def test_pricer_leaves_a_model_without_a_batch_price_unknown_in_batch() -> None:
    info = ProviderInfo(name="deepseek", model="deepseek-chat")
    cost = Pricer().price(info, "deepseek-chat", input_tokens=10, output_tokens=5, batch=True)
    assert cost == price(info, "deepseek-chat", input_tokens=10, output_tokens=5, batch=True)
    assert cost.unknown_reason is not None
    assert "no batch price" in cost.unknown_reason


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_pricer_rejects_a_bad_max_entries(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        Pricer(max_entries=bad)


def test_layers_reject_a_pricer_of_the_wrong_type() -> None:
    inner = MockProvider(["x"], info=ProviderInfo(name="openai", model="gpt-4o-mini"))
    with pytest.raises(TypeError, match="pricer"):
        Cost(inner, pricer="cheap")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pricer"):
        Budget(inner, limit=1, window=60, pricer=object())  # type: ignore[arg-type]


async def test_budget_and_cost_sharing_a_pricer_look_the_model_up_once() -> None:
    lookup = CountingLookup()
    pricer = Pricer(lookup=lookup)
    info = ProviderInfo(name="openai", model="gpt-4o-mini", otel_provider_name="openai")
    answers = [
        CompletionResponse(
            content="ok",
            model="gpt-4o-mini",
            input_tokens=100 + n,
            output_tokens=20,
            cached_input_tokens=n,
            latency_ms=1.0,
            finish_reason="stop",
            provider="openai",
        )
        for n in range(5)
    ]
    stack = Budget(
        Cost(MockProvider(answers, info=info), pricer=pricer),
        limit=1,
        window=3600,
        pricer=pricer,
    )
    for n in range(5):
        response = await stack.complete(CompletionRequest([ChatMessage.user(f"call {n}")]))
        assert response.cost is not None
        assert response.cost == price(
            info, "gpt-4o-mini", input_tokens=100 + n, output_tokens=20, cached_input_tokens=n
        )
    assert lookup.calls == {("openai", "gpt-4o-mini"): 1}
