"""Budget in virtual time: reservation from the estimate, refusal, settlement to the real
cost, windows, failures, streams and per-key budgets (MemoryBudget with an injected clock)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import pytest

from ashford_llm import (
    BudgetExceededError,
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    ServerError,
    StreamEnd,
)
from ashford_llm.middleware import Budget, Cost, MemoryBudget, Retry
from ashford_llm.middleware.cost.prices import NANO, price, price_response, to_nanos
from ashford_llm.middleware.rate_limit import estimate_input_tokens
from ashford_llm.middleware.rate_limit.media import vendor_of
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider, MockStream

INFO = ProviderInfo(name="openai", model="gpt-4o-mini", otel_provider_name="openai")
REQUEST = CompletionRequest([ChatMessage.user("Classify this ticket please")], max_tokens=1000)


class Clock:
    """Virtual wall-clock seconds, moved by the test."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(input_tokens: int = 10, output_tokens: int = 100) -> CompletionResponse:
    return CompletionResponse(
        content="billing", model="gpt-4o-mini-2024-07-18", input_tokens=input_tokens,
        output_tokens=output_tokens, latency_ms=1.0, finish_reason="stop", provider="openai",
    )  # fmt: skip


def estimate(request: CompletionRequest = REQUEST) -> tuple[Decimal, Decimal]:
    """The (whole, input-only) reservation Budget should make for a request."""
    cost = price(
        INFO,
        "gpt-4o-mini",
        input_tokens=estimate_input_tokens(request, vendor=vendor_of(INFO)),
        output_tokens=request.max_tokens or 4096,
    )
    assert cost.total is not None
    assert cost.input is not None
    return cost.total, cost.input


def real(response: CompletionResponse) -> Decimal:
    cost = price_response(response, INFO, batch=False)
    assert cost.total is not None
    return cost.total


def budget(
    script: Any, limit: Decimal, clock: Clock, **options: Any
) -> tuple[Budget, MemoryBudget]:
    backend = MemoryBudget(clock=clock)
    layer = Budget(
        MockProvider(script, model="gpt-4o-mini", info=INFO),
        limit=limit,
        window=3600,
        backend=backend,
        **options,
    )
    return layer, backend


def usd(nanos: int) -> Decimal:
    return Decimal(nanos) / NANO


async def test_budget_settles_each_call_to_its_real_cost() -> None:
    clock = Clock()
    layer, backend = budget([answer(), answer(20, 300)], Decimal("1"), clock)
    await layer.complete(REQUEST)
    assert backend.spent("default", window=3600) == usd(to_nanos(real(answer())))
    await layer.complete(REQUEST)
    assert backend.spent("default", window=3600) == usd(
        to_nanos(real(answer())) + to_nanos(real(answer(20, 300)))
    )


async def test_budget_refuses_a_call_whose_estimate_would_pass_the_limit() -> None:
    clock = Clock()
    whole, _ = estimate()
    spent = real(answer(10, 1000))
    # Room for one reservation, then (after settling) not for a second.
    limit = whole + spent - Decimal("0.000001")
    provider = MockProvider([answer(10, 1000), answer()], info=INFO)
    layer = Budget(provider, limit=limit, window=3600, backend=MemoryBudget(clock=clock))
    await layer.complete(REQUEST)
    with pytest.raises(BudgetExceededError) as caught:
        await layer.complete(REQUEST)
    assert len(provider.requests) == 1  # refused before the call
    assert not caught.value.retryable
    assert caught.value.retry_after == pytest.approx(3600 - clock.now % 3600)
    assert "budget 'default' has spent $" in str(caught.value)
    # A smaller request still fits.
    small = CompletionRequest([ChatMessage.user("Hi")], max_tokens=10)
    assert (await layer.complete(small)).content == "billing"


