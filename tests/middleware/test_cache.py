"""Cache: the key, TTL and LRU in virtual time, what is stored, replayed streams, single
flight with failing and cancelled leaders, and the hit marked on response, span and metric."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    CallCost,
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    ImagePart,
    ReasoningConfig,
    ReasoningPart,
    ServerError,
    StreamEnd,
    TextPart,
    Tool,
    ToolCall,
)
from ashford_llm.middleware import Cache, JsonValidation, MemoryCache, Tracing
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware.cache import cache_key, replay
from ashford_llm.protocol import ProviderInfo
from ashford_llm.testing import MockProvider, MockStream
from ashford_llm.types import ReasoningDelta, TextDelta, ToolCallDelta

REQUEST = CompletionRequest([ChatMessage.user("Classify: my invoice is wrong")], temperature=0)
INFO = ProviderInfo(name="openai", model="gpt-4o-mini", otel_provider_name="openai")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class Clock:
    """Virtual monotonic seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def counting(text: str = "billing") -> MockProvider:
    """A provider answering every request with `text`; `.requests` counts vendor calls."""
    return MockProvider(lambda request: text)


# The key


def key(request: CompletionRequest, info: ProviderInfo = INFO) -> str:
    return cache_key(request, info)


def test_key_changes_with_everything_that_changes_the_answer() -> None:
    tool = Tool("lookup", "Finds an order", {"type": "object", "properties": {}})
    variants = [
        REQUEST,
        CompletionRequest([ChatMessage.user("Classify: my invoice is right")], temperature=0),
        CompletionRequest(REQUEST.messages, temperature=0.5),
        CompletionRequest(REQUEST.messages, temperature=0, max_tokens=10),
        CompletionRequest(REQUEST.messages, temperature=0, json_mode=True),
        CompletionRequest(REQUEST.messages, temperature=0, json_schema={"type": "object"}),
        CompletionRequest(REQUEST.messages, temperature=0, stop=["END"]),
        CompletionRequest(REQUEST.messages, temperature=0, top_p=0.5),
        CompletionRequest(REQUEST.messages, temperature=0, seed=7),
        CompletionRequest(REQUEST.messages, temperature=0, reasoning=ReasoningConfig(effort="low")),
        CompletionRequest(REQUEST.messages, temperature=0, vendor_options={"store": True}),
        CompletionRequest(REQUEST.messages, temperature=0, tools=[tool]),
        CompletionRequest(REQUEST.messages, temperature=0, tools=[tool], tool_choice="lookup"),
        CompletionRequest(REQUEST.messages, temperature=0, tools=[tool], parallel_tool_calls=False),
        CompletionRequest([ChatMessage.system("Be terse."), *REQUEST.messages], temperature=0),
        CompletionRequest([ChatMessage.user("Classify", ImagePart(data=PNG))], temperature=0),
        CompletionRequest([ChatMessage.user("Classify", ImagePart(data=PNG + b"1"))]),
        CompletionRequest([ChatMessage.user("Classify", ImagePart(url="https://x.test/a.png"))]),
    ]
    keys = {key(request) for request in variants}
    assert len(keys) == len(variants)
    infos = [
        INFO,
        ProviderInfo(name="openai", model="gpt-4o", otel_provider_name="openai"),
        ProviderInfo(name="groq", model="gpt-4o-mini", otel_provider_name="openai"),
        ProviderInfo(name="openai", model="gpt-4o-mini", temperature=0.7),
        ProviderInfo(name="openai", model="gpt-4o-mini", max_output_tokens=100),
    ]
    assert len({key(REQUEST, info) for info in infos}) == len(infos)


def test_key_is_the_same_for_equal_requests_whatever_their_dict_order() -> None:
    a = CompletionRequest(
        [ChatMessage.user("Classify", ImagePart(data=PNG))],
        vendor_options={"a": 1, "b": {"c": 2, "d": 3}},
        json_schema={"type": "object", "required": ["x"]},
    )
    b = CompletionRequest(
        [ChatMessage.user("Classify", ImagePart(data=bytes(PNG)))],
        vendor_options={"b": {"d": 3, "c": 2}, "a": 1},
        json_schema={"required": ["x"], "type": "object"},
    )
    assert key(a) == key(b)
    assert len(key(a)) == 64


# Hits, TTL and LRU in virtual time


async def test_a_repeat_is_served_from_the_cache_without_a_vendor_call() -> None:
    provider = counting()
    layer = Cache(provider)
    first = await layer.complete(REQUEST)
    second = await layer.complete(REQUEST)
    assert (first.cached, second.cached) == (False, True)
    assert second.content == first.content == "billing"
    assert len(provider.requests) == 1


async def test_an_entry_expires_after_its_ttl_in_virtual_time() -> None:
    clock = Clock()
    provider = counting()
    layer = Cache(provider, backend=MemoryCache(clock=clock), ttl=60)
    await layer.complete(REQUEST)
    clock.now = 59.9
    assert (await layer.complete(REQUEST)).cached
    clock.now = 60.0
    assert not (await layer.complete(REQUEST)).cached
    assert len(provider.requests) == 2


