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
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ashford_llm.jobs._demo_tasks import Execution
    from ashford_llm.testing.fake_server import ServedRecord

__all__ = ["WorkersReport", "add_arguments", "judge", "run_once", "run_workers"]

_FAULT_MIX = {
    "rate_limit": 3,
    "server_error": 2,
    "unavailable": 1,
    "overloaded": 1,
    "slow_first_byte": 1,
    "dropped_connection": 1,
    "html_error": 1,
    "malformed_json": 1,
    "stall": 1,
    "cut_stream": 1,
    "mid_stream_error": 1,
    "quota_exhausted": 1,
}
_RATE_SLACK = 3
# The workers demo's outage when `--outage` is left at the one-process demo's default: long
# enough at a few requests per second per vendor to open the shared circuit.
WORKERS_OUTAGE = "anthropic:3:2"
_RETRY_SLACK_S = 0.1


class WorkersReport(msgspec.Struct, kw_only=True):
    """One run's figures and the problems found (an empty list: every property held)."""

    workers: int
    emails: int
    elapsed_s: float = 0.0
    throughput: float = 0.0
    classified: int = 0
    dead_letters: dict[str, int] = msgspec.field(default_factory=dict)
    executions: int = 0
    duplicate_answers: int = 0
    redelivered: int = 0
    killed: int = 0
    cut: list[str] = msgspec.field(default_factory=list)
    retries: dict[str, int] = msgspec.field(default_factory=dict)
    refused: int = 0
    refused_workers: int = 0
    outage_requests: int = 0
    requests: int = 0
    peak_rpm: dict[str, int] = msgspec.field(default_factory=dict)
    peak_per_60s: dict[str, int] = msgspec.field(default_factory=dict)
    rpm_limit: float = 0.0
    problems: list[str] = msgspec.field(default_factory=list)


