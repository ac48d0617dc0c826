"""decide: one row per class of the error tree, the delay rules, and the Backoff policy."""

from __future__ import annotations

import msgspec
import pytest

import ashford_llm.errors as errors
from ashford_llm.errors import (
    AuthenticationError,
    CircuitOpenError,
    FatalError,
    LLMError,
    MidStreamError,
    QuotaExhaustedError,
    RateLimitError,
    RetryableError,
    ServerError,
)
from ashford_llm.jobs import Backoff, JobDecision, decide

NO_JITTER = Backoff(base=1.0, factor=2.0, max=30.0, jitter=0.0)

# Every concrete class of the tree, and what the job system must do with it.
ROWS: list[tuple[type[LLMError], bool]] = [
    (errors.RateLimitError, True),
    (errors.AuthenticationError, True),
    (errors.ServerError, True),
    (errors.LLMTimeoutError, True),
    (errors.NetworkError, True),
    (errors.ResponseDecodeError, True),
    (errors.JsonValidationError, True),
    (errors.MidStreamError, True),
    (errors.CircuitOpenError, True),
    (errors.BatchItemNotRunError, True),
    (errors.PermissionDeniedError, False),
    (errors.InvalidRequestError, False),
    (errors.QuotaExhaustedError, False),
    (errors.ContentFilterError, False),
    (errors.EmptyResponseError, False),
    (errors.MissingCredentialsError, False),
    (errors.BudgetExceededError, False),
    (errors.ToolStepsExceededError, False),
]


def _leaves(cls: type[LLMError]) -> set[type[LLMError]]:
    """Every class below `cls` that has no subclass of its own."""
    found: set[type[LLMError]] = set()
    for sub in cls.__subclasses__():
        found |= _leaves(sub) or {sub}
    return found


def test_the_rows_cover_every_class_of_the_tree() -> None:
    assert {cls for cls, _ in ROWS} == _leaves(LLMError)


@pytest.mark.parametrize(("cls", "retry"), ROWS, ids=[cls.__name__ for cls, _ in ROWS])
def test_decide_follows_the_tree_row_by_row(cls: type[LLMError], retry: bool) -> None:
    decision = decide(cls("boom", provider="openai", status=500), backoff=NO_JITTER)
    assert decision.retry is retry
    assert decision.retryable is issubclass(cls, RetryableError)
    assert decision.error == cls.__name__
    assert cls.__name__ in decision.reason
    assert "boom" in decision.reason
    assert decision.fields["provider"] == "openai"
    if retry:
        assert decision.delay == 1.0
        assert decision.delay_from == "backoff"
    else:
        assert decision.delay is None
        assert decision.delay_from is None
        assert issubclass(cls, FatalError)


def test_retry_after_from_the_vendor_sets_the_delay() -> None:
    decision = decide(RateLimitError("slow down", retry_after=7.5), attempt=3, backoff=NO_JITTER)
    assert (decision.retry, decision.delay, decision.delay_from) == (True, 7.5, "retry_after")
    assert decision.fields["retry_after"] == 7.5


def test_retry_after_is_capped_by_max_retry_after() -> None:
    policy = Backoff(jitter=0.0, max_retry_after=60.0)
    decision = decide(ServerError("busy", retry_after=86_400.0), backoff=policy)
    assert (decision.retry, decision.delay) == (True, 60.0)


def test_an_open_circuit_waits_out_its_cooldown() -> None:
    decision = decide(CircuitOpenError("open", retry_after=12.0), attempt=5, backoff=NO_JITTER)
    assert (decision.retry, decision.delay, decision.delay_from) == (True, 12.0, "cooldown")
    assert "cooldown" in decision.reason


def test_an_open_circuit_marked_not_to_retry_in_process_still_waits_its_cooldown() -> None:
    error = CircuitOpenError("open", retry_after=4.0, should_retry=False)
    decision = decide(error, backoff=NO_JITTER)
    assert (decision.retry, decision.delay, decision.delay_from) == (True, 4.0, "cooldown")


def test_backoff_grows_with_the_attempt_up_to_its_max() -> None:
    delays = [decide(ServerError("x"), attempt=n, backoff=NO_JITTER).delay for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert NO_JITTER.delay(10_000) == 30.0


def test_jitter_scales_the_delay_within_its_share() -> None:
    low = Backoff(base=10.0, max=10.0, jitter=0.5, random=lambda: 0.999999)
    high = Backoff(base=10.0, max=10.0, jitter=0.5, random=lambda: 0.0)
    assert decide(ServerError("x"), backoff=low).delay == pytest.approx(5.0, abs=1e-4)
    assert decide(ServerError("x"), backoff=high).delay == 10.0


def test_a_fatal_error_never_retries_whatever_its_retry_after() -> None:
    decision = decide(QuotaExhaustedError("quota", retry_after=1.0, status=429))
    assert (decision.retry, decision.delay) == (False, None)
    assert decision.reason.startswith("QuotaExhaustedError is fatal")


def test_the_vendors_should_retry_false_is_respected() -> None:
    decision = decide(ServerError("no", should_retry=False))
    assert decision.retry is False
    assert "x-should-retry" in decision.reason


def test_an_untyped_exception_fails_the_job() -> None:
    decision = decide(KeyError("sk-abcdefghijklmnop"))
    assert (decision.retry, decision.error, decision.retryable) == (False, "KeyError", False)
    assert "sk-abcdefghijklmnop" not in decision.reason


def test_a_mid_stream_error_keeps_its_partial_text_and_usage() -> None:
    error = MidStreamError("cut", partial_text='{"label": "bil', input_tokens=40, output_tokens=3)
    decision = decide(error, backoff=NO_JITTER)
    assert decision.retry is True
    assert decision.partial_text == '{"label": "bil'
    assert (decision.input_tokens, decision.output_tokens) == (40, 3)


def test_an_authentication_error_is_retried_later_by_a_job_system() -> None:
    assert decide(AuthenticationError("401", status=401)).retry is True


def test_a_decision_round_trips_through_json() -> None:
    decision = decide(RateLimitError("slow", retry_after=2.0, request_id="req_1"))
    encoded = msgspec.json.encode(decision)
    assert msgspec.json.decode(encoded, type=JobDecision) == decision


@pytest.mark.parametrize(
    "options",
    [
        {"base": -1.0},
        {"factor": 0.5},
        {"base": 10.0, "max": 1.0},
        {"jitter": 1.5},
        {"max_retry_after": -2.0},
    ],
)
def test_backoff_rejects_impossible_options(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        Backoff(**options)  # type: ignore[arg-type]


def test_decide_rejects_a_bad_attempt_or_policy() -> None:
    with pytest.raises(ValueError, match="attempt"):
        decide(ServerError("x"), attempt=0)
    with pytest.raises(TypeError, match="Backoff"):
        decide(ServerError("x"), backoff=3)  # type: ignore[arg-type]


def test_the_decide_example_of_docs_scaling_runs() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "scaling.md").read_text()
    start = page.index("```python\nfrom ashford_llm import RateLimitError")
    block = page[start + len("```python\n") : page.index("```\n", start + 10)]
    namespace: dict[str, object] = {}
    exec(compile(block, "docs/scaling.md", "exec"), namespace)
    assert namespace["decision"] == decide(
        RateLimitError("Rate limit reached", provider="openai", status=429, retry_after=2.0)
    )
