"""`ashford-llm demo --batch`: the inbox through three batch APIs, and its self-check."""

from __future__ import annotations

import msgspec
import pytest

import ashford_llm.testing.fake_server as fake_server
from ashford_llm.cli import build_parser, main
from ashford_llm.cli.demo_batch import Item, judge, run_batch
from ashford_llm.errors import BatchItemNotRunError, RateLimitError, ServerError
from ashford_llm.types import CompletionResponse


def test_demo_batch_classifies_every_item_or_types_its_fault(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--batch", "--calls", "9"]) == 0
    out = capsys.readouterr().out
    for vendor in ("openai", "anthropic", "google"):
        assert f"{vendor}-002" in out
        assert f"{vendor}-cancel-1" in out
    assert "items            36 in 6 vendor batches" in out
    assert "answered         18 (the right label)" in out
    assert "typed failures   18" in out
    assert "unexpected       0" in out
    assert "RateLimitError" in out
    assert "BatchItemNotRunError" in out
    assert "OK: every batch item got the right label" in out


def always_spam(request: fake_server.AnswerRequest) -> str:
    return msgspec.json.encode({"label": "spam", "confidence": 0.9}).decode()


async def test_demo_batch_exits_1_on_wrong_answers(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["demo", "--batch", "--calls", "4"])
    assert await run_batch(args, answer=always_spam) == 1
    out = capsys.readouterr().out
    assert "unexplained: openai-001: label spam, expected billing" in out
    assert "FAILED" in out


def answer(content: str) -> CompletionResponse:
    return CompletionResponse(
        content=content,
        model="m",
        input_tokens=1,
        output_tokens=1,
        latency_ms=1.0,
        finish_reason="stop",
        provider="openai",
    )


def test_the_self_check_names_each_kind_of_wrong_outcome() -> None:
    faulty = Item(custom_id="x", vendor="openai", expected="sales", fault="rate_limit")
    judge(faulty, ServerError("boom"))
    assert faulty.problem == "x: unexplained ServerError: boom"
    answered = Item(custom_id="y", vendor="openai", expected="sales", fault="rate_limit")
    judge(answered, answer('{"label": "sales", "confidence": 0.9}'))
    assert answered.problem == "y: answered, but its rate_limit fault was expected"
    garbled = Item(custom_id="z", vendor="openai", expected="sales")
    judge(garbled, answer("not json"))
    assert garbled.problem is not None
    assert garbled.outcome == "undecodable"
    cancelled = Item(custom_id="c", vendor="openai", expected="sales", cancelled_batch=True)
    judge(cancelled, RateLimitError("slow"))
    assert cancelled.problem == "c: RateLimitError, expected a cancelled item"
    fine = Item(custom_id="d", vendor="openai", expected="sales", cancelled_batch=True)
    judge(fine, BatchItemNotRunError("not run", error_code="cancelled"))
    assert fine.problem is None