async def test_budget_window_resets_at_its_boundary_in_virtual_time() -> None:
    clock = Clock(now=3600 * 1000 + 3599.0)  # one second before a window ends
    whole, _ = estimate()
    layer, backend = budget([answer(10, 1000)] * 3, whole, clock)
    await layer.complete(REQUEST)
    with pytest.raises(BudgetExceededError) as caught:
        await layer.complete(REQUEST)
    assert caught.value.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    assert backend.spent("default", window=3600) == 0
    await layer.complete(REQUEST)
    assert backend.spent("default", window=3600) == usd(to_nanos(real(answer(10, 1000))))


async def test_a_failed_call_keeps_only_its_input_estimate_charged() -> None:
    clock = Clock()
    layer, backend = budget([ServerError("down")], Decimal("1"), clock)
    with pytest.raises(ServerError):
        await layer.complete(REQUEST)
    _, input_only = estimate()
    assert backend.spent("default", window=3600) == usd(to_nanos(input_only))
    assert backend.spent("default", window=3600) > 0


async def test_budget_inside_retry_reserves_and_settles_per_attempt() -> None:
    clock = Clock()
    backend = MemoryBudget(clock=clock)

    async def no_wait(seconds: float) -> None:
        pass

    provider = MockProvider([ServerError("down"), answer()], info=INFO)
    inner = Budget(provider, limit=Decimal("1"), window=3600, backend=backend)
    stack = Retry(inner, sleep=no_wait)
    assert (await stack.complete(REQUEST)).attempts == 2
    _, input_only = estimate()
    assert backend.spent("default", window=3600) == usd(
        to_nanos(input_only) + to_nanos(real(answer()))
    )


async def test_concurrent_calls_never_reserve_past_the_limit() -> None:
    clock = Clock()
    whole, _ = estimate()
    gate = asyncio.Event()

    async def slow(request: CompletionRequest) -> CompletionResponse:
        await gate.wait()
        return answer(10, 1000)

    layer, _ = budget(slow, usd(3 * to_nanos(whole)), clock)
    tasks = [asyncio.create_task(layer.complete(REQUEST)) for _ in range(5)]
    await asyncio.sleep(0)  # every task has reserved, or been refused, and waits
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(result).__name__ for result in results].count("BudgetExceededError") == 2
    assert sum(isinstance(result, CompletionResponse) for result in results) == 3


async def test_settled_spend_uses_the_cost_layers_price_when_it_is_below() -> None:
    clock = Clock()
    backend = MemoryBudget(clock=clock)
    cost = Cost(MockProvider([answer()], info=INFO))
    layer = Budget(cost, limit=Decimal("1"), window=3600, backend=backend)
    response = await layer.complete(REQUEST)
    assert response.cost is not None
    assert response.cost.total is not None
    assert backend.spent("default", window=3600) == usd(to_nanos(response.cost.total))


async def test_a_stream_that_fails_before_its_first_event_keeps_its_input_estimate() -> None:
    clock = Clock()
    layer, backend = budget([ServerError("down")], Decimal("1"), clock)
    with pytest.raises(ServerError):
        async for _ in layer.stream(REQUEST):
            pass
    _, input_only = estimate()
    assert backend.spent("default", window=3600) == usd(to_nanos(input_only))


