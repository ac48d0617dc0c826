"""Tool calls pass through every layer and tool: RateLimit, JsonValidation, Tracing, Recorder
and Replay, MockProvider. (The vendors' wire formats are tested in tests/providers.)"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from ashford_llm.cassette import Cassette
from ashford_llm.middleware import JsonValidation, Recorder, Tracing
from ashford_llm.middleware.rate_limit import estimate_input_tokens
from ashford_llm.testing import MockProvider, Replay


class Weather(msgspec.Struct):
    city: str


WEATHER = Tool("get_weather", "The weather in a city now", Weather)
CALL = ToolCall("call_1", "get_weather", {"city": "Paris"})
ASK = CompletionRequest([ChatMessage.user("Weather in Paris?")], tools=[WEATHER])
CALLS = CompletionResponse(
    model="m",
    input_tokens=20,
    output_tokens=8,
    latency_ms=1.0,
    finish_reason="tool_calls",
    provider="mock",
    parts=(TextPart("Looking it up."), CALL),
)


def test_rate_limit_counts_tool_definitions_calls_and_results() -> None:
    bare = CompletionRequest([ChatMessage.user("Weather in Paris?")])
    schema = len(json.dumps(WEATHER.schema, separators=(",", ":")))
    assert estimate_input_tokens(ASK) - estimate_input_tokens(bare) >= schema // 4
    history = CompletionRequest(
        [
            ChatMessage.user("Weather in Paris?"),
            ChatMessage.assistant(CALL),
            ChatMessage.tool_result("call_1", "18 degrees and sunny " * 10),
        ]
    )
    assert estimate_input_tokens(history) > estimate_input_tokens(bare) + 50


async def test_json_validation_passes_a_tool_call_answer_through() -> None:
    mock = MockProvider([CALLS])
    response = await JsonValidation(mock, schema=Weather).complete(ASK)
    assert response.tool_calls == (CALL,)
    assert response.parsed is None


async def test_a_mock_streams_a_scripted_answers_calls_as_deltas() -> None:
    events = [event async for event in MockProvider([CALLS]).stream(ASK)]
    assert events[-2] == ToolCallDelta(0, "call_1", "get_weather", '{"city":"Paris"}')
    assert isinstance(events[0], TextDelta)
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].response.tool_calls == (CALL,)


async def test_tracing_captures_tool_definitions_calls_and_results_as_the_conventions_say() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    history = CompletionRequest(
        [
            ChatMessage.user("Weather in Paris?"),
            ChatMessage.assistant(CALL),
            ChatMessage.tool_result("call_1", "18 C"),
        ],
        tools=[WEATHER],
    )
    layer = Tracing(MockProvider([CALLS]), tracer_provider=provider, capture_content=True)
    await layer.complete(history)
    [span] = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    inputs = json.loads(str(attributes["gen_ai.input.messages"]))
    assert inputs[1]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert inputs[2]["parts"] == [
        {"type": "tool_call_response", "id": "call_1", "response": "18 C"}
    ]
    outputs = json.loads(str(attributes["gen_ai.output.messages"]))
    assert outputs[0]["parts"][1]["type"] == "tool_call"
    assert outputs[0]["finish_reason"] == "tool_calls"


async def test_cassettes_record_and_replay_tools_calls_and_their_deltas(tmp_path: Path) -> None:
    recorder = Recorder(MockProvider([CALLS, CALLS]))
    await recorder.complete(ASK)
    streamed = [event async for event in recorder.stream(ASK)]
    path = tmp_path / "tools.json"
    recorder.save(path)
    cassette = Cassette.load(path)
    assert cassette.calls[0].request.tools[0].parameters == WEATHER.schema
    replay = Replay(path, match="request")
    assert (await replay.complete(ASK)).tool_calls == (CALL,)
    assert [event async for event in replay.stream(ASK)] == streamed
