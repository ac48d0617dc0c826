"""`ashford-llm demo --provider ...`: Azure OpenAI and a profile on the fake server, offline."""

from __future__ import annotations

import pytest

from ashford_llm.cli import main


def test_demo_runs_azure_and_a_profile_through_faults(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--provider", "azure", "--provider", "groq"]
    assert main([*argv, "--calls", "20", "--fault-rate", "0.4", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│ ")]
    # The provider a call went to first; "azure→groq" when a fallback answered it.
    providers = {row.split("│")[2].strip().split("→")[0] for row in rows} - {"", "..."}
    assert providers == {"azure", "groq"}
    assert "unexpected       0" in out
    assert "20 'chat' spans" in out
    assert "OK: every call succeeded or ended in a typed error" in out


def test_demo_runs_azure_alone_without_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--provider", "azure", "--calls", "6", "--fault-rate", "0"]) == 0
    out = capsys.readouterr().out
    assert "succeeded        6" in out
    assert "server requests  6 = attempts sent 6" in out
    assert "2 e-mails carried a PNG or a PDF; classified: azure 2" in out


def test_demo_refuses_an_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--provider", "cohere"])
    assert "invalid choice: 'cohere'" in capsys.readouterr().err
