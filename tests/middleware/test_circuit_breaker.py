"""CircuitBreaker in virtual time over MockProviders: opening, half-open probes, streams,
cancellation, spans and the transition metric, and the breaker under Retry and Fallback."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    CircuitOpenError,
    ClientBuilder,
    CompletionRequest,
    InvalidRequestError,
    JsonValidationError,
    LLMTimeoutError,
    NetworkError,
    ProviderInfo,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    StreamEvent,
)
from ashford_llm.middleware import (
    CircuitBreaker,
    CircuitState,
    MemoryCircuitBackend,
    Retry,
)
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware.circuit_breaker import DEFAULT_MINIMUM_CALLS
from ashford_llm.testing import MockProvider, MockStream
from tests.middleware.virtual_time import VirtualClock

REQUEST = CompletionRequest([ChatMessage.user("hello")])


def mock(script: object, name: str = "a", model: str = "m") -> MockProvider:
    info = ProviderInfo(name=name, model=model, otel_provider_name=f"vendor-{name}")
    return MockProvider(script, name=name, model=model, info=info)  # type: ignore[arg-type]


def breaker(inner: MockProvider, clock: VirtualClock, **options: object) -> CircuitBreaker:
    settings: dict[str, object] = {
        "failure_threshold": 3,
        "window": 10.0,
        "cooldown": 5.0,
        "clock": clock,
    }
    return CircuitBreaker(inner, **(settings | options))  # type: ignore[arg-type]


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


async def fail_times(layer: CircuitBreaker, n: int, error: type[Exception] = ServerError) -> None:
    for _ in range(n):
        with pytest.raises(error):
            await layer.complete(REQUEST)


@pytest.fixture
def telemetry() -> Iterator[
    tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]
]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield tracer_provider, exporter, meter_provider, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def test_the_circuit_opens_at_the_threshold_and_refuses_at_once() -> None:
    clock = VirtualClock(100.0)
    inner = mock(lambda request: ServerError("down", status=503))
    layer = breaker(inner, clock)
    await fail_times(layer, 3)
    assert await layer.state() is CircuitState.open
    clock.now += 2.0
    with pytest.raises(CircuitOpenError) as caught:
        await layer.complete(REQUEST)
    assert caught.value.retry_after == pytest.approx(3.0)
    assert caught.value.should_retry is False
    assert caught.value.retryable is True
    assert caught.value.provider == "a"
    assert len(inner.requests) == 3  # the refused call never reached the provider


async def test_failures_outside_the_window_do_not_count() -> None:
    clock = VirtualClock(100.0)
    layer = breaker(mock(lambda request: NetworkError("reset")), clock)
    await fail_times(layer, 2, NetworkError)
    clock.now += 10.5
    await fail_times(layer, 2, NetworkError)
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 1, NetworkError)
    assert await layer.state() is CircuitState.open


@pytest.mark.parametrize(
    "error",
    [RateLimitError, ServerError, LLMTimeoutError, NetworkError, ResponseDecodeError],
)
async def test_each_sign_of_an_unwell_vendor_counts(error: type[Exception]) -> None:
    layer = breaker(mock(lambda request: error("x")), VirtualClock(100.0))
    await fail_times(layer, 3, error)
    assert await layer.state() is CircuitState.open


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequestError,
        QuotaExhaustedError,
        AuthenticationError,
        JsonValidationError,
    ],
)
async def test_fatal_credential_and_json_errors_do_not_count(error: type[Exception]) -> None:
    layer = breaker(mock(lambda request: error("x")), VirtualClock(100.0))
    await fail_times(layer, 5, error)
    assert await layer.state() is CircuitState.closed


async def test_after_the_cooldown_one_probe_goes_and_its_success_closes() -> None:
    clock = VirtualClock(100.0)
    release = asyncio.Event()
    outcomes = iter([ServerError("1"), ServerError("2"), ServerError("3")])

    async def answer(request: CompletionRequest) -> object:
        error = next(outcomes, None)
        if error is not None:
            return error
        await release.wait()
        return "back"

    layer = breaker(mock(answer), clock)
    await fail_times(layer, 3)
    clock.now += 5.0
    probe = asyncio.create_task(layer.complete(REQUEST))
    await asyncio.sleep(0)
    assert await layer.state() is CircuitState.half_open
    with pytest.raises(CircuitOpenError, match="half-open") as caught:
        await layer.complete(REQUEST)  # the one probe is in flight
    assert caught.value.retry_after is None
    release.set()
    assert (await probe).content == "back"
    assert await layer.state() is CircuitState.closed
    assert (await layer.complete(REQUEST)).content == "back"


async def test_a_failed_probe_opens_the_circuit_for_another_cooldown() -> None:
    clock = VirtualClock(100.0)
    layer = breaker(mock(lambda request: ServerError("down")), clock)
    await fail_times(layer, 3)
    clock.now += 5.0
    await fail_times(layer, 1)  # the probe
    assert await layer.state() is CircuitState.open
    with pytest.raises(CircuitOpenError) as caught:
        await layer.complete(REQUEST)
    assert caught.value.retry_after == pytest.approx(5.0)


async def test_half_open_max_lets_that_many_probes_through() -> None:
    clock = VirtualClock(100.0)
    gate = asyncio.Event()
    calls = 0

    async def answer(request: CompletionRequest) -> object:
        nonlocal calls
        calls += 1
        if calls <= 3:
            return ServerError("down")
        await gate.wait()
        return "ok"

    layer = breaker(mock(answer), clock, half_open_max=2)
    await fail_times(layer, 3)
    clock.now += 5.0
    probes = [asyncio.create_task(layer.complete(REQUEST)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await layer.complete(REQUEST)
    gate.set()
    assert [(await probe).content for probe in probes] == ["ok", "ok"]
    assert calls == 5


# The ratio rule


def answers_by_pattern(pattern: str) -> object:
    """A vendor whose n-th answer follows `pattern` round and round: "x" fails, "." answers."""
    calls = 0

    def answer(request: CompletionRequest) -> object:
        nonlocal calls
        calls += 1
        return ServerError("down") if pattern[(calls - 1) % len(pattern)] == "x" else "ok"

    return answer


async def call_many(layer: CircuitBreaker, clock: VirtualClock, n: int, *, every: float) -> None:
    """Makes `n` calls, `every` seconds apart, whether the vendor or the circuit fails them."""
    for _ in range(n):
        with contextlib.suppress(ServerError, CircuitOpenError):
            await layer.complete(REQUEST)
        clock.now += every


async def test_a_30_percent_failure_rate_at_high_volume_opens_a_count_but_not_a_ratio() -> None:
    pattern = "xxx......."  # three failures in a row in every ten calls
    counted_clock = VirtualClock(100.0)
    counted_inner = mock(answers_by_pattern(pattern))
    counted = breaker(counted_inner, counted_clock)
    await call_many(counted, counted_clock, 2000, every=0.01)
    assert await counted.state() is CircuitState.open  # 3 failures within 10 s, at any rate
    assert len(counted_inner.requests) < 2000

    clock = VirtualClock(100.0)
    inner = mock(answers_by_pattern(pattern))
    layer = breaker(inner, clock, failure_ratio=0.5, minimum_calls=10)
    await call_many(layer, clock, 2000, every=0.01)  # 100 calls a second for 20 s
    assert await layer.state() is CircuitState.closed
    assert len(inner.requests) == 2000


async def test_an_outage_opens_the_ratio_circuit_at_minimum_calls() -> None:
    clock = VirtualClock(100.0)
    inner = mock(lambda request: ServerError("down"))
    layer = breaker(inner, clock, failure_threshold=1, failure_ratio=0.5, minimum_calls=8)
    await fail_times(layer, 7)
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 1)
    assert await layer.state() is CircuitState.open
    with pytest.raises(CircuitOpenError):
        await layer.complete(REQUEST)
    assert len(inner.requests) == 8


async def test_below_minimum_calls_the_ratio_circuit_never_opens() -> None:
    clock = VirtualClock(100.0)
    layer = breaker(
        mock(lambda request: ServerError("down")),
        clock,
        failure_threshold=1,
        failure_ratio=0.5,
        minimum_calls=8,
    )
    for _ in range(20):  # seven failures in each window, every one of them failing
        for _ in range(7):
            await fail_times(layer, 1)
            clock.now += 0.01
        clock.now += 10.0
    assert await layer.state() is CircuitState.closed


async def test_the_ratio_counts_successes_and_answers_that_are_not_outages() -> None:
    clock = VirtualClock(100.0)
    answers = ["ok", "ok", InvalidRequestError("bad"), *[ServerError("down")] * 3]
    layer = breaker(mock(answers), clock, failure_threshold=1, failure_ratio=0.5, minimum_calls=4)
    await layer.complete(REQUEST)
    await layer.complete(REQUEST)
    await fail_times(layer, 1, InvalidRequestError)  # the vendor answered: a success
    await fail_times(layer, 2)  # 2 of 5 failed
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 1)  # 3 of 6
    assert await layer.state() is CircuitState.open


async def test_the_ratio_window_slides_old_outcomes_out() -> None:
    clock = VirtualClock(100.0)
    answers = [*["ok"] * 10, *[ServerError("down")] * 10]
    layer = breaker(mock(answers), clock, failure_threshold=1, failure_ratio=0.5, minimum_calls=4)
    for _ in range(10):
        await layer.complete(REQUEST)
    clock.now += 5.0
    await fail_times(layer, 3)  # 3 of 13 within the window
    clock.now += 5.0  # the ten successes are older than the window now
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 1)  # 4 of 4
    assert await layer.state() is CircuitState.open


async def test_the_ratio_rule_still_needs_failure_threshold_failures() -> None:
    clock = VirtualClock(100.0)
    layer = breaker(
        mock(lambda request: ServerError("down")),
        clock,
        failure_threshold=5,
        failure_ratio=0.5,
        minimum_calls=2,
    )
    await fail_times(layer, 4)  # every call failed, but only four
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 1)
    assert await layer.state() is CircuitState.open


async def test_a_ratio_circuit_half_opens_and_starts_counting_afresh_when_closed() -> None:
    clock = VirtualClock(100.0)
    answers = [*[ServerError("down")] * 4, ServerError("probe"), "back", *[ServerError("x")] * 4]
    layer = breaker(mock(answers), clock, failure_threshold=1, failure_ratio=0.8, minimum_calls=4)
    await fail_times(layer, 4)
    assert await layer.state() is CircuitState.open
    clock.now += 5.0
    await fail_times(layer, 1)  # the probe fails: open again
    assert await layer.state() is CircuitState.open
    clock.now += 5.0
    assert (await layer.complete(REQUEST)).content == "back"  # the probe closes it
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 3)  # the outage's failures were forgotten: 3 calls since
    assert await layer.state() is CircuitState.closed
    await fail_times(layer, 1)
    assert await layer.state() is CircuitState.open


# Streams


async def test_a_stream_broken_after_text_counts_and_a_finished_one_succeeds() -> None:
    clock = VirtualClock(100.0)
    broken = MockStream(chunks=["half"], error=ResponseDecodeError("cut"))
    layer = breaker(mock([broken, broken, "fine", broken]), clock, failure_threshold=3)
    for _ in range(2):
        with pytest.raises(ResponseDecodeError):
            await collect(layer.stream(REQUEST))
    await collect(layer.stream(REQUEST))
    with pytest.raises(ResponseDecodeError):
        await collect(layer.stream(REQUEST))
    assert await layer.state() is CircuitState.open
    with pytest.raises(CircuitOpenError):
        await collect(layer.stream(REQUEST))


async def test_a_probe_stream_closed_early_gives_its_slot_back() -> None:
    clock = VirtualClock(100.0)
    answers = [ServerError("1"), ServerError("2"), ServerError("3"), "a b c", "again"]
    layer = breaker(mock(answers), clock)
    await fail_times(layer, 3)
    clock.now += 5.0
    events = layer.stream(REQUEST)
    await anext(events)
    await events.aclose()  # abandoned: neither success nor failure
    assert await layer.state() is CircuitState.half_open
    assert (await layer.complete(REQUEST)).content == "again"  # the slot is free again
    assert await layer.state() is CircuitState.closed


async def test_a_cancelled_probe_gives_its_slot_back() -> None:
    clock = VirtualClock(100.0)
    started = asyncio.Event()

    async def answer(request: CompletionRequest) -> object:
        if len(inner.requests) <= 3:
            return ServerError("down")
        if len(inner.requests) == 4:
            started.set()
            await asyncio.sleep(3600)
        return "ok"

    inner = mock(answer)
    layer = breaker(inner, clock)
    await fail_times(layer, 3)
    clock.now += 5.0
    probe = asyncio.create_task(layer.complete(REQUEST))
    await started.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert (await layer.complete(REQUEST)).content == "ok"


# Visibility


async def test_transitions_are_span_events_and_counted_by_state(
    telemetry: tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader],
) -> None:
    tracer_provider, exporter, meter_provider, reader = telemetry
    clock = VirtualClock(100.0)
    answers = [ServerError("1"), ServerError("2"), ServerError("3"), ServerError("4"), "ok"]
    layer = breaker(mock(answers, model="gpt"), clock, meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("call"):
        await fail_times(layer, 3)  # opens
        clock.now += 5.0
        await fail_times(layer, 1)  # half-opens, the probe fails: opens again
        clock.now += 5.0
        await layer.complete(REQUEST)  # half-opens, the probe succeeds: closes
    (span,) = exporter.get_finished_spans()
    states = [
        (event.attributes or {})[sc.CIRCUIT_STATE]
        for event in span.events
        if event.name == sc.CIRCUIT_EVENT
    ]
    assert states == ["open", "half_open", "open", "half_open", "closed"]
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == sc.CIRCUIT_TRANSITIONS
        for point in metric.data.data_points  # type: ignore[union-attr]
    ]
    counts = {point.attributes[sc.CIRCUIT_STATE]: point.value for point in points}  # type: ignore[index]
    assert counts == {"open": 2, "half_open": 2, "closed": 1}
    assert {point.attributes[sc.PROVIDER_NAME] for point in points} == {"vendor-a"}  # type: ignore[index]
    assert {point.attributes[sc.REQUEST_MODEL] for point in points} == {"gpt"}  # type: ignore[index]


# Sharing and keys


async def test_a_shared_backend_shares_one_circuit_per_provider_and_model() -> None:
    clock = VirtualClock(100.0)
    shared = MemoryCircuitBackend()
    failing = lambda request: ServerError("down")  # noqa: E731
    first = breaker(mock(failing, model="m1"), clock, backend=shared)
    second = breaker(mock(["ok"], model="m1"), clock, backend=shared)
    other_model = breaker(mock(["ok"], model="m2"), clock, backend=shared)
    await fail_times(first, 3)
    with pytest.raises(CircuitOpenError):
        await second.complete(REQUEST)
    assert (await other_model.complete(REQUEST)).content == "ok"
    assert (first.key, other_model.key) == ("a:m1", "a:m2")


# With Retry and Fallback


async def test_retry_does_not_wait_for_an_open_circuit() -> None:
    clock = VirtualClock(100.0)
    inner = mock(lambda request: ServerError("down"))
    stack = (
        ClientBuilder()
        .use(Retry, max_retries=5, jitter=lambda: 1.0, clock=clock, sleep=clock.sleep)
        .use(CircuitBreaker, failure_threshold=3, window=10.0, cooldown=60.0, clock=clock)
        .build(inner)
    )
    with pytest.raises(CircuitOpenError) as caught:
        await stack.complete(REQUEST)
    assert caught.value.attempts == 4  # three failures opened it, the fourth was refused
    assert len(inner.requests) == 3
    assert clock.sleeps == [0.5, 1.0, 2.0]  # no wait for the 60 s cooldown


async def test_with_the_circuit_open_fallback_moves_on_at_once() -> None:
    clock = VirtualClock(100.0)
    down = mock(lambda request: ServerError("down"), name="a")
    backup = mock(lambda request: "from b", name="b")
    stack = (
        ClientBuilder()
        .fallback(backup)
        .use(Retry, max_retries=2, jitter=lambda: 1.0, clock=clock, sleep=clock.sleep)
        .use(CircuitBreaker, failure_threshold=3, window=60.0, cooldown=60.0, clock=clock)
        .build(down)
    )
    first = await stack.complete(REQUEST)  # a fails three times (opening), then b
    assert (first.provider, first.attempts) == ("b", 4)
    clock.sleeps.clear()
    for _ in range(5):
        response = await stack.complete(REQUEST)
        assert (response.provider, response.attempts) == ("b", 2)  # a refused, b answered
    assert len(down.requests) == 3
    assert clock.sleeps == []


def test_circuit_breaker_rejects_bad_options_when_built() -> None:
    inner = mock(["ok"])
    for options, error in (
        ({"failure_threshold": 0}, ValueError),
        ({"failure_threshold": True}, ValueError),
        ({"half_open_max": 0}, ValueError),
        ({"window": 0}, ValueError),
        ({"cooldown": -1.0}, ValueError),
        ({"backend": object()}, TypeError),
        ({"key": ""}, ValueError),
        ({"counted": [KeyError]}, TypeError),
        ({"clock": 3}, TypeError),
        ({"failure_ratio": 0}, ValueError),
        ({"failure_ratio": 1.5}, ValueError),
        ({"failure_ratio": True}, ValueError),
        ({"failure_ratio": "0.5"}, ValueError),
        ({"failure_ratio": float("nan")}, ValueError),
        ({"failure_ratio": 0.5, "minimum_calls": 0}, ValueError),
        ({"failure_ratio": 0.5, "minimum_calls": 2.0}, ValueError),
    ):
        with pytest.raises(error):
            CircuitBreaker(inner, **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="minimum_calls applies only with failure_ratio"):
        CircuitBreaker(inner, minimum_calls=10)
    assert repr(CircuitBreaker(inner, window=60, cooldown=30)) == (
        "CircuitBreaker(failure_threshold=5, window=60, cooldown=30) -> "
        "MockProvider(name='a', model='m')"
    )
    ratio = CircuitBreaker(inner, failure_ratio=0.8, minimum_calls=6)
    assert ratio.describe() == (
        "CircuitBreaker(failure_threshold=5, window=30, cooldown=30, failure_ratio=0.8, "
        "minimum_calls=6)"
    )
    assert CircuitBreaker(inner, failure_ratio=1).minimum_calls == DEFAULT_MINIMUM_CALLS
    assert CircuitBreaker(inner, failure_ratio=1).policy.failure_ratio == 1.0
