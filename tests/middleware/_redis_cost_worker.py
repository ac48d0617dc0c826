"""One worker process of the shared Cache and Budget tests: prints what it saw as JSON.

`python -m tests.middleware._redis_cost_worker budget URL KEY CALLS` makes CALLS calls
through a Budget on a RedisBudget whose limit is ten calls' estimates (each call settles to
exactly its estimate); `... cache URL NAMESPACE CALLS` makes CALLS calls (of requests 0 to
CALLS-1) through a Cache on a RedisCache. Both print {"granted" or "hits", "vendor_calls"}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal

from ashford_llm import (
    BudgetExceededError,
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
)
from ashford_llm.middleware import Budget, Cache, RedisBudget, RedisCache
from ashford_llm.middleware.cost.prices import NANO, price, to_nanos
from ashford_llm.middleware.rate_limit import estimate_input_tokens
from ashford_llm.middleware.rate_limit.media import vendor_of
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider

INFO = ProviderInfo(name="openai", model="gpt-4o-mini", otel_provider_name="openai")
REQUEST = CompletionRequest([ChatMessage.user("Classify this ticket")], max_tokens=500)
INPUT_TOKENS = estimate_input_tokens(REQUEST, vendor=vendor_of(INFO))


def estimate_nanos() -> int:
    """What Budget reserves for REQUEST, in nano-USD."""
    cost = price(INFO, INFO.model, input_tokens=INPUT_TOKENS, output_tokens=500)
    assert cost.total is not None
    return to_nanos(cost.total)


def exact(request: CompletionRequest) -> CompletionResponse:
    """An answer whose real cost equals the estimate, so settling changes nothing."""
    return CompletionResponse(
        content="billing", model="gpt-4o-mini", input_tokens=INPUT_TOKENS, output_tokens=500,
        latency_ms=1.0, finish_reason="stop", provider="openai",
    )  # fmt: skip


async def budget(url: str, key: str, calls: int) -> dict[str, int]:
    provider = MockProvider(exact, info=INFO)
    async with RedisBudget(url=url) as backend:
        limit = Decimal(10 * estimate_nanos()) / NANO
        layer = Budget(provider, limit=limit, window=3600, key=key, backend=backend)
        granted = 0
        for _ in range(calls):
            try:
                await layer.complete(REQUEST)
            except BudgetExceededError:
                continue
            granted += 1
    return {"granted": granted, "vendor_calls": len(provider.requests)}


async def cache(url: str, namespace: str, calls: int) -> dict[str, int]:
    provider = MockProvider(lambda request: f"answer to {request.messages[0].text}")
    async with RedisCache(url=url, namespace=namespace) as backend:
        layer = Cache(provider, backend=backend)
        hits = 0
        for index in range(calls):
            request = CompletionRequest([ChatMessage.user(f"question {index}")])
            response = await layer.complete(request)
            assert response.content == f"answer to question {index}"
            hits += response.cached
    return {"hits": hits, "vendor_calls": len(provider.requests)}


def main() -> None:
    mode, url, name, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    run = budget if mode == "budget" else cache
    print(json.dumps(asyncio.run(run(url, name, calls))))


if __name__ == "__main__":
    main()
