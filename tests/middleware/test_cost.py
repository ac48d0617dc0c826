"""Cost: prices from genai-prices for real models of each vendor, on responses, streams,
the ledger and the metric; unknown prices stay unknown."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from ashford_llm import CallCost, ChatMessage, CompletionRequest, CompletionResponse, StreamEnd
from ashford_llm.middleware import Cost, CostLedger
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware.cost.prices import price, price_response, to_nanos
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider

REQUEST = CompletionRequest([ChatMessage.user("Classify this ticket")])

OPENAI = ProviderInfo(name="openai", model="o4-mini", otel_provider_name="openai")
ANTHROPIC = ProviderInfo(
    name="anthropic", model="claude-sonnet-4-5", otel_provider_name="anthropic"
)
GEMINI = ProviderInfo(name="gemini", model="gemini-2.5-flash", otel_provider_name="gcp.gemini")


def answer(model: str, provider: str, **usage: Any) -> CompletionResponse:
    """A response with the given usage (10,000 in, 2,000 out unless given)."""
    fields: dict[str, Any] = {"input_tokens": 10_000, "output_tokens": 2_000} | usage
    return CompletionResponse(
        content="billing", model=model, latency_ms=1.0, finish_reason="stop", provider=provider,
        **fields,
    )  # fmt: skip


def expected(provider_id: str, model: str, batch: bool = False, **usage: int) -> Any:
    """What genai-prices' own API says the usage costs."""
    return genai_prices.calc_price(
        genai_prices.Usage(**usage),
        model,
        provider_id=provider_id,
        price_context={"processing": "batch"} if batch else None,
    )


# Figures against genai-prices, for real model names of each vendor


@pytest.mark.parametrize(
    ("info", "model", "provider_id"),
    [
        (OPENAI, "o4-mini-2025-04-16", "openai"),
        (OPENAI, "gpt-4o-mini-2024-07-18", "openai"),
        (ANTHROPIC, "claude-sonnet-4-5-20250929", "anthropic"),
        (ANTHROPIC, "claude-3-5-haiku-20241022", "anthropic"),
        (GEMINI, "gemini-2.5-flash", "google"),
        (GEMINI, "gemini-2.5-pro", "google"),
    ],
)
def test_price_matches_genai_prices_with_cache_reads_writes_and_reasoning(
    info: ProviderInfo, model: str, provider_id: str
) -> None:
    response = answer(
        model,
        info.name,
        cached_input_tokens=4_000,
        cache_write_tokens=1_000,
        reasoning_tokens=1_500,
    )
    cost = price_response(response, info, batch=False)
    calc = expected(
        provider_id,
        model,
        input_tokens=10_000,
        cache_read_tokens=4_000,
        cache_write_tokens=1_000,
        output_tokens=2_000,
        output_reasoning_tokens=1_500,
    )
    assert (cost.total, cost.input, cost.output) == (
        calc.total_price,
        calc.input_price,
        calc.output_price,
    )
    assert cost.total > 0
    # Cache reads are cheaper than fresh input: the same usage without them costs more.
    uncached = price_response(answer(model, info.name, reasoning_tokens=1_500), info, batch=False)
    assert uncached.input is not None
    assert cost.input is not None
    assert cost.input < uncached.input


def test_price_matches_the_vendors_price_pages_by_hand() -> None:
    # Anthropic's pricing page, Claude Sonnet 4.5: $3 / MTok input, $3.75 / MTok 5-minute
    # cache writes, $0.30 / MTok cache hits, $15 / MTok output (thinking billed as output).
    # 5,000 fresh + 4,000 read + 1,000 written input, 2,000 output (1,500 of them thinking):
    # 5,000 * 3 + 4,000 * 0.30 + 1,000 * 3.75 + 2,000 * 15 = 49,950 per million = $0.04995.
    response = answer(
        "claude-sonnet-4-5-20250929",
        "anthropic",
        cached_input_tokens=4_000,
        cache_write_tokens=1_000,
        reasoning_tokens=1_500,
    )
    assert price_response(response, ANTHROPIC, batch=False).total == Decimal("0.04995")
    # OpenAI's pricing page, o4-mini: $1.10 input, $0.275 cached input, $4.40 output, per
    # MTok; reasoning tokens are output. 6,000 * 1.10 + 4,000 * 0.275 + 2,000 * 4.40 = 16,500.
    response = answer("o4-mini", "openai", cached_input_tokens=4_000, reasoning_tokens=1_500)
    assert price_response(response, OPENAI, batch=False).total == Decimal("0.0165")
    # Gemini's pricing page, 2.5 Flash: $0.30 input, $0.03 cached, $2.50 output (thinking
    # included), per MTok: 6,000 * 0.30 + 4,000 * 0.03 + 2,000 * 2.50 = 6,920.
    response = answer("gemini-2.5-flash", "gemini", cached_input_tokens=4_000)
    assert price_response(response, GEMINI, batch=False).total == Decimal("0.00692")


