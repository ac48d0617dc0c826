"""LLMTask on an eager Celery app: retries as decide says, fails fatal errors cleanly, once."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("celery")

from celery import Celery

from ashford_llm.errors import (
    InvalidRequestError,
    LLMError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from ashford_llm.jobs import Backoff, JobDecision
from ashford_llm.jobs.celery import JobFailedError, LLMTask, llm_task


class Recording(LLMTask):
    """LLMTask noting each countdown it asks for and each dead letter."""

    abstract = True
    backoff = Backoff(base=0.5, factor=2.0, max=4.0, jitter=0.0)
    countdowns: list[float | None]
    dead: list[JobDecision]

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        self.countdowns.append(kwargs.get("countdown"))
        return super().retry(*args, **kwargs)

    def dead_letter(self, decision: JobDecision, args: Any, kwargs: Any) -> None:
        self.dead.append(decision)


def _task(failures: list[BaseException], *, max_retries: int = 5) -> Any:
    """An eager task raising the given errors in turn, then answering "ok"."""
    app = Celery("test", set_as_current=False)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    runs: list[int] = []

    @llm_task(app, base=Recording, max_retries=max_retries, name=f"t{id(failures)}")
    def job(self: Recording) -> str:
        runs.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    job.countdowns, job.dead, job.runs = [], [], runs
    return job


def test_a_rate_limit_retries_after_the_vendors_retry_after() -> None:
    job = _task([RateLimitError("slow", retry_after=3.0)])
    assert job.apply().get() == "ok"
    assert job.countdowns == [3.0]
    assert len(job.runs) == 2


def test_without_retry_after_the_backoff_grows_per_retry() -> None:
    job = _task([ServerError("a"), ServerError("b"), ServerError("c")])
    assert job.apply().get() == "ok"
    assert job.countdowns == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    "error", [QuotaExhaustedError("quota", retry_after=1.0), InvalidRequestError("bad")]
)
def test_a_fatal_error_fails_once_with_its_typed_reason(error: LLMError) -> None:
    job = _task([error])
    result = job.apply()
    assert result.failed()
    assert isinstance(result.result, JobFailedError)
    assert str(result.result).startswith(f"{type(error).__name__} is fatal")
    assert job.countdowns == []
    assert len(job.runs) == 1
    assert [d.error for d in job.dead] == [type(error).__name__]


def test_retries_stop_at_max_retries_and_dead_letter_once() -> None:
    job = _task([ServerError(str(n)) for n in range(10)], max_retries=2)
    result = job.apply()
    assert isinstance(result.result, JobFailedError)
    assert "retries exhausted after 3 runs" in str(result.result)
    assert len(job.runs) == 3
    assert len(job.dead) == 1
    assert job.dead[0].retry is False


def test_the_tasks_own_retry_of_a_fatal_error_is_refused() -> None:
    app = Celery("test", set_as_current=False)
    app.conf.task_always_eager = True
    runs: list[int] = []

    @llm_task(app, name="self_retry")
    def job(self: LLMTask) -> None:
        runs.append(1)
        raise self.retry(exc=QuotaExhaustedError("quota"), countdown=1)

    result = job.apply()
    assert isinstance(result.result, JobFailedError)
    assert str(result.result).startswith("QuotaExhaustedError is fatal")
    assert len(runs) == 1


def test_an_llm_task_acks_late_and_is_redelivered_when_its_worker_dies() -> None:
    app = Celery("test", set_as_current=False)

    @llm_task(app, name="flags")
    def job(self: LLMTask) -> None: ...

    assert job.acks_late is True
    assert job.reject_on_worker_lost is True
