"""RedisCircuitBackend against a real redis-server: one circuit shared by layers and by four
processes, half-open probes, lost probes, and Redis outages under both policies.

These run in real time (the circuits move by Redis's clock), with cooldowns of fractions of
a second.
"""

import asyncio
import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ashford_llm import (
    ChatMessage,
    CircuitOpenError,
    CompletionRequest,
    NetworkError,
    ServerError,
)
from ashford_llm.middleware import CircuitBreaker, CircuitState, RedisCircuitBackend
from ashford_llm.middleware.circuit_breaker import CircuitPolicy
from ashford_llm.middleware.circuit_breaker.redis_backend import KEY_PREFIX
from ashford_llm.testing import MockProvider
from tests.middleware.redis_server import RedisServer, closed_port, redis_server_or_skip

REQUEST = CompletionRequest([ChatMessage.user("hello")])
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with redis_server_or_skip() as server:
        yield server


@pytest.fixture
def model() -> str:
    """A model name no other test uses, so each test has its own circuit."""
    return f"model-{uuid.uuid4().hex}"


def layer(inner: MockProvider, backend: RedisCircuitBackend, **options: object) -> CircuitBreaker:
    settings: dict[str, object] = {"failure_threshold": 3, "window": 10.0, "cooldown": 0.3}
    return CircuitBreaker(inner, backend=backend, **(settings | options))  # type: ignore[arg-type]


def failing(model: str) -> MockProvider:
    return MockProvider(lambda request: ServerError("down", status=503), model=model)


async def fail_times(breaker: CircuitBreaker, n: int) -> None:
    for _ in range(n):
        with pytest.raises(ServerError):
            await breaker.complete(REQUEST)


async def test_two_backends_share_one_circuit(redis_server: RedisServer, model: str) -> None:
    async with (
        RedisCircuitBackend(url=redis_server.url) as one,
        RedisCircuitBackend(url=redis_server.url) as two,
    ):
        first = layer(failing(model), one)
        healthy = MockProvider(["never"], model=model)
        second = layer(healthy, two)
        await fail_times(first, 3)
        with pytest.raises(CircuitOpenError) as caught:
            await second.complete(REQUEST)
        assert await second.state() is CircuitState.open
    assert caught.value.retry_after is not None
    assert 0.0 < caught.value.retry_after <= 0.3
    assert healthy.requests == []


async def test_after_the_cooldown_one_probe_closes_the_shared_circuit(
    redis_server: RedisServer, model: str
) -> None:
    gate, probing = asyncio.Event(), asyncio.Event()
    calls = 0

    async def answer(request: CompletionRequest) -> object:
        nonlocal calls
        calls += 1
        if calls <= 3:
            return ServerError("down")
        probing.set()
        await gate.wait()
        return "back"

    async with RedisCircuitBackend(url=redis_server.url) as backend:
        breaker = layer(MockProvider(answer, model=model), backend)
        await fail_times(breaker, 3)
        await asyncio.sleep(0.35)
        probe = asyncio.create_task(breaker.complete(REQUEST))
        await asyncio.wait_for(probing.wait(), 5)
        assert await breaker.state() is CircuitState.half_open
        with pytest.raises(CircuitOpenError, match="half-open"):
            await breaker.complete(REQUEST)
        gate.set()
        assert (await probe).content == "back"
        assert await breaker.state() is CircuitState.closed


async def test_a_probe_lost_with_its_process_is_given_up_after_a_cooldown(
    redis_server: RedisServer, model: str
) -> None:
    policy = CircuitPolicy(failure_threshold=1, window=10.0, cooldown=0.2, half_open_max=1)
    async with RedisCircuitBackend(url=redis_server.url) as backend:
        key = f"lost:{model}"
        opened = await backend.record(
            key, policy, await backend.admit(key, policy, now=0.0), "failure", now=0.0
        )
        assert opened is CircuitState.open
        await asyncio.sleep(0.25)
        probe = await backend.admit(key, policy, now=0.0)  # taken, never recorded
        assert (probe.allowed, probe.probe, probe.entered) == (True, True, CircuitState.half_open)
        assert not (await backend.admit(key, policy, now=0.0)).allowed
        await asyncio.sleep(0.25)
        again = await backend.admit(key, policy, now=0.0)
    assert (again.allowed, again.probe) == (True, True)


async def test_two_backends_judge_one_failure_ratio_over_both_their_calls(
    redis_server: RedisServer, model: str
) -> None:
    ratio = {"failure_threshold": 1, "failure_ratio": 0.5, "minimum_calls": 6}
    async with (
        RedisCircuitBackend(url=redis_server.url) as one,
        RedisCircuitBackend(url=redis_server.url) as two,
    ):
        healthy = layer(MockProvider(["ok"] * 4, model=model), one, **ratio)
        down = layer(failing(model), two, **ratio)
        for _ in range(4):
            await healthy.complete(REQUEST)
        await fail_times(down, 3)  # 3 of 7 calls failed
        assert await down.state() is CircuitState.closed
        await fail_times(down, 1)  # 4 of 8
        assert await healthy.state() is CircuitState.open


