"""`ashford-llm demo --workers N`: the e-mail classifier as N Celery workers on a real Redis.

The command starts a redis-server (loopback, a free port) as the broker and the store, the
fake vendor server with seeded faults (over a socket), and N `celery worker` processes running
`ashford_llm.jobs._demo_tasks`; it queues the inbox (one task per e-mail), waits until every
e-mail has an outcome, stops everything, and judges the run from the records alone:

- every e-mail has exactly one outcome (a label or a dead letter), stored by exactly one run
  of its task: zero lost, zero duplicated (a redelivered task's second answer is counted);
- every run's call is explained by the fault the server injected into it (the
  `x-ashford-attempt` evidence), and every dead letter names a typed reason and its fault;
- each vendor's requests per minute, measured at the fake server, stay within the quota the
  workers share through Redis (the quota starts spent, as if other jobs had used it, so the
  limit binds from the first call);
- each retry waited what its decision said, the vendor's retry-after when it sent one.

`--workers 1,2,4` runs it once per count and prints the throughput of each. A problem in any
run is named and makes the command exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from ashford_llm.cli._workers_report import Collected, WorkersReport, judge, print_report

__all__ = ["add_arguments", "collect_run", "run_once", "run_workers"]

# The workers demo's outage when `--outage` is left at the one-process demo's default: long
# enough at a few requests per second per vendor to open the shared circuit.
WORKERS_OUTAGE = "anthropic:3:2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the workers demo's options to the `demo` command."""
    parser.add_argument(
        "--workers",
        help="run the classifier as N Celery workers on Redis (e.g. 4, or 1,2,4 to compare)",
    )
    parser.add_argument(
        "--emails", type=int, default=1000, help="with --workers: e-mails to classify"
    )
    parser.add_argument(
        "--rpm", type=float, default=1200.0, help="with --workers: each vendor's requests/minute"
    )


