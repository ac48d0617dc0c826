"""A two-step weather conversation through ToolLoop over each vendor's fake server.

The fake model calls the first offered tool with arguments taken from the prompt, then
answers "The tool said: ..." with the result it was sent (docs/testing.md, "Tool calls"), so
these tests prove the whole round trip in each vendor's wire format: the call decoded, the
handler run once, the model's turn and the result encoded back, the answer read. The second
model turn fails once with a 500 that Retry (inside ToolLoop) repeats, so the handler must
still run exactly once. Complete and stream, with the spans checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    ModelConfig,
    StreamEnd,
    TextDelta,
    Tool,
    ToolCallDelta,
)
from ashford_llm.middleware import Retry, ToolLoop, Tracing
from ashford_llm.middleware import _semconv as sc
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.testing import FakeProviderServer, Fault

MODELS = {
    "openai": ("gpt-4o-mini", "openai"),
    "anthropic": ("claude-sonnet-4-5", "anthropic"),
    "google": ("gemini-3-flash-preview", "gcp.gemini"),
    "google-2.5": ("gemini-2.5-flash", "gcp.gemini"),
}


class City(msgspec.Struct, frozen=True):
    city: str


WEATHER = Tool("get_weather", "The current weather in a city", City)
ANSWER = "The tool said: 18 degrees and sunny in Paris"


async def no_wait(_: float) -> None:
    """Skips Retry's backoff."""


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("name", list(MODELS))
async def test_a_weather_conversation_over_the_fake_server(
    name: str, streamed: bool, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    vendor = name.split("-")[0]
    model, otel_name = MODELS[name]
    tracer_provider, exporter = spans
    ran: list[City] = []

    def weather(query: City) -> str:
        ran.append(query)
        return f"18 degrees and sunny in {query.city}"

    # Turn 1 answers with a call; turn 2 fails once (500) and Retry repeats it.
    server = FakeProviderServer(script=[None, Fault.server_error, None])
    async with httpx.AsyncClient(transport=server.transport()) as client:
        terminal = provider_from_config(
            ModelConfig(vendor, model, max_output_tokens=512),
            api_key="test-key",
            base_url=server.base_url(vendor),
            http_client=client,
        )
        stack = (
            ClientBuilder()
            .use(Tracing, tracer_provider=tracer_provider)
            .use(ToolLoop, handlers={"get_weather": weather}, tracer_provider=tracer_provider)
            .use(Retry, sleep=no_wait)
            .build(terminal)
        )
        request = CompletionRequest(
            [ChatMessage.user("What is the weather in Paris?")], tools=[WEATHER]
        )
        if streamed:
            events = [event async for event in stack.stream(request)]
            assert sum(isinstance(event, StreamEnd) for event in events) == 1
            end = events[-1]
            assert isinstance(end, StreamEnd)
            response: CompletionResponse = end.response
            assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER
            deltas = [e for e in events if isinstance(e, ToolCallDelta)]
            assert deltas[0].name == "get_weather"
            arguments = json.loads("".join(delta.arguments_delta for delta in deltas))
            assert arguments == {"city": "Paris"}
        else:
            response = await stack.complete(request)

    assert response.content == ANSWER
    assert response.finish_reason == "stop"
    assert ran == [City(city="Paris")]
    stats = server.stats
    assert stats.requests == 3
    assert [record.fault for record in stats.records] == [None, Fault.server_error, None]
    assert [record.ok for record in stats.records] == [True, False, True]
    # Usage is added up over both successful model turns.
    assert response.input_tokens is not None
    assert response.output_tokens is not None
    assert response.input_tokens > 0
    assert response.output_tokens > 0

    finished = exporter.get_finished_spans()
    assert sorted(span.name for span in finished) == [f"chat {model}", "execute_tool get_weather"]
    chat = next(span for span in finished if span.name == f"chat {model}")
    tool = next(span for span in finished if span.name == "execute_tool get_weather")
    assert tool.parent is not None
    assert tool.parent.span_id == chat.context.span_id
    tool_attributes = dict(tool.attributes or {})
    assert tool_attributes[sc.TOOL_NAME] == "get_weather"
    assert tool_attributes[sc.TOOL_CALL_ID]
    chat_attributes = dict(chat.attributes or {})
    assert chat_attributes[sc.PROVIDER_NAME] == otel_name
    assert chat_attributes[sc.USAGE_INPUT_TOKENS] == response.input_tokens
    assert chat_attributes[sc.USAGE_OUTPUT_TOKENS] == response.output_tokens
