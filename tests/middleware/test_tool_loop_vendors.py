"""A two-step weather conversation through ToolLoop over each vendor's real provider (respx):
the model asks for get_weather, the loop runs it and sends the model's turn and the result
back in the vendor's format, and the model answers; complete and stream, spans checked.

The bodies follow each vendor's API reference (OpenAI Chat Completions `tool_calls` and `tool`
messages; Anthropic `tool_use` blocks and `tool_result` blocks in a user turn; Gemini
`functionCall` parts with their thought signature and `functionResponse` parts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
import respx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    LLMProvider,
    ModelConfig,
    StreamEnd,
    TextDelta,
    Tool,
    ToolCallDelta,
)
from ashford_llm.middleware import ToolLoop, Tracing
from ashford_llm.middleware import _semconv as sc
from ashford_llm.providers import AnthropicProvider, GoogleProvider, OpenAIProvider


class City(msgspec.Struct, frozen=True):
    city: str


WEATHER = Tool("get_weather", "The current weather in a city", City)
QUESTION = "What is the weather in Paris?"
RESULT = "18 degrees and sunny in Paris"
ANSWER = "It is 18 degrees and sunny in Paris."
SIG = "CiQBcsjafGx0aG91Z2h0LXNpZ25hdHVyZQ=="


def weather(query: City) -> str:
    return f"18 degrees and sunny in {query.city}"


def sse(*events: Any, named: bool = False) -> bytes:
    """Returns SSE data lines (with `event:` lines named after each body's type when asked)."""
    lines = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        if named:
            lines.append(f"event: {event['type']}\n")
        lines.append(f"data: {data}\n\n")
    return "".join(lines).encode()


# --- OpenAI -----------------------------------------------------------------------------------

OPENAI_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


def openai_answer(message: dict[str, Any], finish: str, tokens: tuple[int, int]) -> Any:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]},
    }


def openai_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_usage(tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]},
    }


OPENAI_TURNS = (
    openai_answer(
        {"role": "assistant", "content": None, "tool_calls": [OPENAI_CALL]}, "tool_calls", (60, 15)
    ),
    openai_answer({"role": "assistant", "content": ANSWER}, "stop", (90, 12)),
)
OPENAI_STREAMS = (
    sse(
        openai_chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            }
        ),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        openai_chunk({}, "tool_calls"),
        openai_usage((60, 15)),
        "[DONE]",
    ),
    sse(
        openai_chunk({"role": "assistant", "content": ""}),
        openai_chunk({"content": "It is 18 degrees "}),
        openai_chunk({"content": "and sunny in Paris."}),
        openai_chunk({}, "stop"),
        openai_usage((90, 12)),
        "[DONE]",
    ),
)


def openai_second_request(body: dict[str, Any]) -> None:
    assert body["messages"] == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": None, "tool_calls": [OPENAI_CALL]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": RESULT},
    ]
    assert body["tools"][0]["function"]["name"] == "get_weather"


# --- Anthropic --------------------------------------------------------------------------------

ANTHROPIC_TOOL_USE = {
    "type": "tool_use",
    "id": "toolu_01A09q90qw90lq917835lq9",
    "name": "get_weather",
    "input": {"city": "Paris"},
}


def anthropic_message(
    content: list[dict[str, Any]], stop: str, tokens: tuple[int, int]
) -> dict[str, Any]:
    return {
        "id": "msg_01Aq9w938a90dw8q",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }


def anthropic_stream(
    blocks: list[list[dict[str, Any]]], stop: str, tokens: tuple[int, int]
) -> bytes:
    """Streams content blocks: each list is a start event's block, then its deltas."""
    start = anthropic_message([], "", (tokens[0], 1))
    start["stop_reason"] = None
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, (block, *deltas) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": block})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": tokens[1]},
        }
    )
    events.append({"type": "message_stop"})
    return sse(*events, named=True)


ANTHROPIC_TURNS = (
    anthropic_message(
        [{"type": "text", "text": "Let me check."}, ANTHROPIC_TOOL_USE], "tool_use", (400, 50)
    ),
    anthropic_message([{"type": "text", "text": ANSWER}], "end_turn", (480, 14)),
)
ANTHROPIC_STREAMS = (
    anthropic_stream(
        [
            [{"type": "text", "text": ""}, {"type": "text_delta", "text": "Let me check."}],
            [
                {**ANTHROPIC_TOOL_USE, "input": {}},
                {"type": "input_json_delta", "partial_json": '{"city": '},
                {"type": "input_json_delta", "partial_json": '"Paris"}'},
            ],
        ],
        "tool_use",
        (400, 50),
    ),
    anthropic_stream(
        [
            [
                {"type": "text", "text": ""},
                {"type": "text_delta", "text": "It is 18 degrees "},
                {"type": "text_delta", "text": "and sunny in Paris."},
            ]
        ],
        "end_turn",
        (480, 14),
    ),
)


def anthropic_second_request(body: dict[str, Any]) -> None:
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Let me check."}, ANTHROPIC_TOOL_USE],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                    "content": RESULT,
                }
            ],
        },
    ]
    assert body["tools"][0]["name"] == "get_weather"


# --- Gemini -----------------------------------------------------------------------------------

GEMINI_CALL = {
    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
    "thoughtSignature": SIG,
}


def gemini_answer(
    parts: list[dict[str, Any]], finish: str | None, tokens: tuple[int, int]
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": tokens[0], "candidatesTokenCount": tokens[1]},
        "modelVersion": "gemini-3-flash-preview",
        "responseId": "resp-1",
    }


