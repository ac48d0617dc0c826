"""Many processes, one quota: RateLimit over a RedisRateLimiter in N processes, measured.

Each worker process hammers `RateLimit(MockProvider, backend=RedisRateLimiter(key=...))` with
`--concurrency` callers; all name the same key. The first minute's budget is a burst (each
bucket holds one minute), so the combined rate is measured after `--warmup` seconds, against
the per-minute budgets. The mock reports output tokens from `--output-tokens` in turn (the
request asks for 90), so settlement both refunds and charges extra.

    python benchmarks/redis_rate.py --seconds 60 --requests-per-minute 3000
    python benchmarks/redis_rate.py --seconds 60 --tokens-per-minute 120000
    python benchmarks/redis_rate.py --seconds 20 --restart-at 8 --policy closed

Without `--url` it starts its own redis-server on a free loopback port (needed for
`--restart-at`). The tests call `run()` with small numbers. With `--name` the run's figures
are stored under that name in `benchmarks/results/redis_rate.json` (other runs kept), which
docs/reliability.md renders.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse, LLMError
from ashford_llm.middleware import RateLimit, RedisRateLimiter
from ashford_llm.middleware.rate_limit import estimate_input_tokens
from ashford_llm.testing import MockProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resultfile

REQUEST = CompletionRequest([ChatMessage.user("x" * 40)], max_tokens=90)
"""Estimated at 10 input + 90 output tokens."""


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What one worker process runs."""

    url: str
    key: str
    seconds: float
    requests_per_minute: float | None
    tokens_per_minute: int | None
    output_tokens: tuple[int, ...]
    policy: str
    concurrency: int
    recheck_interval: float


class WorkerResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one worker saw: completion times and tokens, typed errors, outage log lines."""

    done: list[float]
    tokens: list[int]
    errors: dict[str, int]
    error_times: list[float]
    unexpected: list[str]
    warnings: int
    recoveries: int


class RunReport(msgspec.Struct, frozen=True, kw_only=True):
    """A whole run: its start (epoch seconds), configuration and every worker's result."""

    start: float
    config: WorkerConfig
    workers: list[WorkerResult]

    def window(self, warmup: float) -> tuple[float, float]:
        """Returns the steady part of the run: from a second after the first minute's burst.

        The burst ends, at the latest, once the calls (or tokens) done reach one minute's
        budget; the window starts a second after that, and not before `warmup` seconds.
        """
        done = sorted(
            (at, used)
            for worker in self.workers
            for at, used in zip(worker.done, worker.tokens, strict=True)
        )
        burst_end = self.start
        for budget, weight in (
            (self.config.requests_per_minute, lambda used: 1),
            (self.config.tokens_per_minute, lambda used: used),
        ):
            total = 0
            for at, used in done:
                total += weight(used)
                if budget is not None and total >= budget:
                    burst_end = max(burst_end, at)
                    break
        return max(self.start + warmup, burst_end + 1.0), self.start + self.config.seconds

    def rates(self, warmup: float) -> tuple[float, float]:
        """Returns the combined (requests, tokens) per minute in the steady window."""
        since, until = self.window(warmup)
        calls = tokens = 0
        for worker in self.workers:
            for at, used in zip(worker.done, worker.tokens, strict=True):
                if since <= at < until:
                    calls += 1
                    tokens += used
        minutes = (until - since) / 60
        return calls / minutes, tokens / minutes