async def test_a_stream_settles_at_its_end() -> None:
    clock = Clock()
    layer, backend = budget([MockStream(chunks=["a ", "b"])], Decimal("1"), clock)
    events = [event async for event in layer.stream(REQUEST)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert backend.spent("default", window=3600) == usd(to_nanos(real(end.response)))


async def test_a_stream_closed_after_its_first_event_keeps_the_whole_reservation() -> None:
    clock = Clock()
    layer, backend = budget([MockStream(chunks=["a ", "b ", "c"])], Decimal("1"), clock)
    async with aclosing(layer.stream(REQUEST)) as events:
        async for _ in events:
            break
    whole, _ = estimate()
    assert backend.spent("default", window=3600) == usd(to_nanos(whole))


async def test_a_cancelled_call_keeps_its_whole_reservation() -> None:
    clock = Clock()
    started = asyncio.Event()

    async def hang(request: CompletionRequest) -> CompletionResponse:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("never")

    layer, backend = budget(hang, Decimal("1"), clock)
    task = asyncio.create_task(layer.complete(REQUEST))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    whole, _ = estimate()
    assert backend.spent("default", window=3600) == usd(to_nanos(whole))


async def test_budget_keys_by_a_function_of_the_request_keep_tenants_apart() -> None:
    clock = Clock()
    whole, _ = estimate()
    backend = MemoryBudget(clock=clock)

    def tenant(request: CompletionRequest) -> str:
        return request.messages[0].text.split(":")[0]

    layer = Budget(
        MockProvider(lambda request: answer(10, 1000), info=INFO),
        limit=whole,
        window=3600,
        key=tenant,
        backend=backend,
    )
    acme = CompletionRequest([ChatMessage.user("acme: Classify this ticket")], max_tokens=1000)
    globex = CompletionRequest([ChatMessage.user("globex: Classify this ticket")], max_tokens=1000)
    await layer.complete(acme)
    with pytest.raises(BudgetExceededError, match="'acme'"):
        await layer.complete(acme)
    await layer.complete(globex)  # its own budget
    assert backend.spent("acme", window=3600) == backend.spent("globex", window=3600) > 0


async def test_two_stacks_sharing_one_memory_budget_share_its_limit() -> None:
    clock = Clock()
    whole, _ = estimate()
    backend = MemoryBudget(clock=clock)
    stacks = [
        Budget(MockProvider([answer(10, 1000)], info=INFO), limit=whole, window=60, backend=backend)
        for _ in range(2)
    ]
    await stacks[0].complete(REQUEST)
    with pytest.raises(BudgetExceededError):
        await stacks[1].complete(REQUEST)


def test_budget_rejects_bad_options_and_unpriceable_models_when_built() -> None:
    provider = MockProvider([], info=INFO)
    for limit in (0, -1, "ten", float("nan"), True):
        with pytest.raises(ValueError, match="limit"):
            Budget(provider, limit=limit, window=60)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        Budget(provider, limit=1, window=0)
    with pytest.raises(ValueError, match="key"):
        Budget(provider, limit=1, window=60, key="")
    with pytest.raises(TypeError, match="backend"):
        Budget(provider, limit=1, window=60, backend=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot price"):
        Budget(MockProvider([]), limit=1, window=60)
    assert repr(Budget(provider, limit="5", window=86400, key="jobs")).startswith(
        "Budget(limit=5, window=86400, key='jobs') -> "
    )


async def test_a_settlement_after_its_window_ended_leaves_the_new_window_alone() -> None:
    clock = Clock(now=3600 * 1000 + 3599.5)
    backend = MemoryBudget(clock=clock)
    hold = await backend.reserve("k", 500, limit=1_000, window=3600)
    clock.now += 1.0  # the call ends in the next window
    second = await backend.reserve("k", 300, limit=1_000, window=3600)
    await backend.settle(hold, 100)
    assert (second.spent, backend.spent("k", window=3600)) == (0, usd(300))


async def test_a_key_function_returning_no_key_fails_clearly() -> None:
    layer = Budget(MockProvider(["x"], info=INFO), limit=1, window=60, key=lambda request: "")
    with pytest.raises(ValueError, match="non-empty string"):
        await layer.complete(REQUEST)


async def test_batch_budgets_reserve_and_settle_at_the_batch_price() -> None:
    clock = Clock()
    layer, backend = budget([answer(1000, 1000)], Decimal("1"), clock, batch=True)
    await layer.complete(REQUEST)
    batch = price_response(answer(1000, 1000), INFO, batch=True)
    assert batch.total is not None
    assert batch.total < real(answer(1000, 1000))
    assert backend.spent("default", window=3600) == usd(to_nanos(batch.total))
