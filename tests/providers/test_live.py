"""Calls the real vendor APIs; opt-in with `pytest -m live` and the vendor's key in the environment.

Each case runs once per vendor whose key is set and is skipped, with the variable's name,
otherwise. The defaults are each vendor's current small model (November 2026), taken from its
own models and deprecations pages; `ASHFORD_LIVE_<VENDOR>_MODEL` picks another:

- OpenAI `gpt-6-luna`: the models page's choice "for cost-sensitive, high-volume workloads";
  gpt-4o-mini, the old default, is deprecated. It is a reasoning model: Chat Completions
  accepts only the default temperature and no `stop` without `reasoning_effort: "none"`, which
  this library does not send, so its sampling case sends temperature 1 and no stop sequence,
  and its output budget leaves room for reasoning tokens.
- Anthropic `claude-haiku-4-5`: the fastest model of the current line-up (models overview),
  not deprecated (model deprecations page).
- Google `gemini-3.5-flash-lite`: the stable Flash-Lite, with no shutdown date on the Gemini
  deprecations page; gemini-2.5-flash, the old default, is past its shutdown date.
"""

import os
import re
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    InvalidRequestError,
    LLMError,
    ModelConfig,
    StreamEnd,
    TextDelta,
)
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing
from ashford_llm.protocol import LLMProvider
from ashford_llm.providers import AnthropicProvider, GoogleProvider, OpenAIProvider

