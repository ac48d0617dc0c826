"""One worker process of the shared-circuit test: calls a vendor that fails, then heals.

Run as `python -m tests.middleware.circuit_worker '<json settings>'`. It first makes `warmup`
calls that succeed (none by default), prints "ready", reads the start time (wall clock) from
stdin, then prints one JSON line: the calls that reached the vendor (warmed, failed and
answered), the calls refused, and the transitions this process announced, by state. Every
worker starts at the same time; its vendor fails until the circuit first refuses one of its
calls (so the fleet opens the circuit whatever the machine's load), answers after that, and
the run ends `run_for` seconds after the start.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from ashford_llm import ChatMessage, CircuitOpenError, CompletionRequest, ServerError
from ashford_llm.middleware import CircuitBreaker, RedisCircuitBackend
from ashford_llm.middleware import _semconv as sc
from ashford_llm.testing import MockProvider

REQUEST = CompletionRequest([ChatMessage.user("hello")])


async def work(settings: dict[str, Any]) -> dict[str, Any]:
    """Calls until the run ends; the vendor fails until it heals and answers after."""
    counts: Counter[str] = Counter()
    warmup = settings.get("warmup", 0)

    def vendor(request: CompletionRequest) -> object:
        if counts["warmed"] < warmup:
            counts["warmed"] += 1
            return "ok"
        if not counts["refused"]:
            counts["failed"] += 1
            return ServerError("down", status=503)
        counts["answered"] += 1
        return "ok"

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    async with RedisCircuitBackend(url=settings["url"]) as backend:
        layer = CircuitBreaker(
            MockProvider(vendor, model=settings["model"]),
            failure_threshold=settings["threshold"],
            window=30.0,
            cooldown=settings["cooldown"],
            failure_ratio=settings.get("failure_ratio"),
            minimum_calls=settings.get("minimum_calls"),
            backend=backend,
            meter_provider=meters,
        )
        for _ in range(warmup):
            await layer.complete(REQUEST)
        print("ready", flush=True)
        start_at = float(sys.stdin.readline())
        end_at = start_at + settings["run_for"]
        await asyncio.sleep(max(start_at - time.time(), 0))
        while time.time() < end_at:
            try:
                await layer.complete(REQUEST)
            except CircuitOpenError:
                counts["refused"] += 1
            except ServerError:
                pass
            await asyncio.sleep(0.005)
    transitions: Counter[str] = Counter()
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == sc.CIRCUIT_TRANSITIONS:
                    for point in metric.data.data_points:
                        transitions[str(point.attributes[sc.CIRCUIT_STATE])] += point.value  # type: ignore[attr-defined,index]
    meters.shutdown()
    return {**counts, "transitions": dict(transitions)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(work(json.loads(sys.argv[1])))))