class Collected(msgspec.Struct, kw_only=True):
    """What a run left behind: the stored outcomes, each task run, and the server's view."""

    outcomes: dict[int, dict[str, Any]]
    executions: list[Execution]
    records: list[ServedRecord]
    arrivals: dict[str, float]  # x-ashford-attempt value -> when the server received it
    spent_at: float = 0.0  # when the quotas were spent in full, before the first task


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
    from ashford_llm.testing.fake_server import Outage

    server = _timed_server(
        api_key="demo-key",
        answer=classify_email,
        fault_rate=fault_rate,
        faults=_FAULT_MIX,
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
        while (done := int(store.hlen(tasks.RESULTS))) < emails:
            if kill_after is not None and not cut and done >= kill_after:
                # Killed only in the middle of a task, so its unacknowledged task must come back.
                running = store.get(f"{tasks.RUNNING}{processes[0].pid}")
                if running:
                    processes[0].send_signal(signal.SIGKILL)
                    processes[0].wait(timeout=10)
                    cut.append(running.decode() if isinstance(running, bytes) else running)
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


def judge(
    collected: Collected,
    *,
    workers: int,
    emails: int,
    rpm: float,
    retry_after: float,
    cut: list[str] = [],  # noqa: B006 - read only
) -> WorkersReport:
    """Checks every property of the module docstring; returns the figures and the problems."""
    from ashford_llm.cli._demo_data import INBOX
    from ashford_llm.jobs._demo_tasks import vendor_of
    from ashford_llm.testing.fake_server.evidence import index_records

    report = WorkersReport(
        workers=workers, emails=emails, rpm_limit=rpm, killed=len(cut), cut=list(cut)
    )
    problems = report.problems
    runs = collected.executions
    index = index_records(collected.records)
    by_email: dict[int, list[Execution]] = {}
    for run in runs:
        by_email.setdefault(run.email, []).append(run)
    report.executions = len(runs)
    refused = [run for run in runs if run.error == "CircuitOpenError"]
    report.refused, report.refused_workers = len(refused), len({run.worker for run in refused})
    report.outage_requests = sum(record.outage for record in collected.records)
    report.requests = len(collected.records)
    if runs:
        report.elapsed_s = max(r.ended for r in runs) - min(r.started for r in runs)
        report.throughput = emails / report.elapsed_s if report.elapsed_s > 0 else 0.0
    dead: Counter[str] = Counter()
    for email in range(1, emails + 1):
        outcome = collected.outcomes.get(email)
        stored = [r for r in by_email.get(email, []) if r.stored == "new"]
        report.duplicate_answers += sum(r.stored == "duplicate" for r in by_email.get(email, []))
        if outcome is None:
            problems.append(f"e-mail {email}: lost (no outcome stored)")
            continue
        if len(stored) != 1:
            problems.append(f"e-mail {email}: {len(stored)} runs stored an outcome, not 1")
            continue
        if "label" in outcome:
            report.classified += 1
            expected = INBOX[(email - 1) % len(INBOX)][1]
            if outcome["label"] != expected:
                problems.append(f"e-mail {email}: label {outcome['label']}, expected {expected}")
        else:
            decision = outcome["dead_letter"]
            fault = _fault_of(index, stored[0].call_id)
            dead[f"{decision['error']} ({fault})"] += 1
            if decision["retry"] or not decision["reason"] or fault in ("-", "?"):
                problems.append(f"e-mail {email}: dead letter without a typed reason and fault")
    report.dead_letters = dict(dead)
    problems += [f"e-mail {e}: an outcome for an e-mail never queued" for e in
                 sorted(set(collected.outcomes) - set(range(1, emails + 1)))]  # fmt: skip
    _judge_evidence(report, runs, index)
    _judge_retries(report, by_email, retry_after)
    _judge_rates(report, collected, vendor_of)
    return report


def _fault_of(index: dict[str, dict[int, list[ServedRecord]]], call_id: str) -> str:
    """The fault the server injected into a call's one attempt ("-": none, "?": unknown)."""
    records = index.get(call_id, {}).get(1, [])
    if len(records) != 1:
        return "?"
    record = records[0]
    return f"outage:{record.fault}" if record.outage else str(record.fault or "-")


def _judge_evidence(
    report: WorkersReport, runs: list[Execution], index: dict[str, dict[int, list[ServedRecord]]]
) -> None:
    """Every run's call must be explained by its fault; every call the server saw, by a run."""
    import ashford_llm.errors as errors
    from ashford_llm.testing.fake_server.evidence import Attempt, CallTrace, unexplained

    def cls(name: str | None) -> type[BaseException] | None:
        found = getattr(errors, name, None) if name else None
        if name and not (isinstance(found, type) and issubclass(found, BaseException)):
            return RuntimeError  # an untyped error: no fault explains it
        return found

    seen = {run.call_id for run in runs}
    for run in runs:
        trace = CallTrace(run.call_id)
        trace.attempts[1] = Attempt(
            error=cls(run.error),
            cause=cls(run.cause),
            partial_text=run.partial_text,
            request_id=run.request_id,
            message=run.message,
        )
        report.problems += unexplained(trace, index)
    orphans = sorted(call for call in index if call not in seen and call not in report.cut)
    if orphans:
        report.problems.append(f"calls the server saw that no task run recorded: {orphans[:5]}")
    for call in report.cut:
        if call in seen:
            report.problems.append(f"call {call}: recorded, though its worker was killed in it")
        email, retries = (int(part) for part in call.split(".")[:2])
        again = [run for run in runs if run.email == email and run.retries == retries]
        if not any(run.stored is not None for run in again):
            report.problems.append(f"e-mail {email}: its task, cut by the kill, never ran again")
        else:
            report.redelivered += 1


def _judge_retries(
    report: WorkersReport, by_email: dict[int, list[Execution]], retry_after: float
) -> None:
    """Each retry must start after its decision's delay; a 429's delay is the vendor's."""
    retries: Counter[str] = Counter()
    for email, runs in by_email.items():
        ordered = sorted(runs, key=lambda r: r.started)
        for run in ordered:
            decision = run.decision
            if decision is None or not decision.retry:
                continue
            retries[str(decision.delay_from)] += 1
            assert decision.delay is not None
            if run.error == "RateLimitError" and not (
                decision.delay_from == "retry_after"
                and retry_after - 1e-6 <= decision.delay <= math.ceil(retry_after)
            ):
                report.problems.append(
                    f"e-mail {email}: a 429 retried after {decision.delay}s "
                    f"({decision.delay_from}), not the vendor's retry-after ({retry_after}s)"
                )
            later = [r for r in ordered if r.retries == run.retries + 1]
            if not later:
                report.problems.append(f"e-mail {email}: retry {run.retries + 1} never ran")
            elif min(r.started for r in later) < run.ended + decision.delay - _RETRY_SLACK_S:
                report.problems.append(f"e-mail {email}: retry ran before its delay")
    report.retries = dict(retries)


def _judge_rates(report: WorkersReport, collected: Collected, vendor_of: Any) -> None:
    """Each vendor's requests, as they arrived at the server, must fit the shared quota.

    The quota is a bucket holding one minute's budget and draining at the per-minute rate,
    and the run starts with it full (spent), so the arrivals are replayed into such a bucket:
    it must never hold more than the budget (give or take `_RATE_SLACK` requests, for the
    time between a reservation in Redis and the request's arrival). Within a minute this is
    stricter than counting requests per 60 s window, which the report also shows, with the
    peak over 10 s windows as a rate per minute. The bucket is taken as full from the moment
    the quotas were spent.
    """
    times: dict[str, list[float]] = {}
    for record in collected.records:
        at = collected.arrivals.get(record.attempt or "")
        if at is not None:
            vendor = "google" if record.vendor in ("gemini", "google") else record.vendor
            times.setdefault(vendor, []).append(at)
    budget, rate = report.rpm_limit, report.rpm_limit / 60.0
    for vendor, arrivals in sorted(times.items()):
        arrivals.sort()
        report.peak_per_60s[vendor] = _peak(arrivals, 60.0)
        report.peak_rpm[vendor] = _peak(arrivals, 10.0) * 6
        level, last, fullest = budget, collected.spent_at or arrivals[0], 0.0
        for at in arrivals:
            level = max(0.0, level - (at - last) * rate) + 1
            last = at
            fullest = max(fullest, level)
        if fullest > budget + max(_RATE_SLACK, budget * 0.01):
            report.problems.append(
                f"{vendor}: the requests at the server overfill the shared quota's bucket "
                f"({fullest:.0f} of {budget:g}): over {budget:g}/min"
            )
        if report.peak_per_60s[vendor] > budget + _RATE_SLACK:
            report.problems.append(
                f"{vendor}: {report.peak_per_60s[vendor]} requests within 60 s at the server, "
                f"over the shared quota of {budget:g}/min"
            )


def _peak(arrivals: list[float], window: float) -> int:
    """The most arrivals (sorted times) within any `window` seconds."""
    peak, start = 0, 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] >= window:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def print_report(report: WorkersReport) -> None:
    """Prints one run's report."""
    print(f"\n== {report.workers} worker(s), {report.emails} e-mails ==")
    print(
        f"throughput {report.throughput:.1f} e-mails/s over {report.elapsed_s:.1f}s; "
        f"{report.executions} task runs, {report.requests} requests at the server"
    )
    print(
        f"classified {report.classified}, dead-lettered {sum(report.dead_letters.values())}: "
        + (", ".join(f"{k} x{v}" for k, v in sorted(report.dead_letters.items())) or "none")
    )
    print(
        f"lost 0 of {report.emails} and duplicated 0 unless named below; "
        f"{report.duplicate_answers} redelivered answers kept out by HSETNX; "
        f"{report.killed} worker(s) killed mid-task, {report.redelivered} cut task(s) "
        "delivered again and finished"
    )
    print(
        f"shared circuit breaker: {report.refused} runs refused while a vendor's circuit was "
        f"open, on {report.refused_workers} worker(s); {report.outage_requests} requests "
        "failed by the vendor's outage"
    )
    print(
        "retries scheduled: "
        + (", ".join(f"{k} x{v}" for k, v in sorted(report.retries.items())) or "none")
    )
    print(
        f"vendor quota {report.rpm_limit:g}/min each, shared by every worker through Redis; "
        "measured at the fake server: peak rate over 10 s windows "
        + ", ".join(f"{vendor} {rpm}/min" for vendor, rpm in report.peak_rpm.items())
        + "; most in any 60 s "
        + ", ".join(f"{vendor} {n}" for vendor, n in report.peak_per_60s.items())
    )
    for problem in report.problems[:40]:
        print(f"PROBLEM: {problem}")
    if len(report.problems) > 40:
        print(f"... and {len(report.problems) - 40} more problems")
    print("every property held" if not report.problems else f"{len(report.problems)} problems")


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
