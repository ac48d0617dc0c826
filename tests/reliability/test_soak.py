"""The CI-sized fault-injection soak, and proof that its checks catch what they look for.

The engine is `benchmarks/soak.py` (loaded by path: benchmarks/ is not a package); the full
run is `python benchmarks/soak.py --calls 10000 --seed 7`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ashford_llm.config import ModelConfig
from ashford_llm.errors import ResponseDecodeError, ServerError
from ashford_llm.middleware import Middleware
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.testing import MockProvider, MockStream
from ashford_llm.testing.fake_server import Fault, ServedRecord
from ashford_llm.types import CompletionRequest, CompletionResponse

SOAK_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def _load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ashford_benchmarks_soak", SOAK_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


soak = _load_soak()
SETTINGS = soak.Settings(calls=1000, seed=7)


@pytest.mark.timeout(240)
async def test_soak_of_1000_calls_ends_each_call_exact_or_typed_and_leaves_nothing_behind() -> None:
    report = await soak.run_soak(SETTINGS)

    assert report.violations == []
    assert report.unexplained == 0
    failures = sum(report.failures.values())
    assert report.failed_attempts == report.retries + report.switches + failures > 0
    assert report.calls == 1000
    assert report.successes + failures == 1000
    assert report.attempts == 1000 + report.retries + report.switches
    assert report.server_requests == report.attempts - report.refused
    assert report.retries > 0
    assert 1 < report.max_attempts <= SETTINGS.max_attempts
    assert set(report.faults) == set(soak.FAULTS)
    assert report.failures.get("MidStreamError", 0) > 0
    # An exhausted quota moves the call to another vendor; so does an open circuit.
    assert report.switch_causes.get("QuotaExhaustedError", 0) > 0
    assert report.outage_failures.get("anthropic", 0) > 0
    assert report.circuit_transitions.get("open", 0) >= 1
    # A refused attempt either moved the call on, or ended it when every circuit was open.
    refusals = report.switch_causes.get("CircuitOpenError", 0)
    assert refusals + report.failures.get("CircuitOpenError", 0) == report.refused > 0
    # Only the outage opens a circuit, not the fault mix, so a refusal nearly always finds
    # the other vendors' circuits closed (with 10 failures in 1 s alone, one run on 2 cores
    # ended 487 of its 1,000 calls so).
    assert report.failures.get("CircuitOpenError", 0) <= 3
    assert report.fallbacks > 0
    assert report.spans == 1000
    assert report.cost_usd > 0  # Cost priced the answers, from genai-prices
    assert report.cost_unknown == 0
    assert report.sockets_after_close == 0
    assert report.rss_end_kib - report.rss_checkpoint_kib < soak.RSS_GROWTH_LIMIT_KIB
    assert report.max_ms / 1000.0 <= SETTINGS.time_limit_s


async def test_call_accepts_a_success_with_exactly_the_sent_text() -> None:
    problems: list[str] = []
    stack = MockProvider([soak.expected_text(0, SETTINGS.seed)])

    outcome = await soak.call(0, stack, SETTINGS, problems)

    assert problems == []
    assert (outcome.error, outcome.attempts) == (None, 1)


async def test_call_flags_a_stream_that_repeats_text_from_a_broken_attempt() -> None:
    text = soak.expected_text(3, SETTINGS.seed)  # call 3 streams
    problems: list[str] = []
    stack = MockProvider([MockStream(chunks=[text[:10], text])])

    await soak.call(3, stack, SETTINGS, problems)

    assert problems == ["call 3: content differs from what the server sent"]


async def test_call_flags_a_failure_after_text_that_is_not_surfaced_as_mid_stream() -> None:
    problems: list[str] = []
    stack = MockProvider([MockStream(chunks=["{"], error=ServerError("cut"))])

    outcome = await soak.call(3, stack, SETTINGS, problems)

    assert outcome.saw_text
    assert problems[0] == "call 3: failed after text with ServerError, not surfaced"


async def test_call_flags_an_exception_that_is_not_an_llm_error() -> None:
    problems: list[str] = []
    stack = MockProvider([RuntimeError("boom")])

    outcome = await soak.call(0, stack, SETTINGS, problems)

    assert not outcome.typed
    assert problems == ["call 0: untyped RuntimeError: boom"]


def _success(index: int, attempts: int) -> object:
    return soak.Outcome(index, "openai", True, attempts=attempts, latency_s=0.1, error=None)


def _record(text: str, *, ok: bool, fault: Fault | None = None) -> ServedRecord:
    return ServedRecord(
        vendor="openai", model="m", stream=True, fault=fault, status=200, text=text, ok=ok
    )


def test_server_check_accepts_a_retried_success_the_server_saw_twice() -> None:
    text = soak.expected_text(0, SETTINGS.seed)
    records = (_record("", ok=False, fault=Fault.server_error), _record(text, ok=True))

    problems = soak.check_against_server([_success(0, 2)], records, Counter({0: 2}), 7)

    assert problems == []


def test_server_check_flags_attempts_the_server_did_not_see() -> None:
    text = soak.expected_text(0, SETTINGS.seed)

    problems = soak.check_against_server(
        [_success(0, 2)], (_record(text, ok=True),), Counter({0: 1}), SETTINGS.seed
    )

    assert problems == [
        "call 0 (openai, stream, ok): server saw 1 requests, stack reports 2 attempts"
    ]


def test_server_check_flags_a_success_the_server_never_sent_whole() -> None:
    text = soak.expected_text(0, SETTINGS.seed)
    records = (_record(text[:30], ok=False, fault=Fault.cut_stream),)

    problems = soak.check_against_server([_success(0, 1)], records, Counter({0: 1}), 7)

    assert problems == ["call 0: succeeded but the server sent 0 whole answers"]


def test_soak_command_writes_its_figures_as_json(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"

    code = soak.main(["--calls", "30", "--seed", "3", "--out", str(out)])

    document = json.loads(out.read_text())
    assert code == 0
    assert document["calls"] == 30
    assert document["violations"] == []
    assert document["server_requests"] == document["attempts"]
    meta = document["meta"]
    assert meta["command"] == f"python benchmarks/soak.py --calls 30 --seed 3 --out {out}"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["date"])
    assert len(meta["load_average_at_start"]) == len(meta["load_average"]) == 3


class UndecodableAnswers(Middleware):
    """A provider bug: every plain answer arrives whole, then raises ResponseDecodeError."""

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        await self.inner.complete(request)
        raise ResponseDecodeError("cannot decode the answer", provider=self.name)


def undecodable_answers(config: ModelConfig, **options: Any) -> LLMProvider:
    return UndecodableAnswers(provider_from_config(config, **options))


@pytest.mark.timeout(120)
async def test_soak_names_every_failure_no_injected_fault_explains() -> None:
    settings = soak.Settings(calls=12, seed=7, fault_rate=0.0, outage="none")

    report = await soak.run_soak(settings, provider_factory=undecodable_answers)

    plain_calls = {0, 1, 2, 6, 7, 8}  # the others stream, which the bug leaves alone
    flagged = [
        problem
        for problem in report.violations
        if "ResponseDecodeError, but the server injected no fault (cannot decode" in problem
    ]
    # Every request a plain call sent (on every provider Fallback tried) is named; the six
    # streams sent one request each and answered.
    assert {int(problem.split()[1]) for problem in flagged} == plain_calls
    assert len(flagged) == report.server_requests - 6
    assert report.unexplained == len(flagged)
    assert report.faults == {}


@pytest.mark.timeout(120)
def test_soak_command_exits_1_when_a_failure_is_unexplained(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"

    code = soak.main(
        ["--calls", "3", "--fault-rate", "0", "--out", str(out)],
        provider_factory=undecodable_answers,
    )

    assert code == 1
    violations = json.loads(out.read_text())["violations"]
    assert "call 0 attempt 1: ResponseDecodeError, but the server injected no fault (" in (
        "".join(violations)
    )
