"""The secret-hygiene suites' shared harness: gather all a user could see, search it for secrets.

Each suite drives a provider under `hygiene_stack` (Tracing with content capture on span and
event, Retry retrying authentication errors, over a Recorder) and gathers what it showed:
reprs, answers (`seen_in_answers`), errors with their causes (`seen_in_failures`,
`seen_error`), cassettes and command output. `everything_seen` adds every span, event, metric
and DEBUG log record; `leaks` names the secrets found in it, whole or by their last eight
characters.
"""

from __future__ import annotations

import secrets
import string
import traceback
from collections.abc import AsyncIterator, Iterable, Mapping
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

from ashford_llm import ChatMessage, ClientBuilder, CompletionRequest, LLMError
from ashford_llm.middleware import Recorder, Retry, Tracing
from ashford_llm.protocol import LLMProvider

REQUEST = CompletionRequest([ChatMessage.system("Be brief."), ChatMessage.user("Say hello")])
JSON = [("content-type", "application/json")]
ALPHABET = string.ascii_letters + string.digits


def random_text(length: int) -> str:
    """Random letters and digits, so no redaction by shape can hide them."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def fake_key(prefix: str) -> str:
    """A distinctive key: a vendor-like prefix and 32 random letters and digits."""
    return prefix + random_text(32)


def masked(key: str, stars: int) -> str:
    """A key as OpenAI echoes it in a 401: its start, asterisks, its last four characters."""
    return key[:8] + "*" * stars + key[-4:]


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


def hygiene_stack(telemetry: Telemetry, recorder: Recorder) -> LLMProvider:
    """Tracing (content on span and event) over Retry, retrying authentication errors once."""
    return (
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


def seen_error(error: BaseException) -> list[str]:
    """What a user could see of an error: str, repr, context, traceback, its causes."""
    out = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, LLMError):
        out += [repr(error.context()), repr(error.body_excerpt), repr(vars(error))]
    if error.__cause__ is not None:
        out += seen_error(error.__cause__)
    return out


async def drain(events: AsyncIterator[Any]) -> None:
    async for _ in events:
        pass


async def seen_in_answers(stack: LLMProvider) -> list[str]:
    """Completes and streams REQUEST; returns the answer's repr and JSON and every event's repr."""
    response = await stack.complete(REQUEST)
    seen = [repr(response), msgspec.json.encode(response).decode()]
    async for event in stack.stream(REQUEST):
        seen.append(repr(event))
    return seen


async def seen_in_failures(stack: LLMProvider) -> list[str]:
    """Completes and streams REQUEST, each failing with an LLMError; returns what they showed."""
    seen: list[str] = []
    for call in (stack.complete(REQUEST), drain(stack.stream(REQUEST))):
        with pytest.raises(LLMError) as caught:
            await call
        seen += seen_error(caught.value)
    return seen


def logger_roots(caplog: pytest.LogCaptureFixture) -> set[str]:
    """The top-level names of the loggers that wrote, to show DEBUG logging really was on."""
    return {record.name.split(".")[0] for record in caplog.records}


def everything_seen(
    seen: Iterable[str], telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> list[str]:
    """What a run gathered, plus every span, event, metric and log record (message, args, trace)."""
    out = [*seen, *telemetry.dump(), caplog.text]
    for record in caplog.records:
        out += [record.getMessage(), repr(record.args), record.exc_text or ""]
    return out


def leaks(seen: Iterable[str], named_secrets: Mapping[str, str]) -> list[str]:
    """The names of the secrets found in `seen`, whole or by their last eight characters."""
    text = "\n".join(seen)
    return [name for name, secret in named_secrets.items() if secret in text or secret[-8:] in text]
