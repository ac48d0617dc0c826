"""Fallback over MockProviders, in virtual time: switches, streams, spans, cancellation."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    ChatMessage,
    CircuitOpenError,
    ClientBuilder,
    CompletionRequest,
    ContentFilterError,
    InvalidRequestError,
    LLMError,
    MidStreamError,
    NetworkError,
    PermissionDeniedError,
    ProviderInfo,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from ashford_llm.middleware import Fallback, FallbackEvent, Retry, Timeout, iter_layers
from ashford_llm.middleware import _semconv as sc
from ashford_llm.testing import MockProvider, MockStream
from tests.middleware.virtual_time import VirtualClock

REQUEST = CompletionRequest([ChatMessage.user("hello")])


def mock(
    script: list[object], name: str, model: str = "m", vendor: str | None = None
) -> MockProvider:
    info = ProviderInfo(name=name, model=model, otel_provider_name=vendor)
    return MockProvider(script, name=name, model=model, info=info)  # type: ignore[arg-type]


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


# Complete


async def test_a_retryable_failure_moves_on_and_the_answer_names_its_provider() -> None:
    first, second = mock([ServerError("down", provider="a")], "a"), mock(["hi"], "b", "mb")
    response = await Fallback(first, second).complete(REQUEST)
    assert (response.content, response.provider, response.model) == ("hi", "b", "mb")
    assert response.attempts == 2
    assert (len(first.requests), len(second.requests)) == (1, 1)


async def test_the_first_provider_answering_never_calls_the_others() -> None:
    first, second = mock(["hi"], "a"), mock([], "b")
    response = await Fallback(first, second).complete(REQUEST)
    assert (response.provider, response.attempts, len(second.requests)) == ("a", 1, 0)


@pytest.mark.parametrize(
    "error", [QuotaExhaustedError, ContentFilterError, PermissionDeniedError, CircuitOpenError]
)
async def test_each_default_on_class_moves_on(error: type[LLMError]) -> None:
    second = mock(["hi"], "b")
    response = await Fallback(mock([error("no")], "a"), second).complete(REQUEST)
    assert response.provider == "b"


async def test_a_fatal_error_not_named_in_on_ends_the_call_at_once() -> None:
    bad = InvalidRequestError("bad request")
    second = mock(["never"], "b")
    with pytest.raises(InvalidRequestError) as caught:
        await Fallback(mock([bad], "a"), second).complete(REQUEST)
    assert caught.value is bad
    assert second.requests == []


async def test_on_replaces_the_fatal_classes_that_move_on() -> None:
    second = mock(["never"], "b")
    layer = Fallback(mock([QuotaExhaustedError("used up")], "a"), second, on=())
    with pytest.raises(QuotaExhaustedError):
        await layer.complete(REQUEST)
    layer = Fallback(mock([InvalidRequestError("too long")], "a"), second, on=[InvalidRequestError])
    assert (await layer.complete(REQUEST)).content == "never"


async def test_when_every_provider_fails_the_last_error_carries_the_others() -> None:
    errors = [ServerError("a down"), QuotaExhaustedError("b used up"), NetworkError("c reset")]
    providers = [mock([error], name) for error, name in zip(errors, "abc", strict=True)]
    with pytest.raises(NetworkError) as caught:
        await Fallback(*providers).complete(REQUEST)
    assert caught.value is errors[2]
    assert caught.value.fallback_errors == (errors[0], errors[1])
    assert caught.value.attempts == 3


async def test_a_non_llm_error_propagates_unchanged() -> None:
    bug = KeyError("bug")
    second = mock(["never"], "b")
    with pytest.raises(KeyError) as caught:
        await Fallback(mock([bug], "a"), second).complete(REQUEST)
    assert caught.value is bug
    assert second.requests == []


async def test_fallback_outside_retry_moves_on_only_after_the_retries() -> None:
    clock = VirtualClock()
    first = mock([ServerError("1"), ServerError("2"), ServerError("3")], "a")
    retry = {"max_retries": 2, "jitter": lambda: 1.0, "clock": clock, "sleep": clock.sleep}
    stack = ClientBuilder().fallback(mock(["hi"], "b")).use(Retry, **retry).build(first)  # type: ignore[arg-type]
    response = await stack.complete(REQUEST)
    assert (response.provider, response.attempts) == ("b", 4)  # three on a, one on b
    assert len(first.requests) == 3
    assert clock.sleeps == [0.5, 1.0]  # a's backoffs only; b ran at once


async def test_the_fallback_hook_sees_each_switch() -> None:
    seen: list[FallbackEvent] = []

    async def hook(event: FallbackEvent) -> None:
        seen.append(event)

    error = RateLimitError("slow down")
    layer = Fallback(mock([error], "a", "ma"), mock(["hi"], "b", "mb"), on_fallback=hook)
    await layer.complete(REQUEST)
    assert [(e.skipped.name, e.error, e.next.model, e.index) for e in seen] == [
        ("a", error, "mb", 1)
    ]


# Streams


async def test_a_stream_failing_before_its_first_event_moves_on() -> None:
    first = mock([MockStream(chunks=[], error=ServerError("down"))], "a")
    events = await collect(Fallback(first, mock(["x y"], "b")).stream(REQUEST))
    assert events[:-1] == [TextDelta("x "), TextDelta("y")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.response.provider, end.response.attempts) == ("b", 2)


async def test_a_stream_failing_after_text_ends_in_mid_stream_error_without_mixing() -> None:
    first = mock([MockStream(chunks=["half "], error=ServerError("cut"))], "a")
    second = mock(["never"], "b")
    received: list[StreamEvent] = []
    with pytest.raises(MidStreamError) as caught:
        async for event in Fallback(first, second).stream(REQUEST):
            received.append(event)
    assert received == [TextDelta("half ")]
    assert caught.value.partial_text == "half "
    assert isinstance(caught.value.__cause__, ServerError)
    assert second.requests == []


async def test_a_fallback_stream_failing_after_text_counts_every_attempt() -> None:
    first = mock([ServerError("down")], "a")
    second = mock([MockStream(chunks=["half "], error=MidStreamError("cut", attempts=2))], "b")
    with pytest.raises(MidStreamError) as caught:
        await collect(Fallback(first, second).stream(REQUEST))
    assert caught.value.attempts == 3
    assert [type(error) for error in caught.value.fallback_errors] == [ServerError]


async def test_a_fallback_stream_broken_after_text_keeps_the_earlier_errors() -> None:
    down = ServerError("down")
    first = mock([down], "a")
    second = mock([MockStream(chunks=["half "], error=NetworkError("reset"))], "b")
    with pytest.raises(MidStreamError) as caught:
        await collect(Fallback(first, second).stream(REQUEST))
    assert caught.value.fallback_errors == (down,)
    assert isinstance(caught.value.__cause__, NetworkError)
    assert (caught.value.partial_text, caught.value.attempts) == ("half ", 2)


async def test_a_fatal_stream_failure_after_text_stays_fatal() -> None:
    first = mock([MockStream(chunks=["half"], error=ContentFilterError("blocked"))], "a")
    second = mock(["never"], "b")
    with pytest.raises(ContentFilterError):
        await collect(Fallback(first, second).stream(REQUEST))
    assert second.requests == []


# Spans


async def test_the_span_names_the_answering_provider_and_each_switch(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    layer = Fallback(
        mock([ServerError("down")], "a", "ma"),
        mock([QuotaExhaustedError("used up")], "b", "mb"),
        mock(["hi"], "c", "mc"),
    )
    with provider.get_tracer("test").start_as_current_span("call"):
        await layer.complete(REQUEST)
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes[sc.FALLBACK_PROVIDER] == "c"
    assert span.attributes[sc.FALLBACK_MODEL] == "mc"
    assert span.attributes[sc.FALLBACK_INDEX] == 2
    switches = [dict(event.attributes or {}) for event in span.events]
    assert [event.name for event in span.events] == [sc.FALLBACK_EVENT] * 2
    assert [
        (s[sc.FALLBACK_SKIPPED_PROVIDER], s[sc.ERROR_TYPE], s[sc.FALLBACK_NEXT_PROVIDER])
        for s in switches
    ] == [("a", "ServerError", "b"), ("b", "QuotaExhaustedError", "c")]


# Cancellation


@pytest.mark.parametrize("stream", [False, True])
async def test_cancelling_during_a_fallback_attempt_cancels_it_and_starts_no_other(
    stream: bool,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hang(request: CompletionRequest) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    third = mock(["never"], "c")
    layer = Fallback(mock([ServerError("down")], "a"), MockProvider(hang, name="b"), third)
    call = collect(layer.stream(REQUEST)) if stream else layer.complete(REQUEST)
    task = asyncio.ensure_future(call)
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    assert third.requests == []


# Options a fallback cannot honour


async def test_vendor_options_across_vendors_are_refused_before_any_call() -> None:
    first, second = mock(["x"], "a", vendor="openai"), mock(["y"], "b", vendor="anthropic")
    request = CompletionRequest([ChatMessage.user("hi")], vendor_options={"service_tier": "flex"})
    with pytest.raises(InvalidRequestError, match="vendor_options") as caught:
        await Fallback(first, second).complete(request)
    assert caught.value.error_type == "fallback_vendor_options"
    with pytest.raises(InvalidRequestError):
        await collect(Fallback(first, second).stream(request))
    assert first.requests == second.requests == []
    same = Fallback(mock(["x"], "a", vendor="openai"), mock(["y"], "b", vendor="openai"))
    assert (await same.complete(request)).content == "x"


def test_fallback_rejects_bad_options_when_built() -> None:
    first = mock([], "a")
    with pytest.raises(ValueError, match="at least one"):
        Fallback(first)
    with pytest.raises(TypeError, match="provider 1"):
        Fallback(first, "b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same provider"):
        Fallback(first, first)
    with pytest.raises(TypeError, match="on must be"):
        Fallback(first, mock([], "b"), on=[KeyError])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="on must be"):
        Fallback(first, mock([], "b"), on=QuotaExhaustedError)  # type: ignore[arg-type]


# Builder


async def test_builder_fallback_builds_the_inner_layers_over_every_provider() -> None:
    first = mock([ServerError("down")], "a", "ma")
    second = mock(["hi"], "b", "mb")
    builder = ClientBuilder().fallback(second).use(Retry, max_retries=0).use(Timeout, total=5)
    stack = builder.build(first)
    assert isinstance(stack, Fallback)
    assert repr(stack) == (
        "Fallback(Retry(max_retries=0) -> Timeout(total=5) -> MockProvider(name='b', "
        "model='mb')) -> Retry(max_retries=0) -> Timeout(total=5) -> "
        "MockProvider(name='a', model='ma')"
    )
    (backup,) = stack.fallbacks
    assert [type(layer).__name__ for layer in iter_layers(backup)] == [
        "Retry",
        "Timeout",
        "MockProvider",
    ]
    assert backup is not stack.inner
    assert stack.info.name == "a"  # it answers for the provider it calls first
    assert (await stack.complete(REQUEST)).provider == "b"


def test_builder_fallback_rejects_bad_providers_and_a_second_fallback() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ClientBuilder().fallback()
    with pytest.raises(TypeError, match="LLMProviders"):
        ClientBuilder().fallback("openai")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one fallback"):
        ClientBuilder().fallback(mock([], "b")).fallback(mock([], "c"))


async def test_closing_a_fallback_closes_every_provider() -> None:
    providers = [mock([], name) for name in "abc"]
    async with Fallback(*providers):
        pass
    assert all(provider.closed for provider in providers)
