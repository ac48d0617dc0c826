import msgspec
import pytest

import ashford_llm.testing.fake_server as fake_server
from ashford_llm.cli import main


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
    assert "OK: every call succeeded or ended in an expected typed error" in out


def test_demo_with_no_faults_needs_no_retries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--calls", "9", "--fault-rate", "0"]) == 0
    out = capsys.readouterr().out
    assert "succeeded        9" in out
    assert "retries          0" in out
    assert "server requests  9 = attempts made 9" in out


def wrong_label(request: fake_server.AnswerRequest) -> str:
    return msgspec.json.encode({"label": "spam", "confidence": 0.9}).decode()


def test_demo_exits_1_when_a_call_ends_unexpectedly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(fake_server, "classify_email", wrong_label)
    assert main(["demo", "--calls", "6", "--fault-rate", "0"]) == 1
    out = capsys.readouterr().out
    assert "(expected billing)" in out
    assert "FAILED" in out


def test_demo_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fault-rate", "1.5"]) == 2
    assert "--fault-rate" in capsys.readouterr().err
