import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    ContentFilterError,
    InvalidRequestError,
    MidStreamError,
    NetworkError,
    RateLimitError,
    ServerError,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from ashford_llm.middleware import Middleware, Retry, RetryEvent
from ashford_llm.middleware._semconv import ERROR_TYPE, RETRY_ATTEMPT, RETRY_DELAY_S, RETRY_EVENT
from ashford_llm.protocol import LLMProvider
from ashford_llm.testing import MockProvider, MockStream, ScriptExhaustedError
from ashford_llm.testing.mock import ScriptItem
from tests.middleware.virtual_time import VirtualClock

REQUEST = CompletionRequest([ChatMessage.user("hello")])


def retry(
    script: list[ScriptItem], clock: VirtualClock, **options: object
) -> tuple[Retry, MockProvider]:
    """Builds a Retry over a MockProvider in virtual time, jitter pinned to its maximum."""
    mock = MockProvider(script)
    settings: dict[str, object] = {"jitter": lambda: 1.0, "clock": clock, "sleep": clock.sleep}
    settings.update(options)
    return Retry(mock, **settings), mock  # type: ignore[arg-type]


class Tracked(Middleware):
    """Records how each inner stream ended: "closed", or the name of the error it raised."""

    def __init__(self, inner: LLMProvider) -> None:
        super().__init__(inner)
        self.finished: list[str] = []

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        outcome = "closed"
        try:
            async for event in self.inner.stream(request):
                yield event
        except Exception as error:
            outcome = type(error).__name__
            raise
        finally:
            self.finished.append(outcome)


def server_error() -> ServerError:
    return ServerError("overloaded", provider="mock", status=503)


async def test_retry_returns_the_answer_after_retryable_failures() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry([server_error(), NetworkError("reset"), "fine"], clock)
    response = await layer.complete(REQUEST)
    assert response.content == "fine"
    assert response.attempts == 3
    assert len(mock.requests) == 3


async def test_first_try_success_reports_one_attempt_and_never_sleeps() -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry(["fine"], clock)
    assert (await layer.complete(REQUEST)).attempts == 1
    assert clock.sleeps == []


async def test_backoff_doubles_up_to_max_delay() -> None:
    clock = VirtualClock(1000.0)
    script: list[ScriptItem] = [server_error() for _ in range(6)]
    layer, _ = retry(script, clock, max_retries=5, base_delay=1.0, max_delay=5.0)
    with pytest.raises(ServerError):
        await layer.complete(REQUEST)
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


async def test_backoff_is_scaled_by_full_jitter() -> None:
    clock = VirtualClock(1000.0)
    factors = iter([0.5, 0.25, 0.0])
    layer, _ = retry(
        [server_error(), server_error(), server_error(), "ok"],
        clock,
        base_delay=2.0,
        jitter=lambda: next(factors),
    )
    await layer.complete(REQUEST)
    assert clock.sleeps == [1.0, 1.0, 0.0]


async def test_final_error_is_the_original_with_attempts_set() -> None:
    clock = VirtualClock(1000.0)
    last = RateLimitError("slow down", provider="mock", request_id="req-9")
    layer, _ = retry([server_error(), server_error(), last], clock, max_retries=2)
    with pytest.raises(RateLimitError) as caught:
        await layer.complete(REQUEST)
    assert caught.value is last
    assert caught.value.attempts == 3
    assert "attempts=3" in str(caught.value)


