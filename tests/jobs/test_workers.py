"""Two real Celery workers on a real Redis over 60 e-mails with faults and an outage of one
vendor, one worker killed mid-task.

One run (module fixture, about 15 s) proves every property the workers demo reports; the
self-check tests then break a copy of its records one way each and require the judge to name
the break.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator

import msgspec
import pytest

pytest.importorskip("celery")

from ashford_llm.cli._workers_report import Collected, WorkersReport, judge
from ashford_llm.cli.demo_workers import collect_run
from ashford_llm.jobs._demo_tasks import Execution
from tests.middleware.redis_server import find_redis_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

EMAILS = 60
RPM = 300.0
RETRY_AFTER = 0.5


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[WorkersReport, Collected]]:
    if find_redis_server() is None:
        pytest.skip("redis-server not found: `make .venv/.installed` installs one")
    return asyncio.run(
        collect_run(
            workers=2,
            emails=EMAILS,
            rpm=RPM,
            fault_rate=0.3,
            seed=7,
            retry_after=RETRY_AFTER,
            outage="anthropic:3:1",
            visibility_timeout=3.0,
            kill_after=20,
            deadline_s=150.0,
        )
    )


def _rejudge(collected: Collected, cut: list[str], *, rpm: float = RPM) -> WorkersReport:
    return judge(collected, workers=2, emails=EMAILS, rpm=rpm, retry_after=RETRY_AFTER, cut=cut)


def _copy(collected: Collected) -> Collected:
    return copy.deepcopy(collected)


def test_two_workers_hold_every_property(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    assert report.problems == []
    assert set(collected.outcomes) == set(range(1, EMAILS + 1))
    assert report.classified + sum(report.dead_letters.values()) == EMAILS
    # A quota fault dead-letters its e-mail; whether the seeded draws reach one depends on how
    # many requests the run made before them.
    quota_faults = sum(str(record.fault) == "quota_exhausted" for record in collected.records)
    assert bool(report.dead_letters) == (quota_faults > 0)
    assert all("(-)" not in reason for reason in report.dead_letters)
    assert len({run.worker for run in collected.executions}) == 2
    assert report.retries.get("retry_after", 0) > 0
    assert report.retries.get("backoff", 0) > 0
    assert report.outage_requests > 0
    assert report.refused > 0  # the shared circuit opened in the outage
    assert report.retries.get("cooldown", 0) > 0
    assert set(report.peak_per_60s) == {"openai", "anthropic", "google"}
    assert all(0 < peak <= RPM for peak in report.peak_per_60s.values())
    assert all(peak > 0 for peak in report.peak_rpm.values())


def test_a_killed_worker_loses_and_doubles_nothing(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    assert report.killed == 1
    assert report.redelivered == 1
    email, retries = (int(part) for part in report.cut[0].split(".")[:2])
    again = [r for r in collected.executions if r.email == email and r.retries >= retries]
    assert again, "the cut task ran again after the kill"
    assert [r.stored for r in collected.executions if r.email == email].count("new") == 1
    stored = [run.email for run in collected.executions if run.stored == "new"]
    assert sorted(stored) == list(range(1, EMAILS + 1))


def test_the_judge_names_a_dropped_result(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    broken = _copy(collected)
    del broken.outcomes[7]
    assert "e-mail 7: lost (no outcome stored)" in _rejudge(broken, report.cut).problems


def test_the_judge_names_a_doubled_result(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    broken = _copy(collected)
    twice = next(run for run in broken.executions if run.stored == "new")
    broken.executions.append(msgspec.structs.replace(twice, call_id=twice.call_id + "x"))
    problems = _rejudge(broken, report.cut).problems
    assert f"e-mail {twice.email}: 2 runs stored an outcome, not 1" in problems


def test_the_judge_names_a_mislabelled_error(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    broken = _copy(collected)
    failed = next(run for run in broken.executions if run.error == "ServerError")
    failed.error = "NetworkError"
    problems = _rejudge(broken, report.cut).problems
    assert any(failed.call_id in p and "NetworkError" in p for p in problems)


def test_the_judge_names_a_limit_exceeded(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    problems = _rejudge(collected, report.cut, rpm=10).problems
    assert any("over the shared quota of 10/min" in p for p in problems)


def test_the_judge_names_a_burst_over_the_rate_within_a_minute(
    fleet: tuple[WorkersReport, Collected],
) -> None:
    report, collected = fleet
    problems = _rejudge(collected, report.cut, rpm=60).problems
    assert any("overfill the shared quota's bucket" in p for p in problems)
    assert not any("within 60 s" in p for p in problems)


def test_the_judge_names_a_429_not_waiting_the_retry_after(
    fleet: tuple[WorkersReport, Collected],
) -> None:
    report, collected = fleet
    broken = _copy(collected)
    limited = next(run for run in broken.executions if run.error == "RateLimitError")
    assert limited.decision is not None
    limited.decision = msgspec.structs.replace(limited.decision, delay=2.0, delay_from="backoff")
    problems = _rejudge(broken, report.cut).problems
    assert any("not the vendor's retry-after" in p for p in problems)


def test_the_judge_names_a_retry_run_too_early(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    broken = _copy(collected)
    retried = next(r for r in broken.executions if r.decision is not None and r.decision.retry)
    retried.ended += 5.0
    assert any("retry ran before its delay" in p for p in _rejudge(broken, report.cut).problems)


def test_the_judge_names_a_cut_task_never_run_again(
    fleet: tuple[WorkersReport, Collected],
) -> None:
    report, collected = fleet
    broken = _copy(collected)
    email, retries = (int(part) for part in report.cut[0].split(".")[:2])
    broken.executions = [
        r for r in broken.executions if not (r.email == email and r.retries >= retries)
    ]
    problems = _rejudge(broken, report.cut).problems
    assert f"e-mail {email}: its task, cut by the kill, never ran again" in problems


def test_the_judge_names_a_call_no_task_recorded(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    broken = _copy(collected)
    dropped = broken.executions.pop(0)
    problems = _rejudge(broken, report.cut).problems
    assert any(dropped.call_id in p and "no task run recorded" in p for p in problems)


def test_execution_records_round_trip(fleet: tuple[WorkersReport, Collected]) -> None:
    _, collected = fleet
    first = collected.executions[0]
    assert msgspec.json.decode(msgspec.json.encode(first), type=Execution) == first


def test_the_judge_names_a_refusal_the_server_saw(fleet: tuple[WorkersReport, Collected]) -> None:
    report, collected = fleet
    broken = _copy(collected)
    failed = next(run for run in broken.executions if run.error == "ServerError")
    failed.error = "CircuitOpenError"  # a worker stack claiming a refusal for a sent request
    problems = _rejudge(broken, report.cut).problems
    assert any(failed.call_id in p and "refused by an open circuit" in p for p in problems)
