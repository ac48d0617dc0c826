"""The workers demo's judge: every property of a run proved from its records alone.

`judge(collected, ...)` reads what a run left behind (the stored outcomes, one record per run
of a task, the fake server's records and arrival times) and returns a `WorkersReport` whose
`problems` name every e-mail lost or doubled, every run no injected fault explains, every
retry that did not wait what its decision said, and every vendor whose requests overfilled
the shared quota. Tests break copies of real records to prove each check can fail.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ashford_llm.jobs._demo_tasks import Execution
    from ashford_llm.testing.fake_server import ServedRecord

__all__ = ["Collected", "WorkersReport", "judge", "print_report"]

# Requests a bucket may hold over its budget: a permit taken in Redis reaches the server up
# to about a second later on a loaded machine, at up to a few requests a second per vendor.
_RATE_SLACK = 6
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


def judge(
    collected: Collected,
    *,
    workers: int,
    emails: int,
    rpm: float,
    retry_after: float,
    cut: Sequence[str] = (),
) -> WorkersReport:
    """Checks every property of the module docstring; returns the figures and the problems."""
    from ashford_llm.cli._demo_data import INBOX
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
    _judge_rates(report, collected)
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
        # Its message comes back with the same retries; the run that was cut may also have
        # scheduled its retry first, which then carries the e-mail on.
        again = [run for run in runs if run.email == email and run.retries >= retries]
        if not again:
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


def _judge_rates(report: WorkersReport, collected: Collected) -> None:
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
