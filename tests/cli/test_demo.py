import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

import ashford_llm.testing.fake_server as fake_server
from ashford_llm.cli import build_parser, demo, main
from ashford_llm.config import ModelConfig
from ashford_llm.errors import ResponseDecodeError
from ashford_llm.middleware import Middleware
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.types import CompletionRequest, StreamEvent


def test_demo_classifies_through_faults_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--calls", "24", "--fault-rate", "0.4", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "ashford-llm demo" in out
    for vendor in ("openai", "anthropic", "google"):
        assert vendor in out
    assert "stream" in out
    assert "complete" in out
    assert "unexpected       0" in out
    assert "24 'chat' spans" in out
    assert "OK: every call succeeded or ended in a typed error, and every" in out
    assert "unexplained" not in out


def test_demo_with_no_faults_needs_no_retries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--calls", "9", "--fault-rate", "0", "--outage", "none"]) == 0
    out = capsys.readouterr().out
    assert "succeeded        9" in out
    assert "retries          0" in out
    assert "server requests  9 = attempts sent 9 (and 0 refused by an open circuit)" in out
    assert "every circuit stayed closed" in out
    assert "fallbacks        0 calls" in out
    # Each vendor's three answers are priced from genai-prices; none is of unknown price.
    cost = next(line for line in out.splitlines() if line.startswith("cost"))
    spend = dict(re.findall(r"(\w+) \$(\d+\.\d+)", cost))
    assert set(spend) == {"anthropic", "google", "openai"}
    assert all(float(amount) > 0 for amount in spend.values())
    assert "0 answers of unknown price" in cost


def wrong_label(request: fake_server.AnswerRequest) -> str:
    return msgspec.json.encode({"label": "spam", "confidence": 0.9}).decode()


def test_demo_exits_1_when_a_call_ends_unexpectedly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "classify_email", wrong_label)
    assert main(["demo", "--calls", "6", "--fault-rate", "0", "--outage", "none"]) == 1
    out = capsys.readouterr().out
    assert "(expected billing)" in out
    assert "unexplained: call 1: label spam, expected billing" in out
    assert "succeeded        1 " in out  # only call 4 (spam) has the right label
    assert "FAILED" in out


class UndecodableStreams(Middleware):
    """A provider bug: every stream reads the whole answer, then raises ResponseDecodeError."""

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        async for _ in self.inner.stream(request):
            pass
        raise ResponseDecodeError("cannot decode the stream", provider=self.name)
        yield  # pragma: no cover - makes this an async generator


def undecodable_streams(config: ModelConfig, **options: Any) -> LLMProvider:
    return UndecodableStreams(provider_from_config(config, **options))


async def test_demo_exits_1_and_names_errors_no_fault_explains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(
        ["demo", "--calls", "6", "--fault-rate", "0", "--outage", "none"]
    )

    assert await demo.run(args, provider_factory=undecodable_streams) == 1

    out = capsys.readouterr().out
    for call in (3, 4, 5):  # the streamed calls: every provider's stream is broken
        problem = f"call {call} attempt 1: ResponseDecodeError, but the server injected no fault"
        assert f"unexplained: {problem}" in out
    assert "succeeded        3 " in out
    assert "typed failures   0 " in out
    assert "unexpected       3" in out
    assert "FAILED" in out


def test_demo_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fault-rate", "1.5"]) == 2
    assert "--fault-rate" in capsys.readouterr().err


def test_demo_classifies_e_mails_with_attachments_on_every_vendor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--calls", "30", "--fault-rate", "0", "--outage", "none"]) == 0
    out = capsys.readouterr().out
    summary = "6 e-mails carried a PNG or a PDF; classified: anthropic 2, google 2, openai 2"
    assert summary in out
    rows = [line for line in out.splitlines() if "│ png " in line or "│ pdf " in line]
    cells = [[cell.strip() for cell in row.split("│")[1:-1]] for row in rows]
    assert {(cell[1], cell[3]) for cell in cells} == {
        (vendor, kind) for vendor in demo.MODELS for kind in ("png", "pdf")
    }
    # The fake server counts each attachment it received as 100 input tokens.
    assert all(int(cell[8].split("/")[0]) > 100 for cell in cells), cells