async def test_memory_cache_evicts_the_least_recently_used_entry() -> None:
    backend = MemoryCache(2)
    provider = counting()
    layer = Cache(provider, backend=backend, ttl=None)
    a, b, c = (CompletionRequest([ChatMessage.user(text)]) for text in "abc")
    await layer.complete(a)
    await layer.complete(b)
    assert (await layer.complete(a)).cached  # a is now the most recently used
    await layer.complete(c)  # evicts b
    assert len(backend) == 2
    assert (await layer.complete(a)).cached
    assert not (await layer.complete(b)).cached
    assert len(provider.requests) == 4


# What is stored


async def test_failures_and_truncated_answers_are_not_stored() -> None:
    truncated = MockStream(chunks=["cut"], finish_reason="length")
    provider = MockProvider([ServerError("down"), truncated, "whole", "unused"])
    layer = Cache(provider)
    with pytest.raises(ServerError):
        await layer.complete(REQUEST)
    assert (await layer.complete(REQUEST)).finish_reason == "length"
    assert not (await layer.complete(REQUEST)).cached
    assert (await layer.complete(REQUEST)).content == "whole"
    assert provider.remaining == 1


async def test_an_abandoned_stream_is_not_stored() -> None:
    provider = MockProvider([MockStream(chunks=["a ", "b"]), "whole"])
    layer = Cache(provider)
    async with aclosing(layer.stream(REQUEST)) as events:
        async for _ in events:
            break
    response = await layer.complete(REQUEST)
    assert (response.content, response.cached) == ("whole", False)


async def test_parsed_is_not_stored_and_cost_is_kept() -> None:
    cost = CallCost(
        total=Decimal("0.00001605"), input=Decimal("4.65E-6"), output=Decimal("0.0000114")
    )
    answer = CompletionResponse(
        content='{"label": "billing"}', model="m", input_tokens=1, output_tokens=1,
        latency_ms=1.0, finish_reason="stop", provider="mock", cost=cost,
    )  # fmt: skip
    layer = Cache(JsonValidation(MockProvider([answer])))
    request = CompletionRequest(REQUEST.messages, json_mode=True)
    assert (await layer.complete(request)).parsed == {"label": "billing"}
    hit = await layer.complete(request)
    assert (hit.parsed, hit.cost, hit.cached) == (None, cost, True)


async def test_an_entry_that_does_not_decode_is_a_miss_and_is_overwritten() -> None:
    backend = MemoryCache()
    await backend.set(key(REQUEST, MockProvider([]).info), b"\xc1 not msgpack", ttl=None)
    provider = counting()
    layer = Cache(provider, backend=backend)
    assert not (await layer.complete(REQUEST)).cached
    assert (await layer.complete(REQUEST)).cached


# Streams


TOOL_ANSWER = CompletionResponse(
    parts=(
        ReasoningPart("Think first.", signature="sig"),
        TextPart("Looking it up."),
        ToolCall("call_1", "lookup", {"order": 42}),
        ToolCall("call_2", "lookup", {"order": 43}),
    ),
    model="m", input_tokens=3, output_tokens=9, latency_ms=1.0, finish_reason="tool_calls",
    provider="mock",
)  # fmt: skip