GEMINI_TURNS = (
    gemini_answer([GEMINI_CALL], "STOP", (40, 12)),
    gemini_answer([{"text": ANSWER}], "STOP", (70, 11)),
)
GEMINI_STREAMS = (
    sse(gemini_answer([GEMINI_CALL], "STOP", (40, 12))),
    sse(
        gemini_answer([{"text": "It is 18 degrees "}], None, (70, 4)),
        gemini_answer([{"text": "and sunny in Paris."}], "STOP", (70, 11)),
    ),
)


def gemini_second_request(body: dict[str, Any]) -> None:
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": QUESTION}]},
        {"role": "model", "parts": [GEMINI_CALL]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": RESULT}}}
            ],
        },
    ]
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


# --- the conversation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Vendor:
    """One vendor's provider, endpoints, scripted turns and check of the second request."""

    provider: Callable[[], LLMProvider]
    url: str
    stream_url: str
    turns: tuple[dict[str, Any], dict[str, Any]]
    streams: tuple[bytes, bytes]
    check_second_request: Callable[[dict[str, Any]], None]
    span_name: str
    otel_name: str
    tokens: tuple[int, int]
    first_text: str
    call_id: str


GEMINI_BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash-preview"
VENDORS = {
    "openai": Vendor(
        lambda: OpenAIProvider(
            ModelConfig("openai", "gpt-4o-mini"),
            api_key="sk-test-0123456789",
            base_url="https://api.openai.com/v1",
        ),
        "https://api.openai.com/v1/chat/completions",
        "https://api.openai.com/v1/chat/completions",
        OPENAI_TURNS,
        OPENAI_STREAMS,
        openai_second_request,
        "chat gpt-4o-mini",
        "openai",
        (60 + 90, 15 + 12),
        "",
        "call_abc123",
    ),
    "anthropic": Vendor(
        lambda: AnthropicProvider(
            ModelConfig("anthropic", "claude-sonnet-4-6", max_output_tokens=1024),
            api_key="sk-ant-api03-test-0123456789",
            base_url="https://api.anthropic.com",
        ),
        "https://api.anthropic.com/v1/messages",
        "https://api.anthropic.com/v1/messages",
        ANTHROPIC_TURNS,
        ANTHROPIC_STREAMS,
        anthropic_second_request,
        "chat claude-sonnet-4-6",
        "anthropic",
        (400 + 480, 50 + 14),
        "Let me check.",
        "toolu_01A09q90qw90lq917835lq9",
    ),
    "google": Vendor(
        lambda: GoogleProvider(
            ModelConfig("google", "gemini-3-flash-preview", max_output_tokens=1024),
            api_key="AIzaSyTestKey0123456789012345",
            base_url="https://generativelanguage.googleapis.com",
        ),
        f"{GEMINI_BASE}:generateContent",
        f"{GEMINI_BASE}:streamGenerateContent",
        GEMINI_TURNS,
        GEMINI_STREAMS,
        gemini_second_request,
        "chat gemini-3-flash-preview",
        "gcp.gemini",
        (40 + 70, 12 + 11),
        "",
        "gemini-resp-1-0",  # Gemini sent no id: the provider made one from the responseId
    ),
}


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("name", list(VENDORS))
async def test_a_weather_conversation_runs_the_tool_and_answers(
    name: str, streamed: bool, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    vendor = VENDORS[name]
    tracer_provider, exporter = spans
    ran: list[City] = []

    def handler(query: City) -> str:
        ran.append(query)
        return weather(query)

    stack = (
        ClientBuilder()
        .use(Tracing, tracer_provider=tracer_provider)
        .use(ToolLoop, handlers={"get_weather": handler}, tracer_provider=tracer_provider)
        .build(vendor.provider())
    )
    request = CompletionRequest([ChatMessage.user(QUESTION)], tools=[WEATHER])
    with respx.mock(assert_all_mocked=True) as router:
        if streamed:
            bodies = [
                httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
                for body in vendor.streams
            ]
            route = router.post(vendor.stream_url).mock(side_effect=bodies)
            async with stack:
                events = [event async for event in stack.stream(request)]
            end = events[-1]
            assert isinstance(end, StreamEnd)
            response = end.response
            texts = "".join(e.text for e in events if isinstance(e, TextDelta))
            assert texts == vendor.first_text + ANSWER
            deltas = [e for e in events if isinstance(e, ToolCallDelta)]
            assert deltas[0].name == "get_weather"
            assert json.loads("".join(d.arguments_delta for d in deltas)) == {"city": "Paris"}
            assert sum(isinstance(e, StreamEnd) for e in events) == 1
        else:
            bodies = [httpx.Response(200, json=body) for body in vendor.turns]
            route = router.post(vendor.url).mock(side_effect=bodies)
            async with stack:
                response = await stack.complete(request)
    assert response.content == ANSWER
    assert response.finish_reason == "stop"
    assert (response.input_tokens, response.output_tokens) == vendor.tokens
    assert ran == [City(city="Paris")]
    assert route.call_count == 2
    vendor.check_second_request(json.loads(route.calls[1].request.content))

    found = {span.name: span for span in exporter.get_finished_spans()}
    assert set(found) == {vendor.span_name, "execute_tool get_weather"}
    chat, tool = found[vendor.span_name], found["execute_tool get_weather"]
    assert tool.parent is not None
    assert tool.parent.span_id == chat.context.span_id
    tool_attributes = dict(tool.attributes or {})
    assert tool_attributes[sc.TOOL_NAME] == "get_weather"
    assert tool_attributes[sc.TOOL_CALL_ID] == vendor.call_id
    chat_attributes = dict(chat.attributes or {})
    assert chat_attributes[sc.PROVIDER_NAME] == vendor.otel_name
    assert chat_attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert chat_attributes[sc.USAGE_INPUT_TOKENS] == vendor.tokens[0]
    assert chat_attributes[sc.USAGE_OUTPUT_TOKENS] == vendor.tokens[1]
