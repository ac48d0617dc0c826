"""The whole six-layer stack over each real provider, its vendor mocked with respx.

A 429 with a retry hint, then a 200: the caller gets one success that took two attempts, one
span carrying one retry event, one recorded call, and two HTTP requests, whole or streamed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import respx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    ModelConfig,
    RateLimitError,
    StreamEnd,
    TextDelta,
)
from ashford_llm.middleware import (
    JsonValidation,
    Middleware,
    RateLimit,
    Recorder,
    Retry,
    Timeout,
    Tracing,
    iter_layers,
)
from ashford_llm.middleware import _semconv as sc
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers import AnthropicProvider, GoogleProvider, OpenAIProvider
from ashford_llm.testing import MockProvider, Replay

RETRY_AFTER = 2.0
LABEL_JSON = '{"label": "billing", "confidence": 0.9}'
REQUEST = CompletionRequest(
    [ChatMessage.system("Label the support ticket."), ChatMessage.user("My invoice is wrong")]
)


class Label(msgspec.Struct, frozen=True):
    """The answer the stack decodes into."""

    label: str
    confidence: float


PARSED = Label(label="billing", confidence=0.9)


# --- vendor wire formats: module-level response builders -----------------------------------


def sse_response(body: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def openai_rate_limited() -> httpx.Response:
    body = {
        "error": {
            "message": "Rate limit reached for requests",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    return httpx.Response(429, json=body, headers={"retry-after": str(RETRY_AFTER)})


def openai_answer() -> httpx.Response:
    body = {
        "id": "chatcmpl-full",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": LABEL_JSON},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 12},
    }
    return httpx.Response(200, json=body, headers={"x-request-id": "req_full"})


def openai_stream() -> httpx.Response:
    def chunk(**fields: Any) -> str:
        body = {"id": "chatcmpl-full", "model": "gpt-4o-mini-2024-07-18", **fields}
        return f"data: {json.dumps(body)}\n\n"

    half = len(LABEL_JSON) // 2
    parts = [
        chunk(choices=[{"index": 0, "delta": {"content": text}, "finish_reason": None}])
        for text in (LABEL_JSON[:half], LABEL_JSON[half:])
    ]
    parts.append(chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    parts.append(chunk(choices=[], usage={"prompt_tokens": 21, "completion_tokens": 12}))
    return sse_response("".join(parts) + "data: [DONE]\n\n")


def anthropic_rate_limited() -> httpx.Response:
    body = {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Number of requests exceeds the limit"},
    }
    return httpx.Response(429, json=body, headers={"retry-after": str(RETRY_AFTER)})


def anthropic_answer() -> httpx.Response:
    body = {
        "id": "msg_full",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": LABEL_JSON}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 21, "output_tokens": 12},
    }
    return httpx.Response(200, json=body, headers={"request-id": "req_full"})


def anthropic_stream() -> httpx.Response:
    half = len(LABEL_JSON) // 2
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_full",
                    "model": "claude-sonnet-4-6",
                    "content": [],
                    "usage": {"input_tokens": 21, "output_tokens": 1},
                },
            },
        ),
        ("content_block_start", {"type": "content_block_start", "index": 0}),
    ]
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}},
        )
        for text in (LABEL_JSON[:half], LABEL_JSON[half:])
    ]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 12},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return sse_response("".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events))


def google_rate_limited() -> httpx.Response:
    retry_info = {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": f"{RETRY_AFTER:g}s",
    }
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [retry_info],
        }
    }
    return httpx.Response(429, json=body)


def google_chunk(text: str, *, last: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash-001"}
    body["responseId"] = "resp-full"
    if last:
        candidate["finishReason"] = "STOP"
        body["usageMetadata"] = {"promptTokenCount": 21, "candidatesTokenCount": 12}
    return body


def google_answer() -> httpx.Response:
    return httpx.Response(200, json=google_chunk(LABEL_JSON, last=True))


def google_stream() -> httpx.Response:
    half = len(LABEL_JSON) // 2
    chunks = [
        google_chunk(LABEL_JSON[:half], last=False),
        google_chunk(LABEL_JSON[half:], last=True),
    ]
    return sse_response("".join(f"data: {json.dumps(c)}\n\n" for c in chunks))


def make_openai(config: ModelConfig, client: httpx.AsyncClient) -> LLMProvider:
    return OpenAIProvider(config, api_key="sk-proj-fullstack0123456789", http_client=client)


def make_anthropic(config: ModelConfig, client: httpx.AsyncClient) -> LLMProvider:
    return AnthropicProvider(config, api_key="sk-ant-api03-fullstack-0123", http_client=client)


def make_google(config: ModelConfig, client: httpx.AsyncClient) -> LLMProvider:
    return GoogleProvider(config, api_key="AIzaSyFullStack0123456789abcdef", http_client=client)


@dataclass(frozen=True, kw_only=True)
class Vendor:
    """One vendor's provider and wire format, enough to run the stack over it."""

    config: ModelConfig
    make: Callable[[ModelConfig, httpx.AsyncClient], LLMProvider]
    otel_name: str
    complete_url: str
    stream_url: str
    rate_limited: Callable[[], httpx.Response]
    answer: Callable[[], httpx.Response]
    stream: Callable[[], httpx.Response]


GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
VENDORS = [
    pytest.param(
        Vendor(
            config=ModelConfig("openai", "gpt-4o-mini"),
            make=make_openai,
            otel_name="openai",
            complete_url="https://api.openai.com/v1/chat/completions",
            stream_url="https://api.openai.com/v1/chat/completions",
            rate_limited=openai_rate_limited,
            answer=openai_answer,
            stream=openai_stream,
        ),
        id="openai",
    ),
    pytest.param(
        Vendor(
            config=ModelConfig("anthropic", "claude-sonnet-4-6"),
            make=make_anthropic,
            otel_name="anthropic",
            complete_url="https://api.anthropic.com/v1/messages",
            stream_url="https://api.anthropic.com/v1/messages",
            rate_limited=anthropic_rate_limited,
            answer=anthropic_answer,
            stream=anthropic_stream,
        ),
        id="anthropic",
    ),
    pytest.param(
        Vendor(
            config=ModelConfig("google", "gemini-2.5-flash"),
            make=make_google,
            otel_name="gcp.gemini",
            complete_url=f"{GEMINI}:generateContent",
            stream_url=f"{GEMINI}:streamGenerateContent?alt=sse",
            rate_limited=google_rate_limited,
            answer=google_answer,
            stream=google_stream,
        ),
        id="google",
    ),
]


# --- the stack and what it reports ----------------------------------------------------------


class VirtualSleep:
    """Retry's sleep in virtual time: notes each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Telemetry:
    """An SDK tracer and meter provider writing to memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def only_span(self) -> ReadableSpan:
        spans = self.spans.get_finished_spans()
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]

    def histogram_counts(self, name: str) -> int:
        """Returns how many values the named histogram recorded, over all its points."""
        data = self.reader.get_metrics_data()
        return sum(
            point.count
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
            if hasattr(point, "count")
        )


def full_stack(telemetry: Telemetry, sleep: VirtualSleep) -> ClientBuilder:
    """The six layers in the recommended order, outermost first."""
    return (
        ClientBuilder()
        .use(
            Tracing,
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
        )
        .use(Recorder)
        .use(Retry, max_retries=3, sleep=sleep)
        .use(RateLimit, requests_per_minute=600)
        .use(Timeout, total=30)
        .use(JsonValidation, schema=Label)
    )


LAYERS = (
    "Tracing -> Recorder -> Retry(max_retries=3) -> RateLimit(requests_per_minute=600) -> "
    "Timeout(total=30) -> JsonValidation(schema=Label)"
)


def recorder_of(stack: LLMProvider) -> Recorder:
    (recorder,) = (layer for layer in iter_layers(stack) if isinstance(layer, Recorder))
    return recorder


