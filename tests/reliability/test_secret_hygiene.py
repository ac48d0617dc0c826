"""No credential reaches anything a user can see or store, not even the key's tail.

One test runs the three providers under Tracing (content capture on, span and event),
Retry and Recorder over real loopback sockets, for a success, a stream and a 401 (complete
and stream; the credential refresh runs, and Retry is told to retry the AuthenticationError,
so its retry log and span event carry the error), then the `complete` command for each
provider (success, stream, 401). It gathers every repr, every error's str, repr, context and
traceback, every log record at DEBUG (ashford_llm, httpx2, httpcore2), every span, event and
metric, the saved cassettes and the command's output, and asserts the keys, and their last
eight characters, appear nowhere. The server echoes nothing back; a second test covers a
vendor that echoes a masked key, as OpenAI's 401 does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from ashford_llm import InvalidRequestError, LLMError
from ashford_llm.cli import main
from ashford_llm.errors import redact
from ashford_llm.middleware import Recorder
from tests.reliability._loopback import Answer, LoopbackServer, loopback, sse_answer
from tests.reliability.hygiene import (
    JSON,
    REQUEST,
    Telemetry,
    everything_seen,
    fake_key,
    hygiene_stack,
    leaks,
    logger_roots,
    masked,
    seen_error,
    seen_in_answers,
    seen_in_failures,
)
from tests.reliability.vendors import (
    MODELS,
    VENDORS,
    error_body,
    make_provider,
    ok_body,
    sse_events,
)

KEY_HEADERS = {"openai": "authorization", "anthropic": "x-api-key", "google": "x-goog-api-key"}
ENV = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ""),
    "google": ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", ""),
}


# OpenAI's and Anthropic's shapes, and one no pattern knows, so redaction by shape cannot help.
KEYS = {
    "openai": fake_key("sk-test-"),
    "anthropic": fake_key("sk-ant-test-"),
    "google": fake_key("gk-test-"),
}


def script(vendor: str) -> list[Answer]:
    """Answers for: complete, stream, and a 401 for each of two Retry attempts of two calls.

    A static key is not sent again after its refresh gives the same key: one 401 per attempt.
    """
    denied = Answer(status=401, headers=JSON, body=error_body(vendor, 401, "invalid key"))
    return [
        Answer(headers=JSON, body=ok_body(vendor, "Hello!")),
        sse_answer(sse_events(vendor, ["Hel", "lo!"])),
        *[denied] * 4,
    ]


async def run_stack(vendor: str, telemetry: Telemetry, cassette: Path) -> list[str]:
    """Drives the stack through success, stream and 401s; returns what the caller saw."""
    seen: list[str] = []
    async with loopback(script(vendor)) as server:
        provider = make_provider(vendor, server.url, None, api_key=KEYS[vendor])
        recorder = Recorder(provider)
        stack = hygiene_stack(telemetry, recorder)
        seen += [repr(stack), repr(provider), repr(provider.credentials), repr(recorder)]
        async with stack:
            seen += await seen_in_answers(stack)
            seen += await seen_in_failures(stack)
        recorder.save(cassette)
        seen.append(cassette.read_text())
        assert_sent_key(server, vendor, requests=6)
    return seen


def assert_sent_key(server: LoopbackServer, vendor: str, *, requests: int) -> None:
    """The key really went out, in its header, on every request (so the test means something)."""
    assert len(server.requests) == requests
    assert all(KEYS[vendor] in headers[KEY_HEADERS[vendor]] for headers in server.requests)


async def run_command(
    vendor: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """Runs `ashford-llm complete` for a success, a stream and a 401; returns its output."""
    key_var, base_var, suffix = ENV[vendor]
    denied = Answer(status=401, headers=JSON, body=error_body(vendor, 401, "invalid key"))
    answers = [
        Answer(headers=JSON, body=ok_body(vendor, "Hello!")),
        sse_answer(sse_events(vendor, ["Hel", "lo!"])),
        denied,
    ]
    statuses = []
    async with loopback(answers) as server:
        monkeypatch.setenv(key_var, KEYS[vendor])
        monkeypatch.setenv(base_var, server.url + suffix)
        base = ["complete", "Say hello", "--provider", vendor, "--model", MODELS[vendor]]
        for extra in ([], ["--stream"], []):
            # The command runs its own event loop; the server runs in this one.
            statuses.append(await asyncio.to_thread(main, [*base, *extra]))
        assert_sent_key(server, vendor, requests=3)
    assert statuses == [0, 0, 3]
    captured = capsys.readouterr()
    return [captured.out, captured.err]


def test_no_key_appears_in_anything_a_user_can_see_or_store(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    telemetry = Telemetry()
    seen: list[str] = []

    async def everything() -> None:
        for vendor in VENDORS:
            seen.extend(await run_stack(vendor, telemetry, tmp_path / f"{vendor}.json"))
            seen.extend(await run_command(vendor, monkeypatch, capsys))

    asyncio.run(everything())
    # DEBUG logging really was on, for the providers' own (httpx2) HTTP stack too
    assert {"ashford_llm", "httpx2", "httpcore2"} <= logger_roots(caplog)
    assert any("Hello!" in text for text in telemetry.dump())  # content capture really was on
    assert leaks(everything_seen(seen, telemetry, caplog), KEYS) == []


@pytest.mark.parametrize("where", ["log record", "span event", "error cause"])
def test_the_search_finds_a_key_planted_where_a_user_could_see_it(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The search above can fail: a key's last eight characters, put in one place, are found."""
    caplog.set_level(logging.DEBUG)
    telemetry = Telemetry()
    tail = KEYS["anthropic"][-8:]
    seen: list[str] = []
    if where == "log record":
        logging.getLogger("ashford_llm").debug("refreshed the key ending %s", tail)
    elif where == "span event":
        tracer = telemetry.tracer_provider.get_tracer("hygiene")
        with tracer.start_as_current_span("call") as span:
            span.add_event("refresh", {"key.tail": tail})
    else:
        error = LLMError("the vendor refused the key")
        error.__cause__ = ValueError(f"bad key ...{tail}")
        seen += seen_error(error)
    assert leaks(everything_seen(seen, telemetry, caplog), KEYS) == ["anthropic"]