async def test_a_cached_answer_replays_as_deltas_then_its_stream_end() -> None:
    provider = MockProvider([TOOL_ANSWER])
    layer = Cache(provider)
    await layer.complete(REQUEST)
    events = [event async for event in layer.stream(REQUEST)]
    assert events[:-1] == [
        ReasoningDelta("Think first."),
        TextDelta("Looking it up."),
        ToolCallDelta(0, "call_1", "lookup", '{"order":42}'),
        ToolCallDelta(1, "call_2", "lookup", '{"order":43}'),
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response == msgspec.structs.replace(TOOL_ANSWER, cached=True)
    assert len(provider.requests) == 1


async def test_a_stream_that_ends_normally_is_stored_for_complete_and_stream() -> None:
    provider = MockProvider([MockStream(reasoning=["hmm"], chunks=["bill", "ing"])])
    layer = Cache(provider)
    streamed = [event async for event in layer.stream(REQUEST)]
    assert streamed[0] == ReasoningDelta("hmm")
    hit = await layer.complete(REQUEST)
    assert (hit.content, hit.reasoning_text, hit.cached) == ("billing", "hmm", True)
    replayed = [event async for event in layer.stream(REQUEST)]
    assert replayed[:-1] == [ReasoningDelta("hmm"), TextDelta("billing")]
    assert len(provider.requests) == 1


def test_replay_skips_empty_text_and_signature_only_reasoning() -> None:
    answer = CompletionResponse(
        parts=(ReasoningPart("", signature="s"), TextPart("ok")),
        model="m", input_tokens=1, output_tokens=1, latency_ms=1.0, finish_reason="stop",
        provider="mock",
    )  # fmt: skip
    assert replay(answer)[:-1] == [TextDelta("ok")]


# Single flight


async def test_concurrent_identical_misses_make_one_vendor_call() -> None:
    gate = asyncio.Event()

    async def slow(request: CompletionRequest) -> str:
        await gate.wait()
        return "billing"

    provider = MockProvider(slow)
    layer = Cache(provider)
    tasks = [asyncio.create_task(layer.complete(REQUEST)) for _ in range(5)]
    streamed = asyncio.create_task(_collect(layer, REQUEST))
    await asyncio.sleep(0)
    gate.set()
    responses = await asyncio.gather(*tasks)
    events = await streamed
    assert len(provider.requests) == 1
    assert [r.content for r in responses] == ["billing"] * 5
    assert sorted(r.cached for r in responses) == [False, True, True, True, True]
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.content == "billing"


async def _collect(layer: Cache, request: CompletionRequest) -> list[Any]:
    return [event async for event in layer.stream(request)]


async def test_when_the_leader_fails_every_waiter_gets_the_same_error_and_nothing_is_stored() -> (
    None
):
    gate = asyncio.Event()
    calls = 0

    async def failing_once(request: CompletionRequest) -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        if calls == 1:
            raise ServerError("vendor down", status=503)
        return "billing"

    layer = Cache(MockProvider(failing_once))
    tasks = [asyncio.create_task(layer.complete(REQUEST)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["ServerError"] * 3
    assert all(str(r) == str(results[0]) for r in results)
    assert calls == 1
    assert (await layer.complete(REQUEST)).content == "billing"  # tried again, not cached
    assert calls == 2


async def test_a_cancelled_leader_does_not_poison_its_waiters_one_takes_over() -> None:
    started = asyncio.Event()
    calls = 0

    async def slow(request: CompletionRequest) -> str:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(0 if calls > 1 else 3600)
        return "billing"

    layer = Cache(MockProvider(slow))
    leader = asyncio.create_task(layer.complete(REQUEST))
    await started.wait()
    waiters = [asyncio.create_task(layer.complete(REQUEST)) for _ in range(3)]
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    responses = await asyncio.gather(*waiters)
    assert [r.content for r in responses] == ["billing"] * 3
    assert calls == 2  # the cancelled call, and one waiter's
    assert sorted(r.cached for r in responses) == [False, True, True]


async def test_a_cancelled_waiter_leaves_the_leader_and_other_waiters_alone() -> None:
    gate = asyncio.Event()

    async def slow(request: CompletionRequest) -> str:
        await gate.wait()
        return "billing"

    provider = MockProvider(slow)
    layer = Cache(provider)
    leader = asyncio.create_task(layer.complete(REQUEST))
    await asyncio.sleep(0)
    waiter, other = (asyncio.create_task(layer.complete(REQUEST)) for _ in range(2))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    assert (await leader).content == (await other).content == "billing"
    assert len(provider.requests) == 1


async def test_a_stream_leader_closed_early_hands_the_call_to_a_waiter() -> None:
    calls = 0

    def answer(request: CompletionRequest) -> MockStream:
        nonlocal calls
        calls += 1
        return MockStream(chunks=["bill", "ing"], chunk_delay=0.01 if calls == 1 else 0)

    layer = Cache(MockProvider(answer))
    async with aclosing(layer.stream(REQUEST)) as events:
        await anext(events)
        waiter = asyncio.create_task(layer.complete(REQUEST))
        await asyncio.sleep(0)
    response = await waiter
    assert (response.content, calls) == ("billing", 2)


# Marked on the span and counted


async def test_hits_and_misses_are_marked_on_the_span_and_counted() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    cache = Cache(MockProvider(lambda r: "billing", info=INFO), meter_provider=meter_provider)
    stack = Tracing(cache, tracer_provider=tracer_provider, meter_provider=meter_provider)
    await stack.complete(REQUEST)
    await stack.complete(REQUEST)
    _ = [event async for event in stack.stream(REQUEST)]
    hits = [span.attributes[sc.CACHE_HIT] for span in spans.get_finished_spans()]  # type: ignore[index]
    assert hits == [False, True, True]
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        point.attributes[sc.CACHE_HIT]: point.value  # type: ignore[index,union-attr]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == sc.CACHE_LOOKUPS
        for point in metric.data.data_points
    }
    assert points == {False: 1, True: 2}


def test_cache_rejects_bad_options_when_built() -> None:
    with pytest.raises(ValueError, match="ttl"):
        Cache(MockProvider([]), ttl=0)
    with pytest.raises(TypeError, match="backend"):
        Cache(MockProvider([]), backend={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(0)
    assert repr(Cache(MockProvider([]), ttl=None)).startswith(
        "Cache(backend=MemoryCache(max_entries=1024, entries=0), ttl=None) -> "
    )