async def test_a_ratio_circuit_in_redis_needs_minimum_calls_and_slides_its_window(
    redis_server: RedisServer, model: str
) -> None:
    ratio = {"failure_threshold": 1, "failure_ratio": 0.5, "minimum_calls": 4, "window": 0.3}
    answers = [*["ok"] * 6, *[ServerError("down")] * 20]
    async with RedisCircuitBackend(url=redis_server.url) as backend:
        breaker = layer(MockProvider(answers, model=model), backend, **ratio)
        for _ in range(6):
            await breaker.complete(REQUEST)
        await fail_times(breaker, 3)  # 3 of 9 within the window
        assert await breaker.state() is CircuitState.closed
        await asyncio.sleep(0.35)  # every outcome so far is older than the window
        await fail_times(breaker, 3)  # 3 of 3: fewer than minimum_calls
        assert await breaker.state() is CircuitState.closed
        await fail_times(breaker, 1)  # 4 of 4
        assert await breaker.state() is CircuitState.open


async def test_without_a_ratio_redis_keeps_no_successes(
    redis_server: RedisServer, model: str
) -> None:
    async with RedisCircuitBackend(url=redis_server.url) as backend:
        breaker = layer(MockProvider(["ok"] * 3, model=model), backend)
        for _ in range(3):
            await breaker.complete(REQUEST)
        with_ratio = layer(MockProvider(["ok"], model=f"{model}-ratio"), backend, failure_ratio=0.5)
        await with_ratio.complete(REQUEST)
        client = backend._client
        assert await client.exists(f"{KEY_PREFIX}{breaker.key}:successes") == 0
        assert await client.zcard(f"{KEY_PREFIX}{with_ratio.key}:successes") == 1


async def test_redis_down_fails_open_to_an_in_process_circuit_with_one_warning(
    model: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with RedisCircuitBackend(url=url, recheck_interval=0.05) as backend:
        inner = failing(model)
        breaker = layer(inner, backend)
        await fail_times(breaker, 3)
        with pytest.raises(CircuitOpenError):
            await breaker.complete(REQUEST)
    assert len(inner.requests) == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "Redis" in r.message]
    assert len(warnings) == 1
    assert "in-process circuit" in warnings[0].getMessage()


async def test_redis_down_fails_closed_with_a_retryable_network_error(model: str) -> None:
    url = f"redis://:secret-password@127.0.0.1:{closed_port()}/0"
    async with RedisCircuitBackend(url=url, on_redis_error="closed") as backend:
        inner = MockProvider(["never"], model=model)
        with pytest.raises(NetworkError) as caught:
            await layer(inner, backend).complete(REQUEST)
    assert caught.value.error_type == "circuit_backend_unavailable"
    assert inner.requests == []
    assert "secret-password" not in str(caught.value)
    assert "secret-password" not in repr(backend)


async def test_redis_never_hangs_a_call_when_it_does_not_answer(model: str) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):
            pass
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"redis://127.0.0.1:{port}/0"
        async with RedisCircuitBackend(url=url, timeout=0.2) as backend:
            started = time.monotonic()
            response = await layer(MockProvider(["ok"], model=model), backend).complete(REQUEST)
            elapsed = time.monotonic() - started
    finally:
        server.close()
        await server.wait_closed()
    assert response.content == "ok"
    assert elapsed < 1.0


def test_redis_circuit_backend_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RedisCircuitBackend()
    with pytest.raises(ValueError, match="on_redis_error"):
        RedisCircuitBackend(url="redis://127.0.0.1:1/0", on_redis_error="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        RedisCircuitBackend(url="redis://127.0.0.1:1/0", timeout=0)


# By count: the tenth failure opens. By ratio: each process first has 5 calls succeed, so
# the 20 successes of the fleet need 20 failures to make half of its 40 calls.
FLEET_RULES = {
    "count": ({"threshold": 10}, 10),
    "ratio": (
        {"threshold": 1, "failure_ratio": 0.5, "minimum_calls": 10, "warmup": 5},
        20,
    ),
}


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("rule", FLEET_RULES)
def test_four_processes_open_half_open_and_close_one_circuit_together(
    redis_server: RedisServer, model: str, rule: str
) -> None:
    options, opening = FLEET_RULES[rule]
    settings = {
        "url": redis_server.url,
        "model": model,
        "cooldown": 1.0,
        "run_for": 4.0,
        **options,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.middleware.circuit_worker", json.dumps(settings)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
    start_at = f"{time.time() + 0.2}\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(start_at)
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    failed = sum(result.get("failed", 0) for result in results)
    # The fleet stops at its opening failure; calls already admitted may still fail (one each).
    assert opening <= failed <= opening + 3, results
    assert all(result.get("refused", 0) > 0 for result in results), results
    assert all(result.get("answered", 0) > 0 for result in results), results
    transitions = {
        state: sum(result["transitions"].get(state, 0) for result in results)
        for state in ("open", "half_open", "closed")
    }
    # Each transition happened once for the fleet, announced by the process that caused it.
    assert transitions == {"open": 1, "half_open": 1, "closed": 1}, results