class _OutageLog(logging.Handler):
    """Counts the limiter's outage warnings and recoveries."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings = self.recoveries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.warnings += 1
        elif "answers again" in record.getMessage():
            self.recoveries += 1


async def _work(config: WorkerConfig, start_at: float) -> WorkerResult:
    """Calls through the shared limit from `start_at` for `config.seconds`."""
    log = _OutageLog()
    logger = logging.getLogger("ashford_llm")
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    outputs = itertools.cycle(config.output_tokens)

    def answer(request: CompletionRequest) -> CompletionResponse:
        return CompletionResponse(
            content="ok",
            model="mock-model",
            input_tokens=estimate_input_tokens(request),
            output_tokens=next(outputs),
            latency_ms=0.0,
            finish_reason="stop",
            provider="mock",
        )

    done: list[float] = []
    tokens: list[int] = []
    errors: Counter[str] = Counter()
    error_times: list[float] = []
    async with RedisRateLimiter(
        key=config.key,
        url=config.url,
        requests_per_minute=config.requests_per_minute,
        tokens_per_minute=config.tokens_per_minute,
        on_redis_error="closed" if config.policy == "closed" else "open",
        recheck_interval=config.recheck_interval,
    ) as limiter:
        layer = RateLimit(MockProvider(answer), backend=limiter)

        async def caller() -> None:
            while True:
                try:
                    response = await layer.complete(REQUEST)
                except LLMError as exc:
                    errors[type(exc).__name__] += 1
                    error_times.append(time.time())
                    await asyncio.sleep(0.05)  # the caller's own backoff
                    continue
                done.append(time.time())
                tokens.append(response.input_tokens + response.output_tokens)

        await asyncio.sleep(max(start_at - time.time(), 0))
        callers = [asyncio.create_task(caller()) for _ in range(config.concurrency)]
        await asyncio.sleep(max(start_at + config.seconds - time.time(), 0))
        for task in callers:
            task.cancel()
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
    unexpected = [repr(o) for o in outcomes if not isinstance(o, asyncio.CancelledError)]
    return WorkerResult(
        done=done,
        tokens=tokens,
        errors=dict(errors),
        error_times=error_times,
        unexpected=unexpected,
        warnings=log.warnings,
        recoveries=log.recoveries,
    )


def _worker_main(config_json: str) -> None:
    """A worker process: says ready, reads the common start time, runs, prints its result."""
    config = msgspec.json.decode(config_json, type=WorkerConfig)
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    result = asyncio.run(_work(config, start_at))
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")


def run(
    config: WorkerConfig,
    *,
    processes: int = 4,
    restart: Callable[[], None] | None = None,
    restart_at: float = 0.0,
) -> RunReport:
    """Runs `processes` workers together; calls `restart()` `restart_at` seconds in."""
    command = [sys.executable, __file__, "--worker", msgspec.json.encode(config).decode()]
    workers = [
        subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError(f"worker failed to start: {worker.communicate()[1]}")
        start = time.time() + 0.2
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start!r}\n")
            worker.stdin.flush()
        if restart is not None:
            time.sleep(max(start + restart_at - time.time(), 0))
            restart()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=config.seconds + 30)
            if worker.returncode != 0:
                raise RuntimeError(f"worker exited with {worker.returncode}: {err}")
            results.append(msgspec.json.decode(out.splitlines()[-1], type=WorkerResult))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return RunReport(start=start, config=config, workers=results)


def _summary(report: RunReport, warmup: float) -> str:
    """Describes a run in a few lines: calls, errors, the measured rates against the budgets."""
    config = report.config
    per_minute, tokens_per_minute = report.rates(warmup)
    since, until = report.window(warmup)
    window = until - since
    errors: Counter[str] = Counter()
    for worker in report.workers:
        errors.update(worker.errors)
    lines = [
        f"{len(report.workers)} processes x {config.concurrency} callers, {config.seconds:g}s, "
        f"policy {config.policy}",
        f"calls per process: {[len(worker.done) for worker in report.workers]} "
        f"({[sum(since <= at < until for at in w.done) for w in report.workers]} in the window); "
        f"errors: {dict(errors) or 'none'}; "
        f"unexpected: {sum(len(worker.unexpected) for worker in report.workers)}",
        f"outage warnings: {sum(w.warnings for w in report.workers)}, "
        f"recoveries: {sum(w.recoveries for w in report.workers)}",
    ]
    for name, measured, budget in (
        ("requests", per_minute, config.requests_per_minute),
        ("tokens", tokens_per_minute, config.tokens_per_minute),
    ):
        versus = f" = {measured / budget - 1:+.2%} of the budget {budget:g}" if budget else ""
        lines.append(f"{name} per minute over {window:.1f}s: {measured:.1f}{versus}")
    return "\n".join(lines)


def figures(
    report: RunReport, warmup: float, restart_at: float | None, down: float
) -> dict[str, Any]:
    """Returns a run's figures as stored in the results file."""
    config = report.config
    per_minute, tokens_per_minute = report.rates(warmup)
    since, until = report.window(warmup)
    errors: Counter[str] = Counter()
    for worker in report.workers:
        errors.update(worker.errors)
    return {
        "processes": len(report.workers),
        "concurrency": config.concurrency,
        "seconds": config.seconds,
        "policy": config.policy,
        "requests_per_minute_budget": config.requests_per_minute,
        "tokens_per_minute_budget": config.tokens_per_minute,
        "output_tokens": list(config.output_tokens),
        "restart_at": restart_at,
        "down": down if restart_at is not None else None,
        "calls_per_process": [len(worker.done) for worker in report.workers],
        "window_calls_per_process": [
            sum(since <= at < until for at in worker.done) for worker in report.workers
        ],
        "window_seconds": until - since,
        "requests_per_minute": per_minute,
        "tokens_per_minute": tokens_per_minute,
        "errors": dict(errors),
        "unexpected": sum(len(worker.unexpected) for worker in report.workers),
        "warnings": sum(worker.warnings for worker in report.workers),
        "recoveries": sum(worker.recoveries for worker in report.workers),
    }