def assert_one_span_with_one_retry(telemetry: Telemetry, vendor: Vendor) -> ReadableSpan:
    span = telemetry.only_span()
    assert span.name == f"chat {vendor.config.model}"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes[sc.PROVIDER_NAME] == vendor.otel_name
    assert attributes[sc.REQUEST_MODEL] == vendor.config.model
    assert attributes[sc.USAGE_INPUT_TOKENS] == 21
    assert attributes[sc.USAGE_OUTPUT_TOKENS] == 12
    assert attributes[sc.ATTEMPTS] == 2
    assert sc.ERROR_TYPE not in attributes
    assert [event.name for event in span.events] == [sc.RETRY_EVENT]
    retry = dict(span.events[0].attributes or {})
    assert retry[sc.RETRY_ATTEMPT] == 1
    assert retry[sc.ERROR_TYPE] == "RateLimitError"
    delay = retry[sc.RETRY_DELAY_S]
    assert isinstance(delay, float)
    assert delay >= RETRY_AFTER
    assert telemetry.histogram_counts(sc.OPERATION_DURATION) == 1
    return span


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
async def test_full_stack_turns_a_429_then_a_200_into_one_traced_recorded_success(
    vendor: Vendor, tmp_path: Path
) -> None:
    telemetry, sleep = Telemetry(), VirtualSleep()
    router = respx.Router()
    route = router.post(vendor.complete_url).mock(
        side_effect=[vendor.rate_limited(), vendor.answer()]
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        terminal = vendor.make(vendor.config, client)
        async with full_stack(telemetry, sleep).build(terminal) as stack:
            response = await stack.complete(REQUEST)

    assert response.content == LABEL_JSON
    assert response.parsed == PARSED
    assert response.attempts == 2
    assert route.call_count == 2
    sent = [json.loads(call.request.content) for call in route.calls]
    assert sent[0] == sent[1]  # the retry sends the same request, schema included
    # Retry waited the vendor's hint: it is longer than any backoff at base_delay=0.5.
    assert sleep.waits == [RETRY_AFTER]
    assert_one_span_with_one_retry(telemetry, vendor)
    assert repr(stack) == f"{LAYERS} -> {type(terminal).__name__}(model={vendor.config.model!r})"

    (call,) = recorder_of(stack).calls
    assert call.kind == "complete"
    assert call.attempts == 2
    assert call.error is None
    assert call.response == response
    recorder_of(stack).save(tmp_path / "call.json")
    saved = (tmp_path / "call.json").read_text()
    assert LABEL_JSON.replace('"', '\\"') in saved
    for call_seen in route.calls:
        for header in ("authorization", "x-api-key", "x-goog-api-key"):
            key = call_seen.request.headers.get(header, "").removeprefix("Bearer ")
            assert not key or key not in saved


@pytest.mark.parametrize("vendor", VENDORS)
async def test_full_stack_retries_a_stream_rejected_before_its_first_event(
    vendor: Vendor,
) -> None:
    telemetry, sleep = Telemetry(), VirtualSleep()
    router = respx.Router()
    route = router.post(vendor.stream_url).mock(
        side_effect=[vendor.rate_limited(), vendor.stream()]
    )
    transport = httpx.MockTransport(router.async_handler)
    async with (
        httpx.AsyncClient(transport=transport) as client,
        full_stack(telemetry, sleep).build(vendor.make(vendor.config, client)) as stack,
    ):
        events = [event async for event in stack.stream(REQUEST)]

    *deltas, end = events
    assert all(isinstance(delta, TextDelta) for delta in deltas)
    assert len(deltas) == 2
    assert "".join(delta.text for delta in deltas if isinstance(delta, TextDelta)) == LABEL_JSON
    assert isinstance(end, StreamEnd)
    assert end.response.attempts == 2
    assert end.response.parsed == PARSED
    assert route.call_count == 2
    assert sleep.waits == [RETRY_AFTER]
    span = assert_one_span_with_one_retry(telemetry, vendor)
    assert dict(span.attributes or {})[sc.REQUEST_STREAM] is True
    (call,) = recorder_of(stack).calls
    assert call.kind == "stream"
    assert call.attempts == 2
    assert call.events == tuple(events)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_full_stack_replays_what_a_recorder_above_the_provider_recorded(
    vendor: Vendor, tmp_path: Path
) -> None:
    router = respx.Router()
    router.post(vendor.complete_url).mock(side_effect=[vendor.rate_limited(), vendor.answer()])
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        recorder = Recorder(vendor.make(vendor.config, client))
        async with full_stack(Telemetry(), VirtualSleep()).build(recorder) as stack:
            recorded = await stack.complete(REQUEST)
    assert [call.error is None for call in recorder.calls] == [False, True]
    recorder.save(tmp_path / "cassette.json")

    telemetry, sleep = Telemetry(), VirtualSleep()
    replay = Replay(tmp_path / "cassette.json", match="request")
    async with full_stack(telemetry, sleep).build(replay) as stack:
        replayed = await stack.complete(REQUEST)
    assert replayed == recorded
    assert replayed.parsed == PARSED
    assert sleep.waits == [RETRY_AFTER]  # the recorded 429 kept its retry hint
    assert replay.remaining == 0


async def test_one_builder_stacks_the_same_layers_over_a_mock_and_a_real_provider() -> None:
    telemetry, sleep = Telemetry(), VirtualSleep()
    builder = full_stack(telemetry, sleep)
    mock = MockProvider(
        [RateLimitError("slow down", retry_after=RETRY_AFTER), LABEL_JSON], model="gpt-4o-mini"
    )
    config = ModelConfig("openai", "gpt-4o-mini")
    async with (
        httpx.AsyncClient() as client,
        builder.build(make_openai(config, client)) as production,
        builder.build(mock) as test,
    ):
        response = await test.complete(REQUEST)

    def layers(stack: LLMProvider) -> list[str]:
        return [layer.describe() for layer in iter_layers(stack) if isinstance(layer, Middleware)]

    assert layers(test) == layers(production)
    assert " -> ".join(layers(test)) == LAYERS
    assert repr(test) == f"{LAYERS} -> {mock!r}"
    assert recorder_of(test) is not recorder_of(production)  # each build makes fresh layers
    assert response.parsed == PARSED
    assert response.attempts == 2
    assert sleep.waits == [RETRY_AFTER]
    assert [request.json_schema is not None for request in mock.requests] == [True, True]
    assert len(recorder_of(test).calls) == 1
    assert recorder_of(production).calls == []
    assert telemetry.only_span().name == "chat gpt-4o-mini"
