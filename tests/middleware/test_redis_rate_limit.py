"""RedisRateLimiter against a real redis-server: shared budgets, settlement, outages, 4 processes.

These run in real time: the buckets live in Redis and move by its clock. Waits are kept to
fractions of a second, except in the multi-process runs (marked slow).
"""

import asyncio
import importlib.util
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from redis.asyncio import Redis

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    InvalidRequestError,
    NetworkError,
    RetryableError,
    StreamEnd,
)
from ashford_llm.middleware import RateLimit, RateLimiter, RedisRateLimiter
from ashford_llm.middleware.rate_limit.redis_limiter import KEY_PREFIX
from ashford_llm.testing import MockProvider
from tests.middleware.redis_server import RedisServer, closed_port, redis_server_or_skip

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "redis_rate.py"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with redis_server_or_skip() as server:
        yield server


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that accepts and reads, and never answers: a hung Redis."""
    while await reader.read(1024):
        pass
    writer.close()


async def acquire_n(limiter: RedisRateLimiter, n: int, tokens: int = 1) -> list[float]:
    """Takes `n` permits one after another, settling each at its estimate; returns the waits."""
    waits = []
    for _ in range(n):
        permit = await limiter.acquire(input_tokens=0, output_tokens=tokens)
        await limiter.settle(permit, tokens)
        waits.append(permit.waited_s)
    return waits


# One budget, shared


async def test_two_limiters_on_one_key_share_one_burst_then_wait_for_the_refill(
    redis_server: RedisServer, key: str
) -> None:
    async with (
        RedisRateLimiter(key=key, url=redis_server.url, requests_per_minute=120) as first,
        RedisRateLimiter(key=key, url=redis_server.url, requests_per_minute=120) as second,
    ):
        burst = await acquire_n(first, 60) + await acquire_n(second, 60)
        (next_wait,) = await acquire_n(first, 1)
    assert max(burst) < 0.25
    assert 0.3 <= next_wait <= 0.9  # 2 requests per second refill


async def test_redis_limiter_refunds_an_over_estimate_at_settlement(
    redis_server: RedisServer, key: str
) -> None:
    async with RedisRateLimiter(key=key, url=redis_server.url, tokens_per_minute=60_000) as limiter:
        permit = await limiter.acquire(input_tokens=100, output_tokens=9_900)
        await limiter.settle(permit, 1_000)
        # 1_000 + 59_000 is the whole budget: it fits only if the 9_000 came back.
        fits = await limiter.acquire(input_tokens=0, output_tokens=59_000)
    assert fits.waited_s < 0.25


async def test_redis_limiter_charges_usage_above_the_estimate(
    redis_server: RedisServer, key: str
) -> None:
    async with RedisRateLimiter(key=key, url=redis_server.url, tokens_per_minute=60_000) as limiter:
        permit = await limiter.acquire(input_tokens=100, output_tokens=9_900)
        await limiter.settle(permit, 50_000)
        # 50_000 + 10_300 is 300 over the budget: 0.3 s at 1_000 tokens per second.
        over = await limiter.acquire(input_tokens=0, output_tokens=10_300)
    assert 0.2 <= over.waited_s <= 0.8


async def test_redis_limiter_keeps_only_the_input_estimate_after_a_failure(
    redis_server: RedisServer, key: str
) -> None:
    async with RedisRateLimiter(key=key, url=redis_server.url, tokens_per_minute=60_000) as limiter:
        permit = await limiter.acquire(input_tokens=1_000, output_tokens=59_000)
        await limiter.release(permit)
        # 1_000 kept + 59_300 is 300 over the budget.
        over = await limiter.acquire(input_tokens=0, output_tokens=59_300)
    assert 0.2 <= over.waited_s <= 0.8


async def test_redis_limiter_cancelled_waiter_gives_back_its_reservation(
    redis_server: RedisServer, key: str
) -> None:
    async with RedisRateLimiter(key=key, url=redis_server.url, requests_per_minute=60) as limiter:
        await acquire_n(limiter, 60)
        waiting = asyncio.create_task(limiter.acquire(input_tokens=0, output_tokens=1))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # One request refills per second; had the reservation stayed, this would wait ~1.8 s.
        (wait,) = await acquire_n(limiter, 1)
    assert wait <= 1.3


async def test_redis_limiter_rejects_a_request_larger_than_the_token_budget_at_once(
    key: str,
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with RedisRateLimiter(key=key, url=url, tokens_per_minute=1_000) as limiter:
        with pytest.raises(InvalidRequestError, match="more than the whole budget"):
            await limiter.acquire(input_tokens=1, output_tokens=1_000)


async def test_rate_limit_over_redis_settles_completions_and_streams(
    redis_server: RedisServer, key: str
) -> None:
    async with RedisRateLimiter(
        key=key, url=redis_server.url, tokens_per_minute=60_000, max_concurrency=1
    ) as limiter:
        layer = RateLimit(MockProvider(["one two", "three four"]), backend=limiter)
        request = CompletionRequest([ChatMessage.user("x" * 400)], max_tokens=9_900)
        await layer.complete(request)
        ends = [event async for event in layer.stream(request) if isinstance(event, StreamEnd)]
        # Both settled down to the mock's 3 words: 59_990 more fits the budget.
        fits = await limiter.acquire(input_tokens=0, output_tokens=59_990)
        async with Redis.from_url(redis_server.url) as client:
            stored = await client.hget(KEY_PREFIX + key, "tokens")
    assert len(ends) == 1
    assert fits.waited_s < 0.25
    assert stored is not None
    assert 59_990 <= float(stored) <= 60_000


# Outages


async def test_redis_limiter_fails_closed_with_a_retryable_error_when_redis_is_down(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with RedisRateLimiter(
        key=key,
        url=url,
        requests_per_minute=60,
        max_concurrency=1,
        on_redis_error="closed",
        recheck_interval=0.05,
    ) as limiter:
        errors = []
        for _ in range(3):  # the slot comes back each time: no hang on max_concurrency=1
            with pytest.raises(NetworkError) as caught:
                await asyncio.wait_for(limiter.acquire(input_tokens=0, output_tokens=1), 2)
            errors.append(caught.value)
            await asyncio.sleep(0.1)  # past the recheck interval: Redis is asked, and fails, again
    assert all(isinstance(error, RetryableError) for error in errors)
    assert {error.error_type for error in errors} == {"rate_limiter_unavailable"}
    assert "Redis rate limiter" in str(errors[0])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1


async def test_redis_limiter_fails_open_to_an_in_process_limiter_with_one_warning(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with RedisRateLimiter(key=key, url=url, requests_per_minute=60) as limiter:
        burst = await acquire_n(limiter, 60)
        # The fallback keeps the same limits: the 61st waits for the refill.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(limiter.acquire(input_tokens=0, output_tokens=1), 0.3)
    # The first acquire also imports the Redis client and finds the port closed.
    assert burst[0] < 2.0
    assert max(burst[1:]) < 0.25
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "in-process limiter" in warnings[0].getMessage()


@pytest.mark.parametrize("policy", ["open", "closed"])
async def test_redis_limiter_never_hangs_on_a_redis_that_does_not_answer(
    key: str, policy: str
) -> None:
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RedisRateLimiter(
            key=key,
            url=f"redis://127.0.0.1:{port}/0",
            requests_per_minute=60,
            on_redis_error=policy,  # type: ignore[arg-type]
            timeout=0.2,
        ) as limiter:
            started = time.monotonic()
            if policy == "closed":
                with pytest.raises(NetworkError, match="TimeoutError"):
                    await limiter.acquire(input_tokens=0, output_tokens=1)
            else:
                await limiter.acquire(input_tokens=0, output_tokens=1)
            elapsed = time.monotonic() - started
    finally:
        server.close()
        await server.wait_closed()
    assert 0.15 <= elapsed < 1.0


async def test_redis_limiter_goes_back_to_redis_when_it_answers_again(
    redis_server: RedisServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ashford_llm")
    async with RedisRateLimiter(
        key=key, url=redis_server.url, requests_per_minute=600, recheck_interval=0.1
    ) as limiter:
        await acquire_n(limiter, 1)
        redis_server.stop()
        try:
            await acquire_n(limiter, 5)  # served by the fallback
        finally:
            redis_server.start()
        await asyncio.sleep(0.15)
        await acquire_n(limiter, 2)
        async with Redis.from_url(redis_server.url) as client:
            stored = await client.hget(KEY_PREFIX + key, "requests")
    assert stored is not None  # the restarted Redis (which lost everything) is charged again
    assert 1.5 <= float(stored) <= 2.0
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == [logging.WARNING, logging.INFO]
    assert "answers again" in messages[1][1]


async def test_redis_limiter_shows_no_credential(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-redis-password"
    url = f"redis://:{secret}@127.0.0.1:{closed_port()}/0"
    async with RedisRateLimiter(
        key=key, url=url, requests_per_minute=60, on_redis_error="closed"
    ) as limiter:
        layer = RateLimit(MockProvider(["ok"]), backend=limiter)
        with pytest.raises(NetworkError) as caught:
            await layer.complete(CompletionRequest([ChatMessage.user("hi")]))
    shown = [repr(layer), repr(caught.value), str(caught.value), caplog.text]
    assert not [text for text in shown if secret in text]
    assert repr(layer) == (
        f"RateLimit(backend=RedisRateLimiter(key={key!r}, requests_per_minute=60, "
        "on_redis_error='closed')) -> MockProvider(name='mock', model='mock-model')"
    )


# Options


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"requests_per_minute": 60}, ValueError),  # neither url nor client
        ({"key": "", "url": "redis://127.0.0.1/0", "requests_per_minute": 60}, ValueError),
        ({"key": "k", "url": "redis://127.0.0.1/0"}, ValueError),  # no budget
        ({"key": "k", "url": "redis://127.0.0.1/0", "max_concurrency": 2}, ValueError),
        (
            {"key": "k", "url": "redis://127.0.0.1/0", "requests_per_minute": 60, "timeout": 0},
            ValueError,
        ),
        (
            {
                "key": "k",
                "url": "redis://127.0.0.1/0",
                "requests_per_minute": 60,
                "on_redis_error": "ignore",
            },
            ValueError,
        ),
        ({"key": "k", "url": "redis://127.0.0.1/0", "tokens_per_minute": 1.5}, TypeError),
    ],
)
def test_redis_limiter_rejects_bad_options_when_built(
    options: dict[str, object], error: type[Exception]
) -> None:
    options.setdefault("key", "k")
    with pytest.raises(error):
        RedisRateLimiter(**options)  # type: ignore[arg-type]


def test_rate_limit_takes_a_backend_or_its_own_limits_not_both() -> None:
    shared = RateLimiter(requests_per_minute=60)
    assert RateLimit(MockProvider(["ok"]), backend=shared).backend is shared
    with pytest.raises(TypeError, match="limiter"):
        RateLimit(MockProvider(["ok"]), limiter=shared)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="not both"):
        RateLimit(MockProvider(["ok"]), backend=shared, requests_per_minute=5)


# Four processes, one budget (benchmarks/redis_rate.py with small numbers)


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redis_rate", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(benchmark: ModuleType, url: str, **options: object) -> object:
    defaults: dict[str, object] = {
        "url": url,
        "key": f"test:{uuid.uuid4().hex}",
        "seconds": 10.0,
        "requests_per_minute": None,
        "tokens_per_minute": None,
        "output_tokens": (10, 50, 170),
        "policy": "open",
        "concurrency": 16,
        "recheck_interval": 0.25,
    }
    return benchmark.WorkerConfig(**(defaults | options))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_four_processes_share_one_requests_per_minute_budget_within_five_percent(
    redis_server: RedisServer, benchmark: ModuleType
) -> None:
    report = benchmark.run(config(benchmark, redis_server.url, requests_per_minute=600))
    per_minute, _ = report.rates(warmup=2.0)
    since, until = report.window(warmup=2.0)
    assert until - since >= 6.0
    assert abs(per_minute / 600 - 1) <= 0.05, per_minute
    shares = [sum(since <= at < until for at in worker.done) for worker in report.workers]
    assert min(shares) >= 0.5 * sum(shares) / len(shares), shares  # nobody starves
    assert [(w.errors, w.unexpected) for w in report.workers] == [({}, [])] * 4


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_four_processes_share_one_tokens_per_minute_budget_with_settlement(
    redis_server: RedisServer, benchmark: ModuleType
) -> None:
    report = benchmark.run(config(benchmark, redis_server.url, tokens_per_minute=60_000))
    calls_per_minute, tokens_per_minute = report.rates(warmup=2.0)
    since, until = report.window(warmup=2.0)
    assert until - since >= 5.0
    assert abs(tokens_per_minute / 60_000 - 1) <= 0.05, tokens_per_minute
    # Each call is charged 100 up front and settled to 20, 60 or 180: unsettled, the budget
    # would admit 600 calls a minute; settled, about 690.
    assert calls_per_minute > 1.08 * 600, calls_per_minute
    assert [(w.errors, w.unexpected) for w in report.workers] == [({}, [])] * 4


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("policy", ["open", "closed"])
def test_four_processes_survive_a_redis_restart(
    redis_server: RedisServer, benchmark: ModuleType, policy: str
) -> None:
    restart_at, down = 2.5, 1.0
    report = benchmark.run(
        config(benchmark, redis_server.url, requests_per_minute=600, seconds=7.0, policy=policy),
        restart=lambda: redis_server.restart(down),
        restart_at=restart_at,
    )
    outage_start = report.start + restart_at
    back = outage_start + down + 1.0  # started again, and rechecked
    for worker in report.workers:
        assert worker.unexpected == []
        assert (worker.warnings, worker.recoveries) == (1, 1)
        assert any(at > back for at in worker.done)  # it carried on after the restart
        if policy == "open":
            assert worker.errors == {}
            assert any(outage_start + 0.5 < at < outage_start + down for at in worker.done)
        else:
            assert set(worker.errors) <= {"NetworkError"}
            assert all(outage_start - 0.5 < at < back + 1.0 for at in worker.error_times)
    if policy == "closed":
        assert sum(worker.errors.get("NetworkError", 0) for worker in report.workers) > 0
