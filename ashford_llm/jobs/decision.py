"""decide: the error tree's answer to a job system, "retry this job later" or "fail it for good".

Every `LLMError` is a `RetryableError` or a `FatalError`; `decide` turns one into a
`JobDecision` a queue can act on: retry after the vendor's `retry_after` when it sent one
(capped), else after the caller's `Backoff`; wait out a `CircuitOpenError`'s cooldown; never
retry a fatal error, an error whose vendor said `x-should-retry: false`, or an exception that is
not an `LLMError` (a bug, not a vendor's failure). Pure: no queue is imported, so Celery
(`ashford_llm.jobs.celery`), arq and Dramatiq use the same function.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import msgspec

from ashford_llm.errors import CircuitOpenError, LLMError, MidStreamError, redact

__all__ = ["Backoff", "DelaySource", "JobDecision", "decide"]

DelaySource: TypeAlias = Literal["retry_after", "cooldown", "backoff"]
"""Where a retry's delay came from: the vendor, an open circuit, or the caller's Backoff."""

# The error attributes a decision carries (the message is in `reason`; the body excerpt
# stays with the error, which a job's own log may keep).
_FIELDS = (
    "provider",
    "status",
    "request_id",
    "retry_after",
    "error_type",
    "error_code",
    "attempts",
    "should_retry",
)


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """The delay before retry n when the vendor gave none: `min(max, base * factor**(n-1))`.

    Jitter spreads a crowd of failed jobs apart: the delay is scaled by a factor drawn from
    `[1 - jitter, 1]` (1.0 is full jitter, 0 none). `max_retry_after` caps a vendor's
    `retry_after` and a circuit's cooldown, so a bad header cannot park a job for hours.

    Args:
        base: seconds before the first retry.
        factor: growth per further retry (1 keeps the delay constant).
        max: seconds; the largest backoff delay.
        jitter: the share of each delay that is random, within [0, 1].
        max_retry_after: seconds; the longest `retry_after` or cooldown honoured as given.
        random: returns a number in [0, 1); pin it in tests.
    """

    base: float = 1.0
    factor: float = 2.0
    max: float = 300.0
    jitter: float = 1.0
    max_retry_after: float = 600.0
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("base", "max", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float):
            raise TypeError(f"factor must be a number, got {type(self.factor).__name__}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor!r}")
        if self.max < self.base:
            raise ValueError(f"max ({self.max}) must not be below base ({self.base})")
        if isinstance(self.jitter, bool) or not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter!r}")
        if not callable(self.random):
            raise TypeError(f"random must be callable, got {type(self.random).__name__}")

    def delay(self, attempt: int) -> float:
        """Returns the wait before retrying after failed attempt `attempt` (from 1)."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
        # Capping the exponent keeps a huge attempt number from overflowing a float.
        ceiling = min(self.max, self.base * self.factor ** min(attempt - 1, 64))
        return ceiling * (1.0 - self.jitter * self.random())


class JobDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What a job system should do after a failed attempt, and why.

    `retry` and `delay` (seconds; None when not retrying) are the decision; `reason` says it in
    one line; `delay_from` names where the delay came from. The rest is the error's context
    for a dead-letter record or a log: its class name, whether the tree calls it retryable,
    the fields that tell which fault it was, and a MidStreamError's partial text and usage.
    The Struct encodes to JSON as it is, so a queue can store it beside the job.
    """

    retry: bool
    delay: float | None
    reason: str
    error: str
    retryable: bool
    delay_from: DelaySource | None = None
    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    partial_text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


_DEFAULT_BACKOFF = Backoff()


def decide(
    error: BaseException, *, attempt: int = 1, backoff: Backoff | None = None
) -> JobDecision:
    """Decides whether a job that failed with `error` on attempt `attempt` runs again, and when.

    Args:
        error: what the attempt raised.
        attempt: the number of the attempt that failed, from 1 (the backoff grows with it).
        backoff: the delay policy when the vendor gave no `retry_after` (default `Backoff()`).
    """
    policy = _DEFAULT_BACKOFF if backoff is None else backoff
    if not isinstance(policy, Backoff):
        raise TypeError(f"backoff must be a Backoff, got {type(policy).__name__}")
    wait = policy.delay(attempt)
    name = type(error).__name__
    if not isinstance(error, LLMError):
        return JobDecision(
            retry=False,
            delay=None,
            reason=f"{name} is not an LLMError, so not a vendor's failure: {_text(error)}",
            error=name,
            retryable=False,
        )
    context = _context(error)
    if not error.retryable:
        return JobDecision(
            retry=False, delay=None, reason=f"{name} is fatal: {error}", error=name, **context
        )
    # A CircuitBreaker marks its refusal should_retry=False so an in-process Retry does not
    # wait for it; a job waits out the cooldown instead.
    if error.should_retry is False and not isinstance(error, CircuitOpenError):
        return JobDecision(
            retry=False,
            delay=None,
            reason=f"{name}, but the vendor said not to retry (x-should-retry: false): {error}",
            error=name,
            **context,
        )
    source: DelaySource = "backoff"
    if error.retry_after is not None and error.retry_after >= 0:
        source = "cooldown" if isinstance(error, CircuitOpenError) else "retry_after"
        wait = min(float(error.retry_after), policy.max_retry_after)
    how = {"retry_after": "the vendor's retry-after", "cooldown": "the circuit's cooldown"}
    return JobDecision(
        retry=True,
        delay=wait,
        reason=f"{name} is retryable: retry in {wait:.3g}s ({how.get(source, 'backoff')}): {error}",
        error=name,
        delay_from=source,
        **context,
    )


def _context(error: LLMError) -> dict[str, Any]:
    """The decision's context fields taken from an LLMError."""
    partial = error.partial_text if isinstance(error, MidStreamError) else None
    return {
        "retryable": error.retryable,
        "fields": {
            name: getattr(error, name) for name in _FIELDS if getattr(error, name) is not None
        },
        "partial_text": partial,
        "input_tokens": error.input_tokens,
        "output_tokens": error.output_tokens,
    }


def _text(error: BaseException) -> str:
    """The start of an exception's message, redacted (it is not an LLMError's, redacted already)."""
    return redact(str(error))[:200]