@pytest.mark.parametrize(
    ("info", "model", "provider_id"),
    [
        (OPENAI, "gpt-4o-mini", "openai"),
        (ANTHROPIC, "claude-sonnet-4-5", "anthropic"),
        (GEMINI, "gemini-2.5-flash", "google"),
    ],
)
def test_batch_calls_take_the_tables_batch_price(
    info: ProviderInfo, model: str, provider_id: str
) -> None:
    response = answer(model, info.name)
    batch = price_response(response, info, batch=True)
    standard = price_response(response, info, batch=False)
    calc = expected(provider_id, model, batch=True, input_tokens=10_000, output_tokens=2_000)
    assert batch.total == calc.total_price
    assert batch.batch
    assert batch.total is not None
    assert standard.total is not None
    assert batch.total < standard.total


def test_a_model_without_a_batch_price_is_unknown_in_batch_not_standard_priced() -> None:
    response = answer("claude-3-5-haiku-20241022", "anthropic")
    cost = price_response(response, ANTHROPIC, batch=True)
    assert cost.total is None
    assert cost.unknown_reason is not None
    assert "batch" in cost.unknown_reason


@pytest.mark.parametrize(
    ("info", "model"),
    [
        (OPENAI, "gpt-99-turbo"),
        (ProviderInfo(name="mock", model="mock-model"), "mock-model"),
        (OPENAI, ""),
    ],
)
def test_an_unknown_model_or_provider_is_an_explicit_unknown_never_zero(
    info: ProviderInfo, model: str
) -> None:
    cost = price(info, model, input_tokens=10, output_tokens=10)
    assert cost == CallCost(total=None, unknown_reason=cost.unknown_reason)
    assert not cost.known
    assert cost.unknown_reason


def test_usage_the_table_cannot_price_is_unknown() -> None:
    cost = price(OPENAI, "o4-mini", input_tokens=10, output_tokens=1, cached_input_tokens=20)
    assert cost.total is None
    assert "cache_read_tokens" in (cost.unknown_reason or "")


def test_amounts_round_up_to_whole_nano_dollars() -> None:
    assert to_nanos(Decimal("0.0000000011")) == 2
    assert to_nanos(Decimal("1")) == 1_000_000_000


# The layer


class Meter:
    """An SDK meter provider reading into memory."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            (dict(point.attributes or {}), point.value)  # type: ignore[union-attr]
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


async def test_cost_layer_puts_the_price_on_the_response_ledger_and_metric() -> None:
    meter = Meter()
    response = answer("o4-mini-2025-04-16", "openai", cached_input_tokens=4_000)
    layer = Cost(MockProvider([response, response], info=OPENAI), meter_provider=meter.provider)
    first = await layer.complete(REQUEST)
    await layer.complete(REQUEST)
    assert first.cost == price_response(response, OPENAI, batch=False)
    assert first.cost is not None
    assert first.cost.total is not None
    assert layer.ledger.totals() == {("openai", "o4-mini-2025-04-16"): 2 * first.cost.total}
    assert layer.ledger.by_provider() == {"openai": 2 * first.cost.total}
    assert layer.ledger.total == 2 * first.cost.total
    ((attributes, value),) = meter.points(sc.COST)
    assert value == pytest.approx(2 * float(first.cost.total))
    assert attributes == {
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: "o4-mini",
        sc.RESPONSE_MODEL: "o4-mini-2025-04-16",
        sc.COST_BATCH: False,
    }
    assert meter.points(sc.COST_UNKNOWN) == []


async def test_cost_layer_counts_unknown_prices_apart_and_never_adds_zero() -> None:
    meter = Meter()
    ledger = CostLedger()
    layer = Cost(MockProvider(["hi"]), ledger=ledger, meter_provider=meter.provider)
    response = await layer.complete(REQUEST)
    assert response.cost is not None
    assert response.cost.total is None
    assert ledger.totals() == {}
    assert ledger.unknown_calls() == {("mock", "mock-model"): 1}
    assert meter.points(sc.COST) == []
    assert [value for _, value in meter.points(sc.COST_UNKNOWN)] == [1]


async def test_a_streams_cost_is_on_its_final_response() -> None:
    response = answer("gemini-2.5-flash", "gemini", reasoning_tokens=500)
    layer = Cost(MockProvider([response], info=GEMINI))
    events = [event async for event in layer.stream(REQUEST)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.cost == price_response(response, GEMINI, batch=False)
    assert all(not isinstance(event, StreamEnd) for event in events[:-1])
    assert layer.ledger.by_provider() == {"gemini": end.response.cost.total}


async def test_shared_ledger_totals_cost_per_provider_across_stacks() -> None:
    ledger = CostLedger()
    openai = Cost(MockProvider([answer("o4-mini", "openai")], info=OPENAI), ledger=ledger)
    gemini = Cost(MockProvider([answer("gemini-2.5-flash", "gemini")], info=GEMINI), ledger=ledger)
    a = await openai.complete(REQUEST)
    b = await gemini.complete(REQUEST)
    assert a.cost is not None
    assert b.cost is not None
    assert ledger.by_provider() == {"openai": a.cost.total, "gemini": b.cost.total}


def test_cost_layer_rejects_bad_options_when_built() -> None:
    with pytest.raises(TypeError, match="batch"):
        Cost(MockProvider([]), batch="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ledger"):
        Cost(MockProvider([]), ledger={})  # type: ignore[arg-type]
    assert repr(Cost(MockProvider([]), batch=True)).startswith("Cost(batch=True) -> ")
