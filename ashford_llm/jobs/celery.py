"""LLMTask: a Celery task base class that applies `decide` to every failure of its task.

    from celery import Celery
    from ashford_llm.jobs.celery import LLMTask, llm_task

    app = Celery("mail", broker="redis://localhost:6379/0")

    @llm_task(app, max_retries=8)
    def classify(self: LLMTask, email_id: str) -> str: ...

A RetryableError schedules the task again with `self.retry(countdown=decision.delay)` (the
vendor's retry-after, a circuit's cooldown, or the task's `backoff`) until `max_retries`; a
FatalError, an untyped exception, or a retryable one past `max_retries` fails the task
cleanly: `dead_letter(decision, ...)` is called (log it, store it) and `JobFailedError` names
the typed reason in the task's result. A fatal error is never retried, also when the task's
own code calls `self.retry` with it. `acks_late` and `reject_on_worker_lost` are on, so a
task whose worker dies mid-run is delivered again (make the task's effect idempotent).

Needs the `celery` extra: `pip install 'ashford-llm[celery]'`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ashford_llm.jobs.decision import Backoff, JobDecision, decide

try:
    from celery import Celery, Task  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ashford_llm.jobs.celery needs Celery: pip install 'ashford-llm[celery]'"
    ) from exc

__all__ = ["JobFailedError", "LLMTask", "llm_task"]

logger = logging.getLogger("ashford_llm")

F = TypeVar("F", bound=Callable[..., Any])


class JobFailedError(Exception):
    """A task failed for good; its message is the decision's typed reason.

    It takes one string so Celery's result backend can rebuild it from its message; the
    decision itself is on `decision` in the worker, and in the dead-letter hook.
    """

    def __init__(self, reason: str, decision: JobDecision | None = None) -> None:
        super().__init__(reason)
        self.decision = decision


class LLMTask(Task):  # type: ignore[misc]  # Celery is untyped
    """A Celery task that retries or fails each failure as `decide` says.

    Class options (set them in a subclass or as `app.task(base=LLMTask, ...)` options):
    `max_retries` (retries after the first run), `backoff` (a `Backoff`; the vendor's
    retry-after wins when given), `acks_late` and `reject_on_worker_lost` (on: redelivery
    when a worker dies; the broker's visibility timeout must outlast the longest task and
    retry countdown).
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 5
    backoff: Backoff = Backoff()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task; turns a failure into a retry or a clean, typed failure."""
        try:
            return super().__call__(*args, **kwargs)
        except JobFailedError as failed:  # the task's own `self.retry` of a fatal error
            if failed.decision is not None:
                self.on_decision(failed.decision, args, kwargs)
                self.dead_letter(failed.decision, args, kwargs)
            raise
        except Exception as error:
            if _is_celery_control(error):
                raise
            retries = int(self.request.retries or 0)
            decision = decide(error, attempt=retries + 1, backoff=self.backoff)
            if decision.retry and (self.max_retries is None or retries < self.max_retries):
                self.on_decision(decision, args, kwargs)
                raise self.retry(
                    args=args, kwargs=kwargs, exc=error, countdown=decision.delay
                ) from error
            if decision.retry:
                decision = msgspec.structs.replace(
                    decision,
                    retry=False,
                    delay=None,
                    reason=f"retries exhausted after {retries + 1} runs: {decision.reason}",
                )
            self.on_decision(decision, args, kwargs)
            self.dead_letter(decision, args, kwargs)
            raise JobFailedError(decision.reason, decision) from error

    def retry(self, *args: Any, exc: BaseException | None = None, **kwargs: Any) -> Any:
        """Celery's retry, refusing a fatal error (raises JobFailedError instead)."""
        if exc is not None:
            decision = decide(exc, backoff=self.backoff)
            if not decision.retry:
                raise JobFailedError(decision.reason, decision) from exc
        return super().retry(*args, exc=exc, **kwargs)

    def on_decision(
        self, decision: JobDecision, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Called with each decision before it is applied; override to record it."""

    def dead_letter(
        self, decision: JobDecision, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Called once when the task fails for good; logs it. Override to store the job."""
        logger.error("task %s[%s] failed for good: %s", self.name, self.request.id, decision.reason)


def llm_task(app: Celery, **options: Any) -> Callable[[F], F]:
    """Registers a bound task on `app` with LLMTask as its base (options go to `app.task`)."""
    options.setdefault("base", LLMTask)
    options.setdefault("bind", True)
    decorator: Callable[[F], F] = app.task(**options)
    return decorator


def _is_celery_control(error: BaseException) -> bool:
    """Tells Celery's own control-flow exceptions (Retry, Reject, Ignore) from a task's failure."""
    from celery.exceptions import Ignore, Reject, Retry  # type: ignore[import-untyped]

    return isinstance(error, Retry | Reject | Ignore)
