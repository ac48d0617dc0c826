"""RedisCache and RedisBudget against a real redis-server: shared entries and spend, TTL,
outages, cancellation, and several processes sharing one cache and one budget."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ashford_llm import BudgetExceededError, ChatMessage, CompletionRequest, NetworkError
from ashford_llm.middleware import Budget, Cache, RedisBudget, RedisCache
from ashford_llm.middleware.cost.redis_budget import KEY_PREFIX as BUDGET_PREFIX
from ashford_llm.testing import MockProvider
from tests.middleware._redis_cost_worker import INFO, REQUEST, estimate_nanos, exact
from tests.middleware.redis_server import RedisServer, closed_port, redis_server_or_skip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with redis_server_or_skip() as server:
        yield server


@pytest.fixture
def name() -> str:
    return f"test-{uuid.uuid4().hex}"


def closed_url() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    return f"redis://127.0.0.1:{closed_port()}/0"


# RedisCache


async def test_two_caches_on_one_namespace_share_entries(
    redis_server: RedisServer, name: str
) -> None:
    first, second = MockProvider(lambda r: "billing"), MockProvider(lambda r: "other")
    request = CompletionRequest([ChatMessage.user("Classify")])
    async with (
        RedisCache(url=redis_server.url, namespace=name) as a,
        RedisCache(url=redis_server.url, namespace=name) as b,
        RedisCache(url=redis_server.url, namespace=name + "-else") as elsewhere,
    ):
        assert not (await Cache(first, backend=a).complete(request)).cached
        hit = await Cache(second, backend=b).complete(request)
        apart = await Cache(second, backend=elsewhere).complete(request)
    assert (hit.content, hit.cached) == ("billing", True)
    assert (apart.content, apart.cached) == ("other", False)
    assert (len(first.requests), len(second.requests)) == (1, 1)


async def test_redis_cache_entries_expire_after_their_ttl(
    redis_server: RedisServer, name: str
) -> None:
    provider = MockProvider(lambda r: "billing")
    request = CompletionRequest([ChatMessage.user("Classify")])
    async with RedisCache(url=redis_server.url, namespace=name) as backend:
        layer = Cache(provider, backend=backend, ttl=0.2)
        await layer.complete(request)
        assert (await layer.complete(request)).cached
        await asyncio.sleep(0.3)
        assert not (await layer.complete(request)).cached
    assert len(provider.requests) == 2


async def test_redis_cache_misses_with_one_warning_while_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = MockProvider(lambda r: "billing")
    request = CompletionRequest([ChatMessage.user("Classify")])
    async with RedisCache(url=closed_url(), recheck_interval=0.05) as backend:
        layer = Cache(provider, backend=backend)
        for _ in range(3):
            assert not (await layer.complete(request)).cached
            await asyncio.sleep(0.06)
    assert len(provider.requests) == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "miss the cache" in warnings[0].getMessage()


# RedisBudget


async def test_redis_budget_refuses_past_the_limit_and_settles_in_redis(
    redis_server: RedisServer, name: str
) -> None:
    estimate = estimate_nanos()
    async with RedisBudget(url=redis_server.url) as backend:
        hold = await backend.reserve(name, estimate, limit=2 * estimate, window=3600)
        assert (hold.granted, hold.spent) == (True, 0)
        await backend.settle(hold, estimate // 2)
        second = await backend.reserve(name, estimate, limit=2 * estimate, window=3600)
        third = await backend.reserve(name, estimate, limit=2 * estimate, window=3600)
        async with Redis.from_url(redis_server.url) as client:
            stored = await client.get(f"{BUDGET_PREFIX}{name}:3600:{hold.window}")
    assert (second.granted, second.spent) == (True, estimate // 2)
    assert (third.granted, third.spent) == (False, estimate // 2 + estimate)
    assert 0 < third.resets_in <= 3600
    assert stored is not None
    assert int(stored) == estimate // 2 + estimate


async def test_budget_over_redis_refuses_with_budget_exceeded(
    redis_server: RedisServer, name: str
) -> None:
    async with RedisBudget(url=redis_server.url) as backend:
        limit = Decimal(2 * estimate_nanos()) / Decimal(10**9)
        layer = Budget(
            MockProvider(exact, info=INFO), limit=limit, window=60, key=name, backend=backend
        )
        await layer.complete(REQUEST)
        await layer.complete(REQUEST)
        with pytest.raises(BudgetExceededError, match=name):
            await layer.complete(REQUEST)


async def test_redis_budget_windows_roll_over_by_the_servers_clock(
    redis_server: RedisServer, name: str
) -> None:
    async with RedisBudget(url=redis_server.url) as backend:
        # Windows are aligned to the epoch: start early in one (the server runs on this host),
        # so the first two reservations fall in the same window however slow the machine is.
        await asyncio.sleep(2.0 - time.time() % 2.0 + 0.01)
        first = await backend.reserve(name, 10, limit=10, window=2.0)
        refused = await backend.reserve(name, 10, limit=10, window=2.0)
        await asyncio.sleep(refused.resets_in + 0.05)
        later = await backend.reserve(name, 10, limit=10, window=2.0)
    assert (first.granted, refused.granted, later.granted) == (True, False, True)
    assert later.window == first.window + 1


async def test_redis_budget_fails_closed_when_redis_is_down() -> None:
    async with RedisBudget(url=closed_url()) as backend:
        layer = Budget(MockProvider(exact, info=INFO), limit=1, window=60, backend=backend)
        with pytest.raises(NetworkError) as caught:
            await layer.complete(REQUEST)
    assert caught.value.retryable
    assert caught.value.error_type == "budget_unavailable"


async def test_a_cancelled_reservation_gives_back_what_it_reserved(
    redis_server: RedisServer, name: str
) -> None:
    async with RedisBudget(url=redis_server.url) as backend:
        for _ in range(20):  # cancels land before, during and after the script
            task = asyncio.create_task(backend.reserve(name, 100, limit=10_000, window=3600))
            await asyncio.sleep(0)
            task.cancel()
            try:
                hold = await task
            except asyncio.CancelledError:
                continue
            await backend.settle(hold, 0)
        check = await backend.reserve(name, 0, limit=10_000, window=3600)
    assert check.spent == 0


def test_redis_budget_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedisBudget()
    with pytest.raises(ValueError, match="timeout"):
        RedisBudget(url="redis://127.0.0.1/0", timeout=0)
    with pytest.raises(ValueError, match="namespace"):
        RedisCache(url="redis://127.0.0.1/0", namespace="")


async def test_redis_backends_show_no_credential(caplog: pytest.LogCaptureFixture) -> None:
    secret = "hunter2-redis-password"
    url = closed_url().replace("redis://", f"redis://:{secret}@")
    async with RedisCache(url=url) as cache, RedisBudget(url=url) as budget:
        await cache.get("k")
        with pytest.raises(NetworkError) as caught:
            await budget.reserve("k", 1, limit=10, window=60)
    shown = [repr(cache), repr(budget), str(caught.value), caplog.text]
    assert not [text for text in shown if secret in text]


# Several processes


def run_workers(*arguments: list[str]) -> list[dict[str, int]]:
    """Runs one worker process per argument list at once; returns what each printed."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.middleware._redis_cost_worker", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for args in arguments
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        results.append(json.loads(out))
    return results


@pytest.mark.timeout(120)
def test_four_processes_share_one_budget_and_never_pass_it(
    redis_server: RedisServer, name: str
) -> None:
    results = run_workers(*[["budget", redis_server.url, name, "8"] for _ in range(4)])
    # The limit is ten calls' estimates, each call settles to its estimate: exactly ten of
    # the 32 calls in all may pass, however the four processes interleave.
    assert sum(result["granted"] for result in results) == 10
    assert [r["granted"] for r in results] == [r["vendor_calls"] for r in results]


@pytest.mark.timeout(120)
def test_processes_share_one_redis_cache(redis_server: RedisServer, name: str) -> None:
    (first,) = run_workers(["cache", redis_server.url, name, "5"])
    readers = run_workers(*[["cache", redis_server.url, name, "5"] for _ in range(3)])
    assert first == {"hits": 0, "vendor_calls": 5}
    assert readers == [{"hits": 5, "vendor_calls": 0}] * 3