@pytest.mark.parametrize("stars", [5, 40])
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_masked_key_the_vendor_echoes_is_redacted_from_the_error(vendor: str, stars: int) -> None:
    key = KEYS[vendor][:-4] + "Qz7X"  # a fixed tail no traceback line can contain by chance
    message = f"Incorrect API key provided: {masked(key, stars)}. You can find your API key at ..."
    denied = Answer(status=401, headers=JSON, body=error_body(vendor, 401, message))

    async def call() -> LLMError:
        async with loopback([denied, denied]) as server:
            provider = make_provider(vendor, server.url, None, api_key=key)
            async with provider:
                with pytest.raises(LLMError) as caught:
                    await provider.complete(REQUEST)
        return caught.value

    error = asyncio.run(call())
    seen = "\n".join(seen_error(error))
    assert "Incorrect API key provided" in error.message  # the vendor's words are kept
    assert key[-4:] not in seen
    assert masked(key, stars) not in seen


@pytest.mark.parametrize("text", ["*" * 1_000_000, "a" * 1_000_000, "ab****" * 200_000])
def test_redacting_a_long_text_takes_linear_time(text: str) -> None:
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 5.0  # quadratic matching would take hours


class PastedKey:
    """Credentials from a secrets store that hands back the key as pasted, with its newline."""

    def __init__(self, key: str) -> None:
        self.key = key

    async def get(self) -> str:
        return self.key

    async def refresh(self) -> str:
        return self.key


@pytest.mark.parametrize("source", ["api_key", "credentials"])
@pytest.mark.parametrize("vendor", VENDORS)
def test_a_key_with_a_trailing_newline_is_sent_stripped(vendor: str, source: str) -> None:
    key = KEYS[vendor]
    given = f"{key}\n"
    option: dict[str, Any] = {"api_key": given} if source == "api_key" else {}
    if source == "credentials":
        option["credentials"] = PastedKey(given)

    async def call() -> list[dict[str, str]]:
        ok = Answer(headers=JSON, body=ok_body(vendor, "Hello!"))
        async with (
            loopback([ok]) as server,
            make_provider(vendor, server.url, None, **option) as provider,
        ):
            response = await provider.complete(REQUEST)
        assert response.content == "Hello!"
        return server.requests

    (headers,) = asyncio.run(call())
    assert headers[KEY_HEADERS[vendor]].removeprefix("Bearer ") == key


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_credentials_key_that_is_not_key_shaped_fails_without_showing_it(vendor: str) -> None:
    key = KEYS[vendor]
    pasted = PastedKey(f"{key[:-8]}\n{key[-8:]}")  # a newline inside: an illegal header value

    async def call() -> LLMError:
        async with (
            loopback([]) as server,
            make_provider(vendor, server.url, None, credentials=pasted) as provider,
        ):
            with pytest.raises(LLMError) as caught:
                await provider.complete(REQUEST)
        assert server.requests == []
        return caught.value

    error = asyncio.run(call())
    assert isinstance(error, InvalidRequestError)
    seen = "\n".join(seen_error(error))
    assert key[:-8] not in seen
    assert key[-8:] not in seen