QUESTION = [
    ChatMessage.system("You answer geography questions as JSON."),
    ChatMessage.user('Which city is the Eiffel Tower in? Answer as JSON {"city": "..."}.'),
]
COUNTING = [
    ChatMessage.system(
        "Reply with the integers from 1 to 9 in increasing order, separated by single spaces, "
        "and nothing else."
    ),
    ChatMessage.user("Go."),
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
BAD_KEY = "invalid-key-for-ashford-live-tests-0000"
NO_SUCH_MODEL = "ashford-no-such-model-2026"


class Place(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The answer the JSON-schema cases decode (closed, as OpenAI's strict mode requires)."""

    city: str
    country: str


@dataclass(frozen=True)
class Vendor:
    name: str
    provider: type[LLMProvider]
    keys: tuple[str, ...]
    default_model: str
    max_output_tokens: int
    id_field: str  # the response id the vendor reliably sends
    schema: dict[str, Any]
    temperature: float  # what its default model accepts
    sends_stop: bool  # whether its default model accepts stop sequences
    bad_key: type[LLMError]  # what a wrong key raises
    bad_key_status: int

    @property
    def model(self) -> str:
        return os.environ.get(f"ASHFORD_LIVE_{self.name.upper()}_MODEL", self.default_model)

    def build(self, *, model: str | None = None, **options: Any) -> LLMProvider:
        config = ModelConfig(
            self.name, model or self.model, max_output_tokens=self.max_output_tokens
        )
        return self.provider(config, **options)  # type: ignore[call-arg]


VENDORS = [
    Vendor(
        "openai",
        OpenAIProvider,
        ("OPENAI_API_KEY",),
        "gpt-6-luna",
        4096,
        "request_id",
        # OpenAI's strict structured output needs a name and closed objects.
        {"title": "answer", **SCHEMA, "additionalProperties": False},
        temperature=1.0,
        sends_stop=False,
        bad_key=AuthenticationError,
        bad_key_status=401,
    ),
    Vendor(
        "anthropic",
        AnthropicProvider,
        ("ANTHROPIC_API_KEY",),
        "claude-haiku-4-5",
        300,
        "request_id",
        SCHEMA,
        temperature=0.0,
        sends_stop=True,
        bad_key=AuthenticationError,
        bad_key_status=401,
    ),
    Vendor(
        "google",
        GoogleProvider,
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        "gemini-3.5-flash-lite",
        1024,
        "response_id",
        SCHEMA,
        temperature=0.0,
        sends_stop=True,
        # Gemini answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        bad_key=InvalidRequestError,
        bad_key_status=400,
    ),
]

pytestmark = pytest.mark.live

vendors = pytest.mark.parametrize(
    "vendor",
    [
        pytest.param(
            vendor,
            id=vendor.name,
            marks=pytest.mark.skipif(
                not any(os.environ.get(key) for key in vendor.keys),
                reason=f"{' or '.join(vendor.keys)} unset",
            ),
        )
        for vendor in VENDORS
    ],
)


def city(text: str) -> str:
    return str(msgspec.json.decode(text)["city"]).lower()


@vendors
async def test_live_system_message_with_temperature_and_stop(vendor: Vendor) -> None:
    stop = ["6"] if vendor.sends_stop else []
    request = CompletionRequest(COUNTING, temperature=vendor.temperature, stop=stop)
    async with vendor.build() as provider:
        response = await provider.complete(request)
    numbers = re.findall(r"\d+", response.content)
    assert numbers == [str(n) for n in range(1, 6 if stop else 10)], response.content
    assert response.finish_reason == "stop"
    assert response.input_tokens > 0
    assert getattr(response, vendor.id_field)


@vendors
async def test_live_complete_in_json_mode(vendor: Vendor) -> None:
    async with vendor.build() as provider:
        response = await provider.complete(CompletionRequest(QUESTION, json_mode=True))
    assert "paris" in city(response.content)
    assert response.input_tokens > 0
    assert response.output_tokens > 0
    assert response.finish_reason == "stop"


@vendors
async def test_live_json_schema_answer_decoded_into_a_struct(vendor: Vendor) -> None:
    async with JsonValidation(vendor.build(), schema=Place) as llm:
        response = await llm.complete(
            CompletionRequest([ChatMessage.user("Where is the Eiffel Tower? City and country.")])
        )
    assert isinstance(response.parsed, Place)
    assert response.parsed.city.lower() == "paris"
    assert response.parsed.country.lower() == "france"


@vendors
async def test_live_stream_with_a_json_schema_reports_usage(vendor: Vendor) -> None:
    texts: list[str] = []
    ends: list[StreamEnd] = []
    async with vendor.build() as provider:
        request = CompletionRequest(QUESTION, json_schema=vendor.schema)
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                texts.append(event.text)
            else:
                ends.append(event)
    assert len(ends) == 1
    assert "".join(texts) == ends[0].response.content
    assert "paris" in city(ends[0].response.content)
    assert ends[0].response.input_tokens > 0
    assert ends[0].response.output_tokens > 0


@vendors
async def test_live_stream_in_json_mode(vendor: Vendor) -> None:
    async with vendor.build() as provider:
        events = [e async for e in provider.stream(CompletionRequest(QUESTION, json_mode=True))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert "paris" in city(end.response.content)


@vendors
async def test_live_a_wrong_key_is_the_vendors_auth_error(vendor: Vendor) -> None:
    async with vendor.build(api_key=BAD_KEY) as provider:
        with pytest.raises(LLMError) as caught:
            await provider.complete(CompletionRequest(QUESTION))
    assert type(caught.value) is vendor.bad_key
    assert caught.value.status == vendor.bad_key_status
    assert caught.value.provider == vendor.name
    if vendor.name == "google":
        assert caught.value.error_code == "API_KEY_INVALID"
    assert BAD_KEY not in str(caught.value)


@vendors
async def test_live_an_unknown_model_is_an_invalid_request(vendor: Vendor) -> None:
    async with vendor.build(model=NO_SUCH_MODEL) as provider:
        with pytest.raises(InvalidRequestError) as caught:
            await provider.complete(CompletionRequest(QUESTION))
    assert caught.value.status in (400, 404)
    assert not caught.value.retryable


@vendors
async def test_live_the_recommended_stack(vendor: Vendor) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    stack = (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider)
        .use(Retry, max_retries=2)
        .use(RateLimit, requests_per_minute=30, max_concurrency=2)
        .use(Timeout, total=120)
        .use(JsonValidation, schema=Place)
    )
    request = CompletionRequest([ChatMessage.user("Where is the Colosseum? City and country.")])
    async with stack.build(vendor.build()) as llm:
        complete = await llm.complete(request)
        streamed = [event async for event in llm.stream(request)]
    end = streamed[-1]
    assert isinstance(end, StreamEnd)
    for response in (complete, end.response):
        assert isinstance(response.parsed, Place)
        assert response.parsed.city.lower() in ("rome", "roma")
        assert response.input_tokens > 0
    finished = spans.get_finished_spans()
    assert [span.name for span in finished] == [f"chat {vendor.model}"] * 2
    assert all(span.attributes["gen_ai.usage.input_tokens"] > 0 for span in finished)