def _store(path: Path, name: str, run_figures: dict[str, Any]) -> None:
    """Stores one named run in the results file, keeping the other runs there."""
    runs: dict[str, Any] = {}
    if path.exists():
        runs = json.loads(path.read_text()).get("runs", {})
    version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    runs[name] = {**run_figures, "command": resultfile.command("redis_rate.py")}
    resultfile.write(
        path, script="redis_rate.py", parameters={"redis_server": version}, data={"runs": runs}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--name", help="store the run's figures under this name")
    parser.add_argument("--out", type=Path, default=resultfile.RESULTS / "redis_rate.json")
    parser.add_argument("--url", help="Redis URL; without it a redis-server is started")
    parser.add_argument("--key", default="redis-rate-benchmark")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--requests-per-minute", type=float)
    parser.add_argument("--tokens-per-minute", type=int)
    parser.add_argument("--output-tokens", default="10,50,170")
    parser.add_argument("--policy", choices=["open", "closed"], default="open")
    parser.add_argument("--recheck-interval", type=float, default=0.25)
    parser.add_argument("--restart-at", type=float, help="restart Redis this many seconds in")
    parser.add_argument("--down", type=float, default=1.0, help="seconds Redis stays down")
    args = parser.parse_args()
    if args.worker:
        _worker_main(args.worker)
        return
    if args.requests_per_minute is None and args.tokens_per_minute is None:
        parser.error("give --requests-per-minute and/or --tokens-per-minute")

    def measure(url: str, restart: Callable[[], None] | None) -> None:
        config = WorkerConfig(
            url=url,
            key=f"{args.key}:{time.time_ns()}",
            seconds=args.seconds,
            requests_per_minute=args.requests_per_minute,
            tokens_per_minute=args.tokens_per_minute,
            output_tokens=tuple(int(n) for n in args.output_tokens.split(",")),
            policy=args.policy,
            concurrency=args.concurrency,
            recheck_interval=args.recheck_interval,
        )
        report = run(
            config, processes=args.processes, restart=restart, restart_at=args.restart_at or 0
        )
        print(_summary(report, args.warmup))
        if args.name:
            _store(args.out, args.name, figures(report, args.warmup, args.restart_at, args.down))

    if args.url:
        if args.restart_at is not None:
            parser.error("--restart-at needs the redis-server this script starts (no --url)")
        measure(args.url, None)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.middleware.redis_server import redis_server_or_skip

    with redis_server_or_skip() as server:
        down = args.down
        measure(server.url, None if args.restart_at is None else lambda: server.restart(down))


if __name__ == "__main__":
    main()