async def test_fatal_error_is_not_retried() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry([InvalidRequestError("bad model"), "never"], clock)
    with pytest.raises(InvalidRequestError) as caught:
        await layer.complete(REQUEST)
    assert caught.value.attempts == 1
    assert len(mock.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("stream", [False, True])
async def test_an_authentication_error_is_not_retried_by_default(stream: bool) -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry([AuthenticationError("bad key", status=401), "never"], clock)
    with pytest.raises(AuthenticationError) as caught:
        if stream:
            async for _ in layer.stream(REQUEST):
                pass
        else:
            await layer.complete(REQUEST)
    assert caught.value.retryable is True
    assert caught.value.attempts == 1
    assert len(mock.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("stream", [False, True])
async def test_retry_authentication_retries_an_authentication_error(stream: bool) -> None:
    clock = VirtualClock(1000.0)
    script: list[ScriptItem] = [AuthenticationError("bad key", status=401), "fine"]
    layer, mock = retry(script, clock, retry_authentication=True)
    if stream:
        events = [event async for event in layer.stream(REQUEST)]
        end = events[-1]
        assert isinstance(end, StreamEnd)
        assert end.response.content == "fine"
        assert end.response.attempts == 2
    else:
        response = await layer.complete(REQUEST)
        assert (response.content, response.attempts) == ("fine", 2)
    assert len(mock.requests) == 2
    assert len(clock.sleeps) == 1


async def test_vendor_should_retry_false_is_obeyed() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry([ServerError("no", should_retry=False), "never"], clock)
    with pytest.raises(ServerError):
        await layer.complete(REQUEST)
    assert len(mock.requests) == 1


async def test_non_llm_errors_propagate_unchanged_and_unretried() -> None:
    clock = VirtualClock(1000.0)
    bug = KeyError("bug")
    layer, mock = retry([bug, "never"], clock)
    with pytest.raises(KeyError) as caught:
        await layer.complete(REQUEST)
    assert caught.value is bug
    assert len(mock.requests) == 1


async def test_exhausted_script_is_not_retried() -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry([], clock)
    with pytest.raises(ScriptExhaustedError):
        await layer.complete(REQUEST)
    assert clock.sleeps == []


async def test_retry_honours_retry_after() -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry([RateLimitError("slow", retry_after=7.0), "ok"], clock, base_delay=0.5)
    assert (await layer.complete(REQUEST)).attempts == 2
    assert clock.sleeps == [7.0]


async def test_backoff_longer_than_retry_after_wins() -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry([RateLimitError("slow", retry_after=0.1), "ok"], clock, base_delay=3.0)
    await layer.complete(REQUEST)
    assert clock.sleeps == [3.0]


async def test_retry_after_beyond_max_delay_reraises_at_once() -> None:
    clock = VirtualClock(1000.0)
    error = RateLimitError("slow", retry_after=300.0)
    layer, mock = retry([error, "never"], clock, max_delay=30.0, budget=None)
    with pytest.raises(RateLimitError) as caught:
        await layer.complete(REQUEST)
    assert caught.value.attempts == 1
    assert clock.sleeps == []
    assert len(mock.requests) == 1


async def test_retry_after_beyond_remaining_budget_reraises_at_once() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry(
        [server_error(), RateLimitError("slow", retry_after=9.0), "never"],
        clock,
        base_delay=4.0,
        max_delay=10.0,
        budget=12.0,
    )
    with pytest.raises(RateLimitError) as caught:
        await layer.complete(REQUEST)
    assert clock.sleeps == [4.0]
    assert caught.value.attempts == 2
    assert len(mock.requests) == 2


async def test_budget_stops_retries_whose_wait_would_overrun_it() -> None:
    clock = VirtualClock(1000.0)
    script: list[ScriptItem] = [server_error() for _ in range(5)]
    layer, _ = retry(script, clock, max_retries=4, base_delay=1.0, budget=5.0)
    with pytest.raises(ServerError) as caught:
        await layer.complete(REQUEST)
    assert clock.sleeps == [1.0, 2.0]
    assert caught.value.attempts == 3


async def test_budget_counts_time_spent_in_attempts() -> None:
    clock = VirtualClock(1000.0)

    async def slow_failure(request: CompletionRequest) -> ScriptItem:
        clock.now += 8.0
        return server_error()

    layer = Retry(
        MockProvider(slow_failure),
        base_delay=1.0,
        budget=10.0,
        jitter=lambda: 1.0,
        clock=clock,
        sleep=clock.sleep,
    )
    with pytest.raises(ServerError) as caught:
        await layer.complete(REQUEST)
    assert clock.sleeps == [1.0]
    assert caught.value.attempts == 2


async def test_no_budget_allows_every_retry() -> None:
    clock = VirtualClock(1000.0)
    script: list[ScriptItem] = [server_error() for _ in range(3)]
    layer, _ = retry([*script, "ok"], clock, base_delay=100.0, max_delay=100.0, budget=None)
    assert (await layer.complete(REQUEST)).attempts == 4
    assert clock.sleeps == [100.0, 100.0, 100.0]


async def test_max_retries_zero_makes_one_attempt() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry([server_error(), "never"], clock, max_retries=0)
    with pytest.raises(ServerError) as caught:
        await layer.complete(REQUEST)
    assert caught.value.attempts == 1
    assert len(mock.requests) == 1


async def test_on_retry_sees_each_retry() -> None:
    clock = VirtualClock(1000.0)
    seen: list[RetryEvent] = []
    first, second = server_error(), NetworkError("reset")
    layer, _ = retry([first, second, "ok"], clock, base_delay=1.0, on_retry=seen.append)
    await layer.complete(REQUEST)
    assert seen == [
        RetryEvent(attempt=1, error=first, delay=1.0),
        RetryEvent(attempt=2, error=second, delay=2.0),
    ]


async def test_async_on_retry_is_awaited() -> None:
    clock = VirtualClock(1000.0)
    seen: list[int] = []

    async def hook(event: RetryEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.attempt)

    layer, _ = retry([server_error(), "ok"], clock, on_retry=hook)
    await layer.complete(REQUEST)
    assert seen == [1]


async def test_retries_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry([server_error(), "ok"], clock)
    with caplog.at_level(logging.INFO, logger="ashford_llm"):
        await layer.complete(REQUEST)
    assert "retrying after ServerError (attempt 1 of 4)" in caplog.text


async def test_retries_add_events_to_the_current_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = VirtualClock(1000.0)
    layer, _ = retry([server_error(), RateLimitError("slow", retry_after=2.0), "ok"], clock)
    with provider.get_tracer("test").start_as_current_span("call"):
        await layer.complete(REQUEST)
    (span,) = exporter.get_finished_spans()
    assert [event.name for event in span.events] == [RETRY_EVENT, RETRY_EVENT]
    assert [dict(event.attributes or {}) for event in span.events] == [
        {RETRY_ATTEMPT: 1, ERROR_TYPE: "ServerError", RETRY_DELAY_S: 0.5},
        {RETRY_ATTEMPT: 2, ERROR_TYPE: "RateLimitError", RETRY_DELAY_S: 2.0},
    ]


async def test_cancellation_during_backoff_propagates_at_once() -> None:
    sleeping = asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeping.set()
        await asyncio.sleep(seconds)

    mock = MockProvider([server_error(), "never"])
    layer = Retry(mock, base_delay=60.0, max_delay=60.0, jitter=lambda: 1.0, sleep=sleep)
    task = asyncio.create_task(layer.complete(REQUEST))
    await sleeping.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(mock.requests) == 1


async def test_stream_failing_before_its_first_event_is_retried() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry(
        [server_error(), MockStream(chunks=[], error=NetworkError("reset")), "a b"], clock
    )
    events = [event async for event in layer.stream(REQUEST)]
    assert events[:-1] == [TextDelta("a "), TextDelta("b")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == "a b"
    assert end.response.attempts == 3
    assert len(mock.requests) == 3
    assert len(clock.sleeps) == 2


async def test_stream_failing_after_text_raises_mid_stream_error_once() -> None:
    clock = VirtualClock(1000.0)
    cause = NetworkError("reset", provider="mock", request_id="req-1", retry_after=1.5)
    layer, mock = retry([MockStream(chunks=["Hel", "lo"], error=cause), "never"], clock)
    received: list[str] = []
    with pytest.raises(MidStreamError) as caught:
        async for event in layer.stream(REQUEST):
            assert isinstance(event, TextDelta)
            received.append(event.text)
    error = caught.value
    assert received == ["Hel", "lo"]
    assert error.partial_text == "Hello"
    assert error.__cause__ is cause
    assert (error.provider, error.request_id, error.retry_after) == ("mock", "req-1", 1.5)
    assert error.attempts == 1
    assert "NetworkError" in str(error)
    assert len(mock.requests) == 1
    assert clock.sleeps == []


async def test_stream_mid_stream_error_carries_attempts_after_earlier_retries() -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry([server_error(), MockStream(chunks=["x"], error=server_error())], clock)
    with pytest.raises(MidStreamError) as caught:
        async for _ in layer.stream(REQUEST):
            pass
    assert caught.value.attempts == 2
    assert caught.value.partial_text == "x"


async def test_stream_fatal_error_after_text_keeps_its_class() -> None:
    clock = VirtualClock(1000.0)
    blocked = ContentFilterError("blocked")
    layer, _ = retry([MockStream(chunks=["a"], error=blocked)], clock)
    with pytest.raises(ContentFilterError) as caught:
        async for _ in layer.stream(REQUEST):
            pass
    assert caught.value is blocked
    assert caught.value.attempts == 1


async def test_stream_fatal_error_before_text_is_not_retried() -> None:
    clock = VirtualClock(1000.0)
    layer, mock = retry([InvalidRequestError("bad"), "never"], clock)
    with pytest.raises(InvalidRequestError):
        async for _ in layer.stream(REQUEST):
            pass
    assert len(mock.requests) == 1


async def test_stream_closed_early_by_the_caller_closes_the_inner_stream() -> None:
    inner = Tracked(MockProvider(["one two three"]))
    stream = Retry(inner).stream(REQUEST)
    assert await anext(aiter(stream)) == TextDelta("one ")
    assert inner.finished == []
    await stream.aclose()  # type: ignore[attr-defined]
    assert inner.finished == ["closed"]


async def test_failed_inner_stream_is_finished_before_the_retry() -> None:
    clock = VirtualClock(1000.0)
    inner = Tracked(MockProvider([server_error(), "ok"]))
    layer = Retry(inner, jitter=lambda: 1.0, clock=clock, sleep=clock.sleep)
    events = [event async for event in layer.stream(REQUEST)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.attempts == 2
    assert inner.finished == ["ServerError", "closed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"base_delay": -0.1}, "base_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"base_delay": 5.0, "max_delay": 1.0}, "max_delay"),
        ({"budget": 0}, "budget"),
        ({"jitter": 0.5}, "jitter"),
        ({"on_retry": "print"}, "on_retry"),
    ],
)
def test_bad_options_fail_at_build_time(options: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        ClientBuilder().use(Retry, **options).build(MockProvider([]))  # type: ignore[arg-type]


async def test_jitter_outside_unit_interval_is_a_clear_error() -> None:
    clock = VirtualClock(1000.0)
    layer, _ = retry([server_error(), "ok"], clock, jitter=lambda: 2.0)
    with pytest.raises(ValueError, match="jitter must return"):
        await layer.complete(REQUEST)


def test_stack_repr_shows_max_retries() -> None:
    stack = ClientBuilder().use(Retry, max_retries=4).build(MockProvider([]))
    assert repr(stack).startswith("Retry(max_retries=4) -> MockProvider(")


def test_two_retry_layers_warn_that_retries_multiply(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ashford_llm"):
        ClientBuilder().use(Retry).use(Retry).build(MockProvider([]))
    assert "retries multiply" in caplog.text
