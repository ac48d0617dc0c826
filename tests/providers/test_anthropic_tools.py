"""Tool calling on the Anthropic Messages API: request bodies from the docs, answers, streams."""

import json
from typing import Any

import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig, ReasoningPart, TextPart
from ashford_llm.errors import EmptyResponseError, InvalidRequestError, ResponseDecodeError
from ashford_llm.providers.anthropic.dialect import AnthropicDialect
from ashford_llm.types import ReasoningConfig, Tool, ToolCall, ToolCallDelta, ToolResult

CONFIG = ModelConfig("anthropic", "claude-sonnet-4-6", max_output_tokens=4096)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "The city and state"}},
    "required": ["location"],
}
WEATHER = Tool("get_weather", "Get the current weather in a given location", WEATHER_SCHEMA)
TIME = Tool("get_time", "Get the current time")
ASK = [ChatMessage.user("What's the weather like in San Francisco?")]


def body(request: CompletionRequest, *, model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    dialect = AnthropicDialect(ModelConfig("anthropic", model, max_output_tokens=4096))
    result: dict[str, Any] = json.loads(dialect.encode(request, stream=False))
    return result


def decode(message: dict[str, Any]) -> Any:
    return AnthropicDialect(CONFIG).decode(
        json.dumps(message).encode(), latency_ms=1.0, request_id=None
    )


# --- encoding ----------------------------------------------------------------------------------


def test_tools_are_written_as_the_docs_show() -> None:
    sent = body(CompletionRequest(ASK, tools=[WEATHER]))
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_SCHEMA,
        }
    ]
    assert "tool_choice" not in sent  # auto is Anthropic's default with tools


def test_a_tool_without_description_or_parameters_sends_an_empty_object_schema() -> None:
    sent = body(CompletionRequest(ASK, tools=[Tool("ping")]))
    assert sent["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]


def test_a_strict_tool_sends_strict_and_closes_its_objects() -> None:
    tool = Tool("get_weather", "Weather", WEATHER_SCHEMA, strict=True)
    sent = body(CompletionRequest(ASK, tools=[tool]))
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {**WEATHER_SCHEMA, "additionalProperties": False},
            "strict": True,
        }
    ]
    assert "additionalProperties" not in WEATHER_SCHEMA  # the tool's schema is not changed


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, None),
        ("auto", True, None),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", None, {"type": "none"}),
        ("none", False, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("get_weather", None, {"type": "tool", "name": "get_weather"}),
        (
            "get_weather",
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choice_and_parallel_flag(
    choice: str, parallel: bool | None, expected: dict[str, Any] | None
) -> None:
    request = CompletionRequest(
        ASK, tools=[WEATHER, TIME], tool_choice=choice, parallel_tool_calls=parallel
    )
    sent = body(request)
    assert sent.get("tool_choice") == expected
    assert [tool["name"] for tool in sent["tools"]] == ["get_weather", "get_time"]


def test_no_tools_sends_no_tool_fields() -> None:
    sent = body(CompletionRequest(ASK))
    assert "tools" not in sent
    assert "tool_choice" not in sent


@pytest.mark.parametrize("choice", ["required", "get_weather"])
def test_a_forced_choice_with_manual_thinking_is_refused_before_sending(choice: str) -> None:
    request = CompletionRequest(
        ASK, tools=[WEATHER], tool_choice=choice, reasoning=ReasoningConfig(budget_tokens=2000)
    )
    with pytest.raises(InvalidRequestError, match="forced tool_choice"):
        body(request)


def test_auto_choice_with_manual_thinking_is_sent() -> None:
    request = CompletionRequest(ASK, tools=[WEATHER], reasoning=ReasoningConfig(budget_tokens=2000))
    sent = body(request)
    assert sent["thinking"]["type"] == "enabled"
    assert sent["tools"][0]["name"] == "get_weather"


def test_a_forced_choice_with_adaptive_thinking_is_sent() -> None:
    request = CompletionRequest(
        ASK, tools=[WEATHER], tool_choice="required", reasoning=ReasoningConfig(effort="high")
    )
    sent = body(request, model="claude-opus-4-7")
    assert sent["thinking"]["type"] == "adaptive"
    assert sent["tool_choice"] == {"type": "any"}


def test_a_tool_round_trip_replays_the_call_and_sends_results_in_one_user_turn() -> None:
    # The docs' "handle tool calls" example, with two parallel calls and an error result.
    assistant = ChatMessage(
        "assistant",
        [
            ReasoningPart("Need both.", signature="sig_1", provider="anthropic"),
            TextPart("I'll check both cities."),
            ToolCall("toolu_01A", "get_weather", {"location": "San Francisco, CA"}),
            ToolCall("toolu_01B", "get_weather", {"location": "Nowhere"}),
        ],
    )
    messages = [
        *ASK,
        assistant,
        ChatMessage.tool_result("toolu_01A", "15 degrees"),
        ChatMessage.tool_result("toolu_01B", "city not found", is_error=True),
        ChatMessage.user("Answer briefly."),
    ]
    sent = body(CompletionRequest(messages, tools=[WEATHER]))
    assert sent["messages"] == [
        {"role": "user", "content": "What's the weather like in San Francisco?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Need both.", "signature": "sig_1"},
                {"type": "text", "text": "I'll check both cities."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01B",
                    "name": "get_weather",
                    "input": {"location": "Nowhere"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "15 degrees"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01B",
                    "content": "city not found",
                    "is_error": True,
                },
                {"type": "text", "text": "Answer briefly."},
            ],
        },
    ]


def test_results_in_one_tool_message_and_a_call_only_assistant_turn() -> None:
    messages = [
        *ASK,
        ChatMessage("assistant", [ToolCall("toolu_1", "get_time")]),
        ChatMessage("tool", [ToolResult("toolu_1", "noon"), ToolResult("toolu_2", "late")]),
    ]
    sent = body(CompletionRequest(messages, tools=[TIME]))
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "noon"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "late"},
            ],
        },
    ]


