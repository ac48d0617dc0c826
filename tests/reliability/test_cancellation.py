"""Cancelling a call at any point releases connections, limiter capacity and slots, and tasks.

Every test drives a real `httpx.AsyncClient` against a loopback server, cancels the caller's
task at one point (mid-request, mid-stream, in Retry's backoff, inside Timeout, waiting on
the RateLimit limiter), then proves: the client's pool holds no active connection and no
pending request, the server saw the cancelled connection close (only idle keep-alive ones
stay open), the limiter admits the next call at once, and no task is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    LLMTimeoutError,
    StreamEvent,
    TextDelta,
)
from ashford_llm.middleware import RateLimit, Retry, RetryEvent, Timeout, Tracing
from ashford_llm.middleware import _semconv as sc
from ashford_llm.protocol import LLMProvider
from tests.reliability._loopback import Answer, LoopbackServer, loopback, sse_answer
from tests.reliability.vendors import VENDORS, error_body, make_provider, ok_body, sse_events

REQUEST = CompletionRequest([ChatMessage.user("Hello")], max_tokens=600)
JSON = [("content-type", "application/json")]


def active_connections(client: httpx.AsyncClient) -> list[Any]:
    """The pool's connections that are neither idle nor closed (a request still owns them)."""
    pool = client._transport._pool  # type: ignore[attr-defined]
    return [c for c in pool.connections if not (c.is_idle() or c.is_closed())]


def idle_connections(client: httpx.AsyncClient) -> int:
    """How many keep-alive connections wait in the pool."""
    pool = client._transport._pool  # type: ignore[attr-defined]
    return sum(1 for c in pool.connections if c.is_idle())


async def assert_released(client: httpx.AsyncClient, server: LoopbackServer) -> None:
    """No connection is in use, none is queued, and the server holds only idle ones open."""
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert active_connections(client) == []
    assert list(pool._requests) == []
    for _ in range(1000):  # the server notices a closed socket within a few loop turns
        if server.open_connections == idle_connections(client):
            break
        await asyncio.sleep(0.005)
    assert server.open_connections == idle_connections(client)


def assert_no_tasks_left() -> None:
    """Only the test's own task is running."""
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def drain(events: AsyncIterator[StreamEvent], seen: list[StreamEvent]) -> None:
    """Reads a stream to its end, keeping its events."""
    async for event in events:
        seen.append(event)


async def settle() -> None:
    """Lets the other tasks run until they wait (on the server, a lock, a timer)."""
    await asyncio.sleep(0.05)


async def cancelled(task: asyncio.Task[Any], ready: Callable[[], Awaitable[object]]) -> None:
    """Cancels `task` once `ready()` has returned, and checks it ended cancelled."""
    async with asyncio.timeout(5):
        await ready()
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# Mid-request and mid-stream, each vendor, provider alone


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("kind", ["complete", "stream"])
async def test_cancelling_mid_request_closes_the_connection(vendor: str, kind: str) -> None:
    async with loopback([Answer(hang=True)]) as server, httpx.AsyncClient() as client:
        provider = make_provider(vendor, server.url, client, api_key="k-test")
        call = (
            provider.complete(REQUEST)
            if kind == "complete"
            else drain(provider.stream(REQUEST), [])
        )
        task = asyncio.create_task(call)
        await cancelled(task, server.received.wait)
        await assert_released(client, server)
        assert server.open_connections == 0
    assert_no_tasks_left()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_cancelling_mid_stream_closes_the_connection(vendor: str) -> None:
    answer = sse_answer(sse_events(vendor, ["Hel", "lo"], end=False), hold=True)
    async with loopback([answer]) as server, httpx.AsyncClient() as client:
        provider = make_provider(vendor, server.url, client, api_key="k-test")
        seen: list[StreamEvent] = []
        two_deltas = asyncio.Event()

        async def read() -> None:
            async for event in provider.stream(REQUEST):
                seen.append(event)
                if len(seen) == 2:
                    two_deltas.set()

        task = asyncio.create_task(read())
        await cancelled(task, two_deltas.wait)
        assert seen == [TextDelta("Hel"), TextDelta("lo")]
        await assert_released(client, server)
        assert server.open_connections == 0
    assert_no_tasks_left()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_abandoning_a_stream_closes_the_connection(vendor: str) -> None:
    answer = sse_answer(sse_events(vendor, ["Hel", "lo"], end=False), hold=True)
    async with loopback([answer]) as server, httpx.AsyncClient() as client:
        provider = make_provider(vendor, server.url, client, api_key="k-test")
        events = provider.stream(REQUEST)
        assert await anext(events) == TextDelta("Hel")
        await events.aclose()  # type: ignore[attr-defined]
        await assert_released(client, server)
        assert server.open_connections == 0
    assert_no_tasks_left()


# Layers: Retry's backoff, Timeout, RateLimit's limiter and slot


