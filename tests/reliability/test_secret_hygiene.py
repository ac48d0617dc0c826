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
import secrets
import string
import time
import traceback
from pathlib import Path
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import ChatMessage, ClientBuilder, CompletionRequest, InvalidRequestError, LLMError
from ashford_llm.cli import main
from ashford_llm.errors import redact
from ashford_llm.middleware import Recorder, Retry, Tracing
from tests.reliability._loopback import Answer, LoopbackServer, loopback, sse_answer
from tests.reliability.vendors import (
    MODELS,
    VENDORS,
    error_body,
    make_provider,
    ok_body,
    sse_events,
)

REQUEST = CompletionRequest([ChatMessage.system("Be brief."), ChatMessage.user("Say hello")])
JSON = [("content-type", "application/json")]
KEY_HEADERS = {"openai": "authorization", "anthropic": "x-api-key", "google": "x-goog-api-key"}
ENV = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ""),
    "google": ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", ""),
}


def fake_key(prefix: str) -> str:
    """A distinctive key: a vendor-like prefix and 32 random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(32))


# OpenAI's and Anthropic's shapes, and one no pattern knows, so redaction by shape cannot help.
KEYS = {
    "openai": fake_key("sk-test-"),
    "anthropic": fake_key("sk-ant-test-"),
    "google": fake_key("gk-test-"),
}


class Telemetry:
    """SDK tracer, meter and logger providers writing to memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))

    def dump(self) -> list[str]:
        """Every span (attributes, events, status), content event and metric as JSON."""
        out = [span.to_json() for span in self.spans.get_finished_spans()]
        out += [record.to_json() for record in self.logs.get_finished_logs()]
        data = self.metrics.get_metrics_data()
        out.append(data.to_json() if data is not None else "")
        return out


def seen_error(error: BaseException) -> list[str]:
    """What a user could see of an error: str, repr, context, traceback, its causes."""
    out = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, LLMError):
        out += [repr(error.context()), repr(error.body_excerpt), repr(vars(error))]
    if error.__cause__ is not None:
        out += seen_error(error.__cause__)
    return out


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
        stack = (
            ClientBuilder()
            .use(
                Tracing,
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
                logger_provider=telemetry.logger_provider,
                capture_content="span_and_event",
            )
            .use(Retry, max_retries=1, base_delay=0.0, max_delay=0.0, retry_authentication=True)
            .build(recorder)
        )
        seen += [repr(stack), repr(provider), repr(provider.credentials), repr(recorder)]
        async with stack:
            response = await stack.complete(REQUEST)
            seen += [repr(response), msgspec.json.encode(response).decode()]
            async for event in stack.stream(REQUEST):
                seen.append(repr(event))
            for call in (stack.complete(REQUEST), drain(stack.stream(REQUEST))):
                with pytest.raises(LLMError) as caught:
                    await call
                seen += seen_error(caught.value)
        recorder.save(cassette)
        seen.append(cassette.read_text())
        assert_sent_key(server, vendor, requests=6)
    return seen


async def drain(events: Any) -> None:
    async for _ in events:
        pass


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
    seen += telemetry.dump()
    seen.append(caplog.text)
    for record in caplog.records:
        seen += [record.getMessage(), repr(record.args), record.exc_text or ""]
    loggers = {record.name.split(".")[0] for record in caplog.records}
    # DEBUG logging really was on, for the providers' own (httpx2) HTTP stack too
    assert {"ashford_llm", "httpx2", "httpcore2"} <= loggers
    assert any("Hello!" in text for text in telemetry.dump())  # content capture really was on
    everything_seen = "\n".join(seen)
    for vendor, key in KEYS.items():
        assert key not in everything_seen, vendor
        assert key[-8:] not in everything_seen, vendor


def masked(key: str, stars: int) -> str:
    """A key as OpenAI echoes it in a 401: its start, asterisks, its last four characters."""
    return key[:8] + "*" * stars + key[-4:]


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