async def run_workers(args: argparse.Namespace) -> int:
    """Runs the workers demo once per worker count; returns 0 when every run held up, else 1."""
    counts = [int(part) for part in str(args.workers).split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise ValueError("--workers takes worker counts >= 1, e.g. 4 or 1,2,4")
    if args.emails < 1 or args.rpm <= 0:
        raise ValueError("--emails must be >= 1 and --rpm > 0")
    reports = []
    for count in counts:
        report = await run_once(
            workers=count,
            emails=args.emails,
            rpm=args.rpm,
            fault_rate=args.fault_rate,
            seed=args.seed,
            outage=_outage(getattr(args, "outage", None)),
        )
        print_report(report)
        reports.append(report)
    if len(reports) > 1:
        print(
            "throughput: " + ", ".join(f"{r.workers} workers {r.throughput:.1f}/s" for r in reports)
        )
    return 1 if any(report.problems for report in reports) else 0


def _outage(given: str | None) -> str | None:
    """The outage to run: the one asked for, or WORKERS_OUTAGE for the demo's default."""
    from ashford_llm.cli.demo import DEFAULT_OUTAGE

    return WORKERS_OUTAGE if given == DEFAULT_OUTAGE else given


async def run_once(
    *,
    workers: int,
    emails: int,
    rpm: float = 600.0,
    fault_rate: float = 0.3,
    seed: int = 7,
    retry_after: float = 0.5,
    outage: str | None = None,
    visibility_timeout: float = 30.0,
    kill_after: int | None = None,
    deadline_s: float = 900.0,
) -> WorkersReport:
    """Runs one fleet over the inbox and judges it (see the module docstring).

    `kill_after`: SIGKILL the first worker once that many e-mails have outcomes, to prove
    redelivery. `visibility_timeout`: seconds before an unacknowledged task is redelivered.
    """
    report, _ = await collect_run(
        workers=workers,
        emails=emails,
        rpm=rpm,
        fault_rate=fault_rate,
        seed=seed,
        retry_after=retry_after,
        outage=outage,
        visibility_timeout=visibility_timeout,
        kill_after=kill_after,
        deadline_s=deadline_s,
    )
    return report


async def collect_run(
    *,
    workers: int,
    emails: int,
    rpm: float,
    fault_rate: float,
    seed: int,
    retry_after: float,
    visibility_timeout: float,
    kill_after: int | None,
    deadline_s: float,
    outage: str | None = None,
) -> tuple[WorkersReport, Collected]:
    """Runs one fleet; returns its judged report and the raw records (for tests)."""
    from ashford_llm.cli._demo_data import classify_email
    from ashford_llm.cli._redis_server import redis_server
    from ashford_llm.cli.demo import FAULT_MIX
    from ashford_llm.testing.fake_server import Outage

    server = _timed_server(
        api_key="demo-key",
        answer=classify_email,
        fault_rate=fault_rate,
        faults=FAULT_MIX,
        seed=seed,
        retry_after=retry_after,
        slow_seconds=0.3,
        stall_seconds=1.0,
        chunk_delay=0.002,
        outages=() if outage in (None, "none") else (Outage.parse(outage),),
    )
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as logs:
        async with server.run() as running:
            cut, failure, spent_at = await asyncio.to_thread(
                _drive,
                redis_url=redis_url,
                server_url=running.url,
                workers=workers,
                emails=emails,
                rpm=rpm,
                visibility_timeout=visibility_timeout,
                kill_after=kill_after,
                deadline_s=deadline_s,
                logs=Path(logs),
            )
        collected = _collect(redis_url, server)
        collected.spent_at = spent_at
    report = judge(
        collected, workers=workers, emails=emails, rpm=rpm, retry_after=retry_after, cut=cut
    )
    if failure:
        report.problems.insert(0, failure)
    return report, collected


def _drive(
    *,
    redis_url: str,
    server_url: str,
    workers: int,
    emails: int,
    rpm: float,
    visibility_timeout: float,
    kill_after: int | None,
    deadline_s: float,
    logs: Path,
) -> tuple[list[str], str | None, float]:
    """Spends the quotas, queues the inbox, runs the workers until done.

    Returns the calls a kill cut short, why the run stopped early (None: it did not), and
    when the quotas were spent.
    """
    import redis
    from celery import Celery  # type: ignore[import-untyped]

    from ashford_llm.jobs import _demo_tasks as tasks

    asyncio.run(_spend_quotas(redis_url, rpm))
    spent_at = time.time()
    # A sender of its own per run: an app keeps its broker connections after a reconfigure.
    sender = Celery("ashford_llm_demo_sender", set_as_current=False)
    tasks.configure(sender, redis_url=redis_url, visibility_timeout=visibility_timeout)
    try:
        for email in range(1, emails + 1):
            sender.send_task(tasks.classify.name, args=(email,))
    finally:
        sender.close()
    env = os.environ | {
        "ASHFORD_JOBS_REDIS": redis_url,
        "ASHFORD_JOBS_SERVER": server_url,
        "ASHFORD_JOBS_RPM": str(rpm),
        "ASHFORD_JOBS_VISIBILITY": str(visibility_timeout),
    }
    processes = [_start_worker(number, env, logs) for number in range(workers)]
    store = redis.Redis.from_url(redis_url)
    cut: list[str] = []
    failure = None
    try:
        deadline = time.monotonic() + deadline_s
        # Done when every e-mail has an outcome and no task is left, queued or unacknowledged:
        # a redelivered task (after a kill) has run by then, so its duplicate is counted.
        while (done := int(store.hlen(tasks.RESULTS))) < emails or not _settled(store):
            if kill_after is not None and not cut and done >= kill_after:
                # Killed only in the middle of a task, so its unacknowledged task must come back:
                # held, the worker's next run stops before its call and names itself.
                pid = processes[0].pid
                store.set(f"{tasks.HOLD}{pid}", 1)
                held = store.get(f"{tasks.HELD}{pid}")
                if held:
                    processes[0].send_signal(signal.SIGKILL)
                    processes[0].wait(timeout=10)
                    cut.append(held.decode() if isinstance(held, bytes) else held)
                    store.delete(f"{tasks.HOLD}{pid}")
            alive = [p for p in processes if p.poll() is None]
            if not alive or time.monotonic() > deadline:
                failure = f"the run stopped with {done} of {emails} outcomes stored " + (
                    "(every worker exited)" if not alive else f"after {deadline_s:g}s"
                )
                break
            time.sleep(0.05)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        store.close()
    if failure:
        failure += "; worker log tail: " + _log_tail(logs)
    return cut, failure, spent_at


def _settled(store: Any) -> bool:
    """Tells whether the broker holds no task: none queued, none delivered and unacknowledged."""
    return int(store.llen("celery")) == 0 and int(store.zcard("unacked_index")) == 0


async def _spend_quotas(redis_url: str, rpm: float) -> None:
    """Takes every vendor's whole per-minute budget, so the shared limit binds from the start."""
    from ashford_llm.jobs._demo_tasks import VENDORS
    from ashford_llm.middleware import RedisRateLimiter

    for vendor in VENDORS:
        async with RedisRateLimiter(
            key=f"demo:{vendor}", url=redis_url, requests_per_minute=rpm
        ) as quota:
            for _ in range(math.floor(rpm)):
                await quota.acquire(input_tokens=0, output_tokens=0)


def _start_worker(number: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """Starts one `celery worker` process (solo pool: one task at a time) logging to a file."""
    log = (logs / f"worker{number}.log").open("wb")
    command = [
        sys.executable, "-m", "celery", "-A", "ashford_llm.jobs._demo_tasks", "worker",
        "--pool=solo", "--concurrency=1", f"--hostname=demo{number}@127.0.0.1",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
    ]  # fmt: skip
    with log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _log_tail(logs: Path) -> str:
    """The last lines of the workers' logs, for a failed run's message."""
    lines = [line for path in sorted(logs.glob("*.log")) for line in path.read_text().splitlines()]
    return " | ".join(lines[-5:]) or "(empty)"


def _collect(redis_url: str, server: Any) -> Collected:
    """Reads the stored outcomes and every task run from Redis, and the server's records."""
    import redis

    from ashford_llm.jobs._demo_tasks import EXECUTIONS, RESULTS, Execution

    with redis.Redis.from_url(redis_url) as store:
        outcomes = {int(k): msgspec.json.decode(v) for k, v in store.hgetall(RESULTS).items()}
        runs = [msgspec.json.decode(raw, type=Execution) for raw in store.lrange(EXECUTIONS, 0, -1)]
    return Collected(
        outcomes=outcomes,
        executions=runs,
        records=list(server.stats.records),
        arrivals=dict(server.arrivals),
    )


def _timed_server(**options: Any) -> Any:
    """A fake server that also notes when each attempt (by its header) arrived.

    The class is made here: the fake server needs the testing extra, and the CLI's parser
    imports this module.
    """
    from ashford_llm.testing.fake_server.app import FakeProviderServer

    class TimedServer(FakeProviderServer):
        def __init__(self) -> None:
            super().__init__(**options)
            self.arrivals: dict[str, float] = {}

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                for name, value in scope.get("headers", ()):
                    if name == b"x-ashford-attempt":
                        self.arrivals.setdefault(value.decode("latin-1"), time.time())
            await super().__call__(scope, receive, send)

    return TimedServer()