def stack(client: httpx.AsyncClient, server: LoopbackServer, *layers: Any) -> LLMProvider:
    """An OpenAI provider on the loopback server under `layers` (outermost first)."""
    builder = ClientBuilder()
    for layer, options in layers:
        builder = builder.use(layer, **options)
    return builder.build(make_provider("openai", server.url, client, api_key="k-test"))


def server_error() -> Answer:
    return Answer(status=500, headers=JSON, body=error_body("openai", 500, "boom"))


@pytest.mark.parametrize("kind", ["complete", "stream"])
async def test_cancelling_in_retry_backoff_stops_retrying_and_keeps_the_connection_idle(
    kind: str,
) -> None:
    waiting = asyncio.Event()

    def on_retry(event: RetryEvent) -> None:
        waiting.set()

    retry = {"max_retries": 3, "base_delay": 60, "max_delay": 60, "jitter": lambda: 1.0}
    async with loopback([server_error()]) as server, httpx.AsyncClient() as client:
        llm = stack(client, server, (Retry, {**retry, "on_retry": on_retry}))
        call = llm.complete(REQUEST) if kind == "complete" else drain(llm.stream(REQUEST), [])
        task = asyncio.create_task(call)
        await cancelled(task, waiting.wait)
        assert len(server.requests) == 1  # no attempt after the cancelled wait
        await assert_released(client, server)
        assert idle_connections(client) == 1  # the 500 was read whole: reusable
    assert_no_tasks_left()


@pytest.mark.parametrize("kind", ["complete", "stream"])
async def test_cancelling_a_call_inside_timeout_stays_a_cancellation(kind: str) -> None:
    async with loopback([Answer(hang=True)]) as server, httpx.AsyncClient() as client:
        llm = stack(client, server, (Timeout, {"total": 600, "first_token": 600}))
        call = llm.complete(REQUEST) if kind == "complete" else drain(llm.stream(REQUEST), [])
        task = asyncio.create_task(call)
        await cancelled(task, server.received.wait)  # CancelledError, not LLMTimeoutError
        await assert_released(client, server)
        assert server.open_connections == 0
    assert_no_tasks_left()


@pytest.mark.parametrize("kind", ["complete", "stream"])
async def test_timeout_expiry_closes_the_connection(kind: str) -> None:
    answer = sse_answer(sse_events("openai", ["Hel"], end=False), hold=True)
    script = [Answer(hang=True)] if kind == "complete" else [answer]
    async with loopback(script) as server, httpx.AsyncClient() as client:
        deadlines = {"total": 0.2} if kind == "complete" else {"total": 5, "idle": 0.2}
        llm = stack(client, server, (Timeout, deadlines))
        seen: list[StreamEvent] = []
        with pytest.raises(LLMTimeoutError):
            if kind == "complete":
                await llm.complete(REQUEST)
            else:
                await drain(llm.stream(REQUEST), seen)
        assert seen == ([] if kind == "complete" else [TextDelta("Hel")])
        await assert_released(client, server)
        assert server.open_connections == 0
    assert_no_tasks_left()


async def test_cancelled_calls_give_back_the_rate_limit_slot_tokens_and_end_their_spans() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    # 1000 tokens fit a second call of 2 + 600 only if the cancelled stream was refunded.
    limits = {"max_concurrency": 1, "tokens_per_minute": 1000, "requests_per_minute": 600}
    held = sse_answer(sse_events("openai", ["Hel", "lo"], end=False), hold=True)
    ok = Answer(headers=JSON, body=ok_body("openai", "after"))
    async with loopback([held, ok, ok]) as server, httpx.AsyncClient() as client:
        llm = stack(
            client,
            server,
            (Tracing, {"tracer_provider": tracer_provider}),
            (Retry, {"max_retries": 2}),
            (RateLimit, limits),
            (Timeout, {"total": 600}),
        )
        streaming = asyncio.create_task(drain(llm.stream(REQUEST), []))
        async with asyncio.timeout(5):
            await server.answered.wait()  # the stream holds the only slot, mid-stream
        queued = asyncio.create_task(llm.complete(REQUEST))  # waits for the slot
        await cancelled(queued, settle)  # waiting on the limiter for the slot
        await cancelled(streaming, settle)  # mid-stream, holding the slot and tokens
        first = await asyncio.wait_for(llm.complete(REQUEST), 2)
        second = await asyncio.wait_for(llm.complete(REQUEST), 2)
        assert (first.content, second.content) == ("after", "after")
        assert len(server.requests) == 3  # the queued call never reached the server
        await assert_released(client, server)
    assert_no_tasks_left()
    ended = [span.attributes or {} for span in spans.get_finished_spans()]
    assert [a.get(sc.ERROR_TYPE) for a in ended] == [
        sc.ERROR_TYPE_CANCELLED,
        sc.ERROR_TYPE_CANCELLED,
        None,
        None,
    ]
