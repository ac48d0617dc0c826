"""The secret-hygiene suite extended to Vertex AI: no Google access token is seen or stored.

The same run as `test_secret_hygiene` for Gemini and Claude on Vertex: Tracing (content
capture on, span and event), Retry (retrying the AuthenticationError) and Recorder over a
real loopback socket, for a success, a stream and 401s. The tokens come from google-auth-like
credentials that mint a new distinctive token at each refresh, so the refreshed tokens are
checked too; then the `complete` command runs on Application Default Credentials. Every repr,
error, log record at DEBUG, span, event, metric, cassette and the command's output is
searched for every token and its last eight characters.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from pathlib import Path
from typing import Any

import pytest

from ashford_llm import LLMError, ModelConfig
from ashford_llm.cli import main
from ashford_llm.middleware import Recorder
from ashford_llm.providers.vertex import GoogleAuthCredentials, vertex_provider
from tests.reliability._loopback import Answer, loopback, sse_answer
from tests.reliability.hygiene import (
    JSON,
    Telemetry,
    everything_seen,
    fake_key,
    hygiene_stack,
    leaks,
    logger_roots,
    seen_error,
    seen_in_answers,
    seen_in_failures,
)
from tests.reliability.vendors import error_body, ok_body, sse_events

# Vertex Gemini speaks Gemini's bodies, Vertex Claude Anthropic's: the loopback answers so.
PUBLISHERS = {"google": "gemini-2.5-flash", "anthropic": "claude-sonnet-4-5@20250929"}


class Minting:
    """google-auth-like credentials: each refresh mints a new random token, 1 hour long."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.expiry: datetime.datetime | None = None
        self.minted: list[str] = []

    def refresh(self, request: Any) -> None:
        self.token = fake_key("ya29.")
        self.minted.append(self.token)
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.expiry = now + datetime.timedelta(hours=1)


def script(publisher: str) -> list[Answer]:
    """Complete, stream, then 401s: each call's refreshed token is rejected too (2 per call)."""
    denied = Answer(status=401, headers=JSON, body=error_body(publisher, 401, "invalid token"))
    return [
        Answer(headers=JSON, body=ok_body(publisher, "Hello!")),
        sse_answer(sse_events(publisher, ["Hel", "lo!"])),
        *[denied] * 8,
    ]


async def run_stack(
    publisher: str, telemetry: Telemetry, cassette: Path, minting: Minting
) -> list[str]:
    """Drives the stack through success, stream and 401s; returns what the caller saw."""
    seen: list[str] = []
    async with loopback(script(publisher)) as server:
        provider = vertex_provider(
            ModelConfig("vertex", PUBLISHERS[publisher], max_output_tokens=64),
            project="hygiene-project",
            base_url=server.url,
            google_credentials=minting,
        )
        recorder = Recorder(provider)
        stack = hygiene_stack(telemetry, recorder)
        seen += [repr(stack), repr(provider), repr(provider.credentials), repr(recorder)]
        async with stack:
            seen += await seen_in_answers(stack)
            seen += await seen_in_failures(stack)
        recorder.save(cassette)
        seen.append(cassette.read_text())
        # The tokens really went out as bearer headers: the first, then one per refresh.
        sent = [headers["authorization"].removeprefix("Bearer ") for headers in server.requests]
        assert len(sent) == 10
        assert set(sent) == set(minting.minted)
        assert len(minting.minted) == 5  # the first token, and one refresh per 401'd attempt
    return seen


async def run_command(
    publisher: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[list[str], list[str]]:
    """Runs `ashford-llm complete` on (mocked) ADC: success, stream, 401; returns output, tokens."""
    import google.auth

    adc = Minting()
    monkeypatch.setattr(google.auth, "default", lambda **_: (adc, "adc-project"))
    denied = Answer(status=401, headers=JSON, body=error_body(publisher, 401, "invalid token"))
    answers = [
        Answer(headers=JSON, body=ok_body(publisher, "Hello!")),
        sse_answer(sse_events(publisher, ["Hel", "lo!"])),
        denied,
        denied,
    ]
    statuses = []
    async with loopback(answers) as server:
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "hygiene-project")
        monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", server.url)
        base = ["complete", "Say hello", "--provider", "vertex", "--model", PUBLISHERS[publisher]]
        for extra in ([], ["--stream"], []):
            statuses.append(await asyncio.to_thread(main, [*base, *extra]))
        assert len(server.requests) == 4
        assert all(h["authorization"].startswith("Bearer ya29.") for h in server.requests)
    assert statuses == [0, 0, 3]
    captured = capsys.readouterr()
    return [captured.out, captured.err], adc.minted


def test_no_google_token_appears_in_anything_a_user_can_see_or_store(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    telemetry = Telemetry()
    seen: list[str] = []
    tokens: list[str] = []

    async def everything() -> None:
        for publisher in PUBLISHERS:
            minting = Minting()
            seen.extend(
                await run_stack(publisher, telemetry, tmp_path / f"{publisher}.json", minting)
            )
            tokens.extend(minting.minted)
            output, minted = await run_command(publisher, monkeypatch, capsys)
            seen.extend(output)
            tokens.extend(minted)

    asyncio.run(everything())
    assert {"ashford_llm", "httpx2", "httpcore2"} <= logger_roots(caplog)  # DEBUG really was on
    assert any("Hello!" in text for text in telemetry.dump())  # content capture really was on
    assert len(tokens) == 2 * (5 + 2)
    named = {f"token {index}": token for index, token in enumerate(tokens)}
    assert leaks(everything_seen(seen, telemetry, caplog), named) == []


def test_the_check_finds_a_token_that_leaks() -> None:
    """The search above can fail: a token put in an error message is found by it."""
    minting = Minting()
    minting.refresh(None)
    token = minting.token
    assert token is not None
    # redact() removes the ya29 shape from the message; a cause it never sees still leaks.
    error = LLMError(f"rejected token {token}")
    assert leaks(seen_error(error), {"token": token}) == []
    error.__cause__ = ValueError(f"refresh failed for {token}")
    assert leaks(seen_error(error), {"token": token}) == ["token"]
    assert "ya29" not in repr(GoogleAuthCredentials(minting))