def test_a_reasoning_part_of_another_vendor_is_left_out_before_a_call() -> None:
    assistant = ChatMessage(
        "assistant",
        [
            ReasoningPart("other", signature="x", provider="openai"),
            ToolCall("toolu_1", "get_time"),
        ],
    )
    sent = body(CompletionRequest([*ASK, assistant, ChatMessage.tool_result("toolu_1", "noon")]))
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}}
    ]


# --- decoding: complete answers ----------------------------------------------------------------


def answer(blocks: list[dict[str, Any]], stop_reason: str = "tool_use") -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": blocks,
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }


def test_an_answer_with_text_and_calls_keeps_their_order() -> None:
    response = decode(
        answer(
            [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {"a": 1}},
                {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}},
            ]
        )
    )
    assert response.content == "Let me check."
    assert response.finish_reason == "tool_calls"
    assert response.parts == (
        TextPart("Let me check."),
        ToolCall("toolu_A", "get_weather", {"a": 1}),
        ToolCall("toolu_B", "get_time", {}),
    )
    assert response.tool_calls == response.parts[1:]
    assert response.reasoning_text is None


def test_an_answer_with_only_a_call_is_a_success_whatever_the_stop_reason() -> None:
    response = decode(
        answer([{"type": "tool_use", "id": "t", "name": "n", "input": {}}], stop_reason="end_turn")
    )
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == (ToolCall("t", "n", {}),)


def test_thinking_then_a_call_gives_reasoning_then_the_call() -> None:
    response = decode(
        answer(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "tool_use", "id": "t", "name": "n", "input": {"x": [1]}},
            ]
        )
    )
    assert response.parts == (
        ReasoningPart("hmm", signature="s", provider="anthropic"),
        ToolCall("t", "n", {"x": [1]}),
    )
    assert response.reasoning_text == "hmm"


def test_tool_use_stop_without_calls_or_text_is_still_empty() -> None:
    with pytest.raises(EmptyResponseError):
        decode(answer([]))


def test_a_tool_input_that_is_not_an_object_is_a_decode_error() -> None:
    with pytest.raises(ResponseDecodeError):
        decode(answer([{"type": "tool_use", "id": "t", "name": "n", "input": "oops"}]))


# --- decoding: streams -------------------------------------------------------------------------


def event(kind: str, **fields: Any) -> tuple[str, str]:
    return kind, json.dumps({"type": kind, **fields})


def tool_stream(*pieces: str, start_input: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """The docs' stream: text, then a tool_use block whose input comes in pieces."""
    events = [
        event(
            "message_start",
            message={"id": "msg_s", "model": "claude-sonnet-4-6", "usage": {"input_tokens": 5}},
        ),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Okay."}),
        event("content_block_stop", index=0),
        event(
            "content_block_start",
            index=1,
            content_block={
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": start_input if start_input is not None else {},
            },
        ),
    ]
    for piece in pieces:
        delta = {"type": "input_json_delta", "partial_json": piece}
        events.append(event("content_block_delta", index=1, delta=delta))
    events += [
        event("content_block_stop", index=1),
        event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 41}),
        event("message_stop"),
    ]
    return events