def test_demo_runs_gemini_and_claude_on_vertex_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--provider", "vertex", "--calls", "12", "--fault-rate", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "unexpected       0" in out
    assert "│ vertex " in out
    for other in ("openai", "anthropic", "google"):  # only the Vertex stacks ran
        assert f"│ {other} " not in out


def test_demo_provider_targets_expand_vertex_to_both_publishers() -> None:
    assert demo._targets(["vertex", "openai", "vertex"]) == [
        ("vertex", "gemini-2.5-flash"),
        ("vertex", "claude-sonnet-4-5@20250929"),
        ("openai", None),
    ]
    assert demo._targets(None) == [(vendor, None) for vendor in demo.MODELS]


def test_demo_runs_on_bedrock_alone_signed_with_test_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--provider", "bedrock", "--calls", "24", "--fault-rate", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "unexpected       0" in out
    assert "OK: every call succeeded or ended in a typed error, and every" in out
    rows = [line for line in out.splitlines() if line.startswith("│") and "│ #" not in line]
    providers = {cell.split("│")[2].strip() for cell in rows if cell.split("│")[2].strip()}
    assert providers == {"bedrock"}


def test_demo_runs_the_named_providers_together(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--provider", "openai", "--provider", "bedrock", "--calls", "8"]
    assert main([*args, "--fault-rate", "0"]) == 0
    out = capsys.readouterr().out
    assert "succeeded        8" in out
    rows = [line for line in out.splitlines() if line.startswith("│ ") and "│ #" not in line]
    providers = {row.split("│")[2].strip() for row in rows} - {""}
    assert providers == {"openai", "bedrock"}  # no fallback was needed without faults
    assert "answered by      bedrock 4, openai 4" in out or "openai 4, bedrock 4" in out


def test_demo_rejects_an_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--provider", "nosuch"])
    assert "--provider" in capsys.readouterr().err


def test_demo_absorbs_an_outage_with_fallbacks_and_an_open_circuit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["demo", "--calls", "30", "--fault-rate", "0", "--outage", "anthropic:60"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "succeeded        30" in out
    assert "unexpected       0" in out
    # Every anthropic e-mail (calls 1, 4, ..., 28) was answered by another vendor.
    rows = [line for line in out.splitlines() if line.startswith("│") and "│ anthropic" in line]
    assert len(rows) == 10
    assert all("anthropic→" in row for row in rows), rows
    assert "fallbacks        10 calls answered by another vendor" in out
    assert "circuits         anthropic open" in out
    assert "outage           anthropic unavailable for 60 s from 0 s" in out
    # The circuit opened once 6 attempts within its window had failed (90% of at least 6):
    # later calls sent anthropic only probes,
    # where Retry alone would have sent each of the ten calls five times.
    failed = int(out.split("s from 0 s: ")[1].split(" requests failed")[0])
    assert 6 <= failed <= 20, out
    assert "refused by an open circuit)" in out
    assert "OK: every call" in out


def test_demo_rejects_a_bad_outage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--outage", "nobody:5"]) == 2
    assert "outage" in capsys.readouterr().err


def test_the_default_demo_opens_only_the_outage_vendors_circuit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0  # 60 calls, a 30% fault mix and a 1 s anthropic outage
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("circuits"))
    circuits = " ".join(lines[start : start + 2]).split(maxsplit=1)[1].split("outage")[0]
    # The outage fails every attempt and opens its vendor's circuit; the fault mix fails
    # about a third of them, far below the 90% that opens a circuit, at any pace.
    opened = {part.split()[0] for part in circuits.split(";")}
    assert opened == {"anthropic"}, circuits
    succeeded = int(out.split("succeeded")[1].split()[0])
    refused = sum(1 for line in lines if line.startswith("│") and "│ CircuitOpenError " in line)
    assert succeeded >= 54, out  # the failures left are MidStreamErrors and quotas
    assert refused <= 2, out
