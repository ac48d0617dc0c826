"""Timeout tests use real deadlines of a few milliseconds: asyncio.timeout runs on loop time."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    LLMTimeoutError,
    MidStreamError,
    ServerError,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from ashford_llm.middleware import Middleware, Retry, Timeout
from ashford_llm.protocol import LLMProvider
from ashford_llm.testing import MockProvider, MockStream
from ashford_llm.testing.mock import ScriptItem

REQUEST = CompletionRequest([ChatMessage.user("hello")])

SLOW = 5.0  # seconds an inner call would take; every deadline here cancels it long before
TICK = 0.02  # a deadline that passes quickly


class Tracked(Middleware):
    """Records how each inner call or stream ended: "done", "closed", or the exception name."""

    def __init__(self, inner: LLMProvider) -> None:
        super().__init__(inner)
        self.finished: list[str] = []

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        outcome = "done"
        try:
            return await self.inner.complete(request)
        except BaseException as error:
            outcome = type(error).__name__
            raise
        finally:
            self.finished.append(outcome)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        outcome = "closed"
        try:
            async with aclosing(self.inner.stream(request)) as events:  # type: ignore[type-var]
                async for event in events:
                    yield event
        except BaseException as error:
            outcome = type(error).__name__
            raise
        finally:
            self.finished.append(outcome)


def tracked(*script: ScriptItem) -> Tracked:
    """Returns a MockProvider over `script`, wrapped to record how its calls ended."""
    return Tracked(MockProvider(list(script)))


async def answer_after_own_timeout(request: CompletionRequest) -> ScriptItem:
    """Fails as if a deadline deeper in the stack had passed."""
    return LLMTimeoutError("inner deadline", provider="mock")


async def collect(stream: AsyncIterator[StreamEvent], into: list[StreamEvent]) -> None:
    """Reads a stream to its end, keeping every event."""
    async for event in stream:
        into.append(event)


async def test_complete_within_total_returns_the_answer() -> None:
    inner = tracked("fine")
    response = await Timeout(inner, total=1.0).complete(REQUEST)
    assert response.content == "fine"
    assert inner.finished == ["done"]


async def test_complete_past_total_raises_and_cancels_the_inner_call() -> None:
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW))
    before = asyncio.all_tasks()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LLMTimeoutError, match=r"total=0\.02s") as caught:
        await Timeout(inner, total=TICK).complete(REQUEST)
    assert loop.time() - started < 1.0
    assert caught.value.provider == "mock"
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert inner.finished == ["CancelledError"]
    assert asyncio.all_tasks() == before


async def test_timeout_error_is_retryable_and_a_builtin_timeout() -> None:
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW))
    with pytest.raises(TimeoutError) as caught:
        await Timeout(inner, total=TICK).complete(REQUEST)
    assert caught.value.retryable  # type: ignore[attr-defined]


async def test_inner_timeout_error_passes_through_unchanged() -> None:
    layer = Timeout(MockProvider(answer_after_own_timeout), total=1.0)
    with pytest.raises(LLMTimeoutError, match="inner deadline"):
        await layer.complete(REQUEST)


async def test_outside_cancellation_stays_a_cancellation() -> None:
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW))
    task = asyncio.create_task(Timeout(inner, total=1.0).complete(REQUEST))
    await asyncio.sleep(TICK)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner.finished == ["CancelledError"]


async def test_stream_within_deadlines_yields_every_event() -> None:
    inner = tracked(MockStream(chunks=["a", "b", "c"], first_delay=0.001, chunk_delay=0.001))
    events: list[StreamEvent] = []
    await collect(Timeout(inner, total=1.0, first_token=0.5, idle=0.5).stream(REQUEST), events)
    assert events[:3] == [TextDelta("a"), TextDelta("b"), TextDelta("c")]
    assert isinstance(events[3], StreamEnd)
    assert inner.finished == ["closed"]


async def test_stream_without_a_first_event_in_time_raises_first_token() -> None:
    before = asyncio.all_tasks()
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW))
    events: list[StreamEvent] = []
    with pytest.raises(LLMTimeoutError, match=r"first event .* first_token=0\.02s"):
        await collect(Timeout(inner, total=10.0, first_token=TICK).stream(REQUEST), events)
    assert events == []
    assert inner.finished == ["CancelledError"]
    assert asyncio.all_tasks() == before


async def test_stream_that_stalls_raises_idle_and_closes_the_inner_stream() -> None:
    before = asyncio.all_tasks()
    inner = tracked(MockStream(chunks=["a", "b"], chunk_delay=SLOW))
    events: list[StreamEvent] = []
    with pytest.raises(LLMTimeoutError, match=r"no event arrived within idle=0\.02s"):
        await collect(Timeout(inner, total=None, idle=TICK).stream(REQUEST), events)
    assert events == [TextDelta("a")]
    assert inner.finished == ["CancelledError"]
    assert asyncio.all_tasks() == before


async def test_slow_first_event_is_bounded_by_first_token_not_idle() -> None:
    inner = tracked(MockStream(chunks=["a", "b"], first_delay=0.05, chunk_delay=0.001))
    events: list[StreamEvent] = []
    await collect(Timeout(inner, total=None, first_token=1.0, idle=TICK).stream(REQUEST), events)
    assert [event for event in events if isinstance(event, TextDelta)] == [
        TextDelta("a"),
        TextDelta("b"),
    ]


async def test_stream_longer_than_total_raises_total() -> None:
    before = asyncio.all_tasks()
    chunks = ["x"] * 100
    inner = tracked(MockStream(chunks=chunks, chunk_delay=0.01))
    events: list[StreamEvent] = []
    with pytest.raises(LLMTimeoutError, match=r"stream took longer than total=0\.05s"):
        await collect(Timeout(inner, total=0.05, idle=1.0).stream(REQUEST), events)
    assert 1 <= len(events) < len(chunks)
    assert inner.finished == ["CancelledError"]
    assert asyncio.all_tasks() == before


async def test_total_counts_time_the_caller_spends_between_events() -> None:
    inner = tracked(MockStream(chunks=["a", "b"]))
    stream = Timeout(inner, total=TICK).stream(REQUEST)
    assert await anext(aiter(stream)) == TextDelta("a")
    await asyncio.sleep(TICK * 2)
    with pytest.raises(LLMTimeoutError, match="total"):
        await anext(aiter(stream))
    assert inner.finished == ["GeneratorExit"]


async def test_idle_does_not_count_time_the_caller_spends_between_events() -> None:
    inner = tracked(MockStream(chunks=["a", "b"]))
    stream = Timeout(inner, total=None, idle=TICK).stream(REQUEST)
    assert await anext(aiter(stream)) == TextDelta("a")
    await asyncio.sleep(TICK * 2)
    assert await anext(aiter(stream)) == TextDelta("b")
    await stream.aclose()  # type: ignore[attr-defined]
    assert inner.finished == ["GeneratorExit"]


async def test_stream_outside_cancellation_stays_a_cancellation() -> None:
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW))
    events: list[StreamEvent] = []
    task = asyncio.create_task(collect(Timeout(inner, first_token=1.0).stream(REQUEST), events))
    await asyncio.sleep(TICK)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner.finished == ["CancelledError"]


async def test_a_stream_keeps_one_timer_for_all_its_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    scheduled: list[float] = []
    call_at = loop.call_at

    def counting(when: float, callback, *args):  # type: ignore[no-untyped-def]
        scheduled.append(when)
        return call_at(when, callback, *args)

    monkeypatch.setattr(loop, "call_at", counting)
    inner = tracked(MockStream(chunks=["x"] * 200))
    events: list[StreamEvent] = []
    await collect(Timeout(inner, total=30.0, idle=5.0).stream(REQUEST), events)
    assert len(events) == 201
    assert len(scheduled) <= 2  # total for the first wait, then idle; not one per event


class ThenStall(Middleware):
    """Streams "a", "b", "c" with `GAP` seconds before each, then waits `SLOW` seconds."""

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        for text in ("a", "b", "c"):
            await asyncio.sleep(GAP)
            yield TextDelta(text)
        await asyncio.sleep(SLOW)


GAP = 0.06


async def test_idle_counts_from_the_last_event_when_its_timer_was_set_at_the_first() -> None:
    # Events every 0.6 idle outlive the timer set when the first wait began (idle=0.1 after
    # it); the timer sets itself again for the deadline in force, and the stall after the
    # last event is cut one idle after that event.
    inner = Tracked(ThenStall(MockProvider([])))
    events: list[StreamEvent] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LLMTimeoutError, match=r"idle=0\.1s"):
        await collect(Timeout(inner, total=None, idle=0.1).stream(REQUEST), events)
    elapsed = loop.time() - started
    assert events == [TextDelta("a"), TextDelta("b"), TextDelta("c")]
    assert elapsed >= GAP * 3 + 0.1 - 0.005  # cut one idle after "c", not after "a"
    assert elapsed < SLOW
    assert inner.finished == ["CancelledError"]


async def test_outside_cancellation_in_the_same_moment_as_the_deadline_stays_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    call_at = loop.call_at
    tasks: list[asyncio.Task[CompletionResponse]] = []

    def deadline_then_outside_cancel(when, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        if when - loop.time() > 1.0:  # the inner call's own sleep, not the deadline
            return call_at(when, callback, *args, **kwargs)

        def both() -> None:
            callback(*args)
            tasks[0].cancel()  # an outside cancellation before the task runs again

        return call_at(when, both, **kwargs)

    monkeypatch.setattr(loop, "call_at", deadline_then_outside_cancel)
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW))
    tasks.append(asyncio.create_task(Timeout(inner, total=TICK).complete(REQUEST)))
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert inner.finished == ["CancelledError"]


async def test_stream_inner_errors_pass_through() -> None:
    inner = tracked(MockStream(chunks=["a"], error=ServerError("boom")))
    with pytest.raises(ServerError, match="boom"):
        await collect(Timeout(inner, idle=1.0).stream(REQUEST), [])
    assert inner.finished == ["ServerError"]


async def test_timeout_inside_retry_bounds_each_attempt() -> None:
    inner = tracked(MockStream(chunks=["late"], first_delay=SLOW), "fine")
    stack = ClientBuilder().use(Retry, base_delay=0.0).use(Timeout, total=TICK).build(inner)
    response = await stack.complete(REQUEST)
    assert (response.content, response.attempts) == ("fine", 2)
    assert inner.finished == ["CancelledError", "done"]


async def test_idle_timeout_after_text_inside_retry_becomes_mid_stream_error() -> None:
    inner = tracked(MockStream(chunks=["Hel", "lo"], chunk_delay=SLOW), "never")
    stack = ClientBuilder().use(Retry).use(Timeout, idle=TICK).build(inner)
    with pytest.raises(MidStreamError) as caught:
        await collect(stack.stream(REQUEST), [])
    assert caught.value.partial_text == "Hel"
    assert isinstance(caught.value.__cause__, LLMTimeoutError)
    assert inner.finished == ["CancelledError"]


def test_repr_shows_only_the_deadlines_that_are_set() -> None:
    stack = ClientBuilder().use(Retry, max_retries=4).use(Timeout, total=30).build(MockProvider([]))
    assert repr(stack).startswith("Retry(max_retries=4) -> Timeout(total=30) -> MockProvider(")
    streaming = Timeout(MockProvider([]), total=None, first_token=2.5, idle=10)
    assert streaming.describe() == "Timeout(first_token=2.5, idle=10)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"total": 0}, "total"),
        ({"total": -1.0}, "total"),
        ({"first_token": float("nan")}, "first_token"),
        ({"idle": True}, "idle"),
        ({"idle": "5"}, "idle"),
        ({"total": None}, "at least one"),
    ],
)
def test_bad_options_fail_at_build_time(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientBuilder().use(Timeout, **options).build(MockProvider([]))  # type: ignore[arg-type]