def run(events: list[tuple[str, str]]) -> tuple[list[Any], Any]:
    decoder = AnthropicDialect(CONFIG).stream_decoder()
    deltas: list[Any] = []
    for name, data in events:
        deltas.extend(decoder.feed(name, data))
    return deltas, decoder.response(1.0, None)


def test_a_streamed_call_yields_one_delta_per_fragment_and_the_assembled_call() -> None:
    deltas, response = run(tool_stream("", '{"location": "San', ' Francisco, CA"}'))
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert calls == [
        ToolCallDelta(0, id="toolu_01", name="get_weather"),
        ToolCallDelta(0, arguments_delta='{"location": "San'),
        ToolCallDelta(0, arguments_delta=' Francisco, CA"}'),
    ]
    assert response.parts == (
        TextPart("Okay."),
        ToolCall("toolu_01", "get_weather", {"location": "San Francisco, CA"}),
    )
    assert response.finish_reason == "tool_calls"
    assert response.content == "Okay."


def test_a_streamed_call_without_pieces_has_empty_arguments() -> None:
    _, response = run(tool_stream())
    assert response.tool_calls == (ToolCall("toolu_01", "get_weather", {}),)


def test_a_start_block_with_input_is_the_first_fragment() -> None:
    deltas, response = run(tool_stream(start_input={"location": "Oslo"}))
    assert [d for d in deltas if isinstance(d, ToolCallDelta)] == [
        ToolCallDelta(0, id="toolu_01", name="get_weather", arguments_delta='{"location":"Oslo"}')
    ]
    assert response.tool_calls == (ToolCall("toolu_01", "get_weather", {"location": "Oslo"}),)


def test_streamed_arguments_that_are_not_json_raise_a_retryable_decode_error() -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        run(tool_stream('{"location": "San'))
    assert caught.value.retryable
    assert caught.value.body_excerpt == '{"location": "San'


def test_two_streamed_calls_get_indexes_in_answer_order() -> None:
    events = tool_stream('{"location": "A"}')[:-3]
    events += [
        event(
            "content_block_start",
            index=2,
            content_block={"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}},
        ),
        event(
            "content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": "{}"}
        ),
        event("content_block_stop", index=2),
        event("content_block_start", index=3, content_block={"type": "text", "text": ""}),
        event("content_block_delta", index=3, delta={"type": "text_delta", "text": " Done."}),
        event("message_delta", delta={"stop_reason": "tool_use"}),
        event("message_stop"),
    ]
    deltas, response = run(events)
    assert [(d.index, d.id) for d in deltas if isinstance(d, ToolCallDelta)] == [
        (0, "toolu_01"),
        (0, None),
        (1, "toolu_02"),
        (1, None),
    ]
    assert response.parts == (
        TextPart("Okay."),
        ToolCall("toolu_01", "get_weather", {"location": "A"}),
        ToolCall("toolu_02", "get_time", {}),
        TextPart(" Done."),
    )
    assert response.content == "Okay. Done."


def test_results_after_user_text_are_moved_to_the_start_of_the_turn() -> None:
    # "Messages following tool_use blocks must begin with a matching number of tool_result
    # blocks" (Anthropic's 400), so text sent before the results goes after them.
    messages = [
        *ASK,
        ChatMessage("assistant", [ToolCall("toolu_1", "get_time"), ToolCall("toolu_2", "x")]),
        ChatMessage.user("Here you go."),
        ChatMessage.tool_result("toolu_1", "noon"),
        ChatMessage.tool_result("toolu_2", "done"),
    ]
    sent = body(CompletionRequest(messages))
    assert [block["type"] for block in sent["messages"][2]["content"]] == [
        "tool_result",
        "tool_result",
        "text",
    ]
    assert [block.get("tool_use_id") for block in sent["messages"][2]["content"]] == [
        "toolu_1",
        "toolu_2",
        None,
    ]


def test_a_tool_use_block_without_an_id_is_a_decode_error() -> None:
    with pytest.raises(ResponseDecodeError, match="without its id or name"):
        decode(answer([{"type": "tool_use", "name": "n", "input": {}}]))


def test_a_streamed_tool_use_without_a_name_is_a_decode_error() -> None:
    events = tool_stream()
    start = json.loads(events[4][1])
    del start["content_block"]["name"]
    events[4] = ("content_block_start", json.dumps(start))
    with pytest.raises(ResponseDecodeError, match="without its id or name"):
        run(events)
