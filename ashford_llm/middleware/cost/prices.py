"""Prices from genai-prices: a call's usage, provider and model in, a `CallCost` out.

genai-prices (pydantic's maintained price table, the `cost` extra) is pinned exactly, so a
given install always prices a call the same way; its bundled snapshot is read, never a
download. To take newer prices, raise the pin in `pyproject.toml` (the `cost` extra) and in
`constraints.txt`, then run the cost tests.

How usage maps onto the table: `input_tokens` counts every input token, cache reads
(`cached_input_tokens`) and writes (`cache_write_tokens`) included, as genai-prices counts
them, so each is priced at its own rate and the rest at the input rate; `output_tokens`
counts every output token and `reasoning_tokens` is passed as the part of them that was
thinking (priced at the output rate unless the table gives reasoning its own). A batch call
takes the table's `processing: batch` price variant; a model without one is unknown in
batch, never priced at the standard rate.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

from ashford_llm.protocol import ProviderInfo
from ashford_llm.types import CallCost, CompletionResponse

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["NANO", "price", "price_provider_id", "price_response", "to_nanos", "usage_keys"]

# OpenTelemetry provider names (and our provider names) whose genai-prices id differs.
_PROVIDER_IDS = {
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gemini": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "mistral_ai": "mistral",
}
_BATCH = {"processing": "batch"}

NANO = Decimal(10) ** 9
"""Nano-dollars per dollar: budgets count spend in integer nano-USD, exact and atomic."""


def genai_prices() -> ModuleType:
    """Imports genai-prices, naming the extra to install when it is missing."""
    try:
        import genai_prices
    except ImportError as exc:
        raise ImportError(
            "pricing calls needs the genai-prices package: pip install 'ashford-llm[cost]'"
        ) from exc
    return genai_prices


def price_provider_id(info: ProviderInfo) -> str:
    """Returns genai-prices' id of the terminal's vendor ("openai", "anthropic", "google")."""
    name = info.otel_provider_name or info.name
    return _PROVIDER_IDS.get(name, name)


def usage_keys(
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int | None,
    cache_write_tokens: int | None,
    reasoning_tokens: int | None,
) -> dict[str, int]:
    """Returns a call's usage under genai-prices' keys, leaving out parts absent or 0."""
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    for key, value in (
        ("cache_read_tokens", cached_input_tokens),
        ("cache_write_tokens", cache_write_tokens),
        ("output_reasoning_tokens", reasoning_tokens),
    ):
        if value:
            usage[key] = value
    return usage


def price(
    info: ProviderInfo,
    model: str | None,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    batch: bool = False,
    at: datetime | None = None,
) -> CallCost:
    """Prices one call's usage; an unknown provider, model or batch price is unknown.

    `at` is when the call was made (None: now), for prices that changed over time.
    """
    if not model:
        return CallCost(total=None, batch=batch, unknown_reason="no model to price")
    prices = genai_prices()
    usage = usage_keys(
        input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens
    )
    provider_id = price_provider_id(info)
    try:
        calculation = prices.calc_price(
            prices.Usage(**usage),
            model,
            provider_id=provider_id,
            genai_request_timestamp=at,
            price_context=_BATCH if batch else None,
        )
    except (LookupError, ValueError) as exc:  # not in the table; usage it cannot price
        return CallCost(total=None, batch=batch, unknown_reason=f"genai-prices: {exc}")
    if batch and not any(
        variant.when == _BATCH for variant in calculation.model.price_variants or ()
    ):
        return CallCost(
            total=None,
            batch=True,
            unknown_reason=f"genai-prices lists no batch price for {model!r} ({provider_id})",
        )
    return CallCost(
        total=calculation.total_price,
        input=calculation.input_price,
        output=calculation.output_price,
        batch=batch,
    )


def price_response(response: CompletionResponse, info: ProviderInfo, *, batch: bool) -> CallCost:
    """Prices a response by the model that answered (else the configured one) and its usage."""
    return price(
        info,
        response.model or info.model,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cached_input_tokens=response.cached_input_tokens,
        cache_write_tokens=response.cache_write_tokens,
        reasoning_tokens=response.reasoning_tokens,
        batch=batch,
    )


def to_nanos(amount: Decimal) -> int:
    """Returns an amount in whole nano-USD, rounded up (a budget errs on the safe side)."""
    return int((amount * NANO).to_integral_value(rounding=ROUND_CEILING))
