"""OpenAI Chat Completions tool calling: request bodies from the API reference, answers, streams."""

import json
from typing import Any

import httpx
import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    InvalidRequestError,
    ReasoningPart,
    ResponseDecodeError,
    StreamEnd,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from tests.providers.test_openai import DONE, USAGE_CHUNK, collect, provider_for, sent_body, sse

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = Tool("get_weather", "Current weather", WEATHER_SCHEMA)
TIME = Tool("get_time", parameters={"type": "object", "properties": {}})
ASK = [ChatMessage.user("Weather in Paris?")]


def ask(**fields: Any) -> CompletionRequest:
    return CompletionRequest(ASK, tools=[WEATHER, TIME], **fields)


def answer(message: dict[str, Any], finish: str = "tool_calls") -> Any:
    body = {
        "id": "chatcmpl-t1",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 80, "completion_tokens": 17},
    }
    return lambda request: httpx.Response(200, json=body)


def function_call(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def call_chunk(*fragments: dict[str, Any], content: str | None = None) -> str:
    delta: dict[str, Any] = {"tool_calls": list(fragments)} if fragments else {}
    if content is not None:
        delta["content"] = content
    body = {"id": "chatcmpl-s1", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n"


def finish_chunk(reason: str) -> str:
    body = {"id": "chatcmpl-s1", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    return f"data: {json.dumps(body)}\n\n"


# --- request bodies -------------------------------------------------------------------------


async def test_tools_are_sent_as_function_tools_and_auto_is_left_to_the_default() -> None:
    body = await sent_body(ask())
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": WEATHER_SCHEMA,
            },
        },
        {
            "type": "function",
            "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("none", "none"),
        ("required", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
async def test_tool_choice_is_sent_as_the_reference_spells_it(choice: str, sent: Any) -> None:
    body = await sent_body(ask(tool_choice=choice))
    assert body["tool_choice"] == sent


@pytest.mark.parametrize("parallel", [True, False])
async def test_parallel_tool_calls_is_a_top_level_flag(parallel: bool) -> None:
    body = await sent_body(ask(parallel_tool_calls=parallel), stream=True)
    assert body["parallel_tool_calls"] is parallel


async def test_without_tools_no_tool_field_is_sent() -> None:
    # OpenAI refuses tool_choice and parallel_tool_calls without tools.
    request = CompletionRequest(ASK, tool_choice="none", parallel_tool_calls=False)
    body = await sent_body(request)
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & body.keys()


async def test_a_strict_tool_sends_strict_and_a_closed_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "when": {
                "type": "object",
                "properties": {"day": {"type": ["string", "null"]}},
                "required": ["day"],
            },
            "tags": {"type": "array", "items": {"type": "object", "properties": {}}},
        },
        "required": ["city", "when", "tags"],
    }
    body = await sent_body(
        CompletionRequest(ASK, tools=[Tool("f", parameters=schema, strict=True)])
    )
    function = body["tools"][0]["function"]
    assert function["strict"] is True
    sent = function["parameters"]
    assert sent["additionalProperties"] is False
    assert sent["properties"]["when"]["additionalProperties"] is False
    assert sent["properties"]["tags"]["items"] == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert "additionalProperties" not in schema  # the caller's schema is left as it was


async def test_a_strict_tool_keeps_an_explicit_additional_properties() -> None:
    body = await sent_body(
        CompletionRequest(ASK, tools=[Tool("w", parameters=WEATHER_SCHEMA, strict=True)])
    )
    assert body["tools"][0]["function"]["parameters"] == WEATHER_SCHEMA


class Booking(msgspec.Struct):
    city: str
    nights: int


async def test_a_strict_tool_described_by_a_struct_is_closed() -> None:
    body = await sent_body(
        CompletionRequest(ASK, tools=[Tool("book", parameters=Booking, strict=True)])
    )
    parameters = body["tools"][0]["function"]["parameters"]
    assert parameters["additionalProperties"] is False
    assert sorted(parameters["required"]) == ["city", "nights"]


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "object", "properties": {"city": {"type": "string"}}}, "parameters"),
        (
            {
                "type": "object",
                "properties": {
                    "when": {"type": "object", "properties": {"day": {"type": "string"}}}
                },
                "required": ["when"],
            },
            "parameters.when",
        ),
    ],
)
async def test_a_strict_tool_with_an_optional_property_is_refused_before_sending(
    schema: dict[str, Any], where: str
) -> None:
    seen: list[httpx.Request] = []
    request = CompletionRequest(ASK, tools=[Tool("f", parameters=schema, strict=True)])
    async with provider_for(answer({"content": "x"}), seen) as provider:
        with pytest.raises(InvalidRequestError, match=f"{where} leaves out") as caught:
            await provider.complete(request)
    assert "strict=False" in str(caught.value)
    assert not seen


async def test_the_same_optional_property_is_sent_when_the_tool_is_not_strict() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = await sent_body(CompletionRequest(ASK, tools=[Tool("f", parameters=schema)]))
    assert body["tools"][0]["function"] == {"name": "f", "parameters": schema}


async def test_a_history_replays_the_calls_and_sends_one_tool_message_per_result() -> None:
    history = [
        ChatMessage.user("Weather in Paris and Oslo?"),
        ChatMessage.assistant(
            ReasoningPart("thinking"),
            ToolCall("call_a1", "get_weather", {"city": "Paris"}),
            ToolCall("call_b2", "get_weather", {"city": "Oslo"}),
        ),
        ChatMessage.tool_result("call_a1", '{"temp_c":18}'),
        ChatMessage.tool_result("call_b2", "city not found", is_error=True),
        ChatMessage.assistant("Paris is 18 C.", ToolCall("call_c3", "get_time", {})),
        ChatMessage.tool_result("call_c3", "12:00"),
    ]
    body = await sent_body(CompletionRequest(history, tools=[WEATHER, TIME]))
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                function_call("call_a1", "get_weather", '{"city":"Paris"}'),
                function_call("call_b2", "get_weather", '{"city":"Oslo"}'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_a1", "content": '{"temp_c":18}'},
        {"role": "tool", "tool_call_id": "call_b2", "content": "Error: city not found"},
        {
            "role": "assistant",
            "content": "Paris is 18 C.",
            "tool_calls": [function_call("call_c3", "get_time", "{}")],
        },
        {"role": "tool", "tool_call_id": "call_c3", "content": "12:00"},
    ]


async def test_an_assistant_turn_without_calls_is_still_plain_text() -> None:
    history = [ChatMessage.user("Hi"), ChatMessage.assistant(TextPart("Hello"), ReasoningPart("r"))]
    body = await sent_body(CompletionRequest(history))
    assert body["messages"][1] == {"role": "assistant", "content": "Hello"}


# --- complete answers -----------------------------------------------------------------------


async def test_calls_without_text_are_a_successful_answer() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            function_call("call_a1", "get_weather", '{"city":"Paris"}'),
            function_call("call_b2", "get_weather", '{"city": "Oslo"}'),
        ],
    }
    async with provider_for(answer(message)) as provider:
        response = await provider.complete(ask())
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == (
        ToolCall("call_a1", "get_weather", {"city": "Paris"}),
        ToolCall("call_b2", "get_weather", {"city": "Oslo"}),
    )
    assert response.parts == response.tool_calls


async def test_text_comes_before_the_calls_and_forced_stop_reads_as_tool_calls() -> None:
    # OpenAI says "stop" when tool_choice forced a named function.
    message = {"content": "Let me check.", "tool_calls": [function_call("c1", "get_time", "")]}
    async with provider_for(answer(message, finish="stop")) as provider:
        response = await provider.complete(ask(tool_choice="get_time"))
    assert response.parts == (TextPart("Let me check."), ToolCall("c1", "get_time", {}))
    assert response.content == "Let me check."
    assert response.finish_reason == "tool_calls"


async def test_text_only_answer_to_a_request_with_tools_keeps_its_finish_reason() -> None:
    async with provider_for(answer({"content": "Sunny."}, finish="stop")) as provider:
        response = await provider.complete(ask())
    assert response.tool_calls == ()
    assert response.finish_reason == "stop"


async def test_arguments_that_are_not_json_raise_a_retryable_error_keeping_them() -> None:
    message = {"content": None, "tool_calls": [function_call("c1", "get_weather", '{"city": "Pa')]}
    async with provider_for(answer(message)) as provider:
        with pytest.raises(ResponseDecodeError) as caught:
            await provider.complete(ask())
    assert caught.value.retryable
    assert caught.value.body_excerpt == '{"city": "Pa'
    assert "get_weather" in str(caught.value)


async def test_a_call_without_an_id_gets_a_generated_one_and_custom_calls_are_skipped() -> None:
    custom = {"id": "c0", "type": "custom", "custom": {"name": "grammar", "input": "free text"}}
    message = {"content": None, "tool_calls": [custom, function_call(None, "get_time", "{}")]}
    async with provider_for(answer(message)) as provider:
        response = await provider.complete(ask())
    (call,) = response.tool_calls
    assert call.name == "get_time"
    assert call.id.startswith("call_")
    assert len(call.id) > len("call_")


async def test_a_call_without_a_name_is_a_decode_error() -> None:
    message = {"content": None, "tool_calls": [{"id": "c1", "function": {"arguments": "{}"}}]}
    async with provider_for(answer(message)) as provider:
        with pytest.raises(ResponseDecodeError, match="without a function name"):
            await provider.complete(ask())


# --- streams --------------------------------------------------------------------------------

# The reference's stream: id, type and name on the first fragment, then argument pieces.
REFERENCE_STREAM = (
    call_chunk(
        {
            "index": 0,
            "id": "call_a1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    )
    + call_chunk({"index": 0, "function": {"arguments": '{"city":'}})
    + call_chunk({"index": 0, "function": {"arguments": '"Paris"}'}})
    + finish_chunk("tool_calls")
    + USAGE_CHUNK
    + DONE
)


async def test_stream_gives_one_delta_per_fragment_and_the_assembled_call_at_the_end() -> None:
    async with provider_for(lambda request: sse(REFERENCE_STREAM)) as provider:
        events = await collect(provider, ask())
    assert events[:-1] == [
        ToolCallDelta(0, "call_a1", "get_weather", ""),
        ToolCallDelta(0, arguments_delta='{"city":'),
        ToolCallDelta(0, arguments_delta='"Paris"}'),
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.tool_calls == (ToolCall("call_a1", "get_weather", {"city": "Paris"}),)
    assert end.response.content == ""
    assert end.response.finish_reason == "tool_calls"
    assert end.response.input_tokens == 12


async def test_stream_interleaved_parallel_calls_after_text_keep_their_order() -> None:
    stream = (
        call_chunk(content="Checking.")
        + call_chunk(
            {"index": 1, "id": "call_b", "function": {"name": "get_time", "arguments": "{"}}
        )
        + call_chunk({"index": 0, "id": "call_a", "function": {"name": "get_weather"}})
        + call_chunk(
            {"index": 1, "function": {"arguments": "}"}},
            {"index": 0, "function": {"arguments": '{"city":"Oslo"}'}},
        )
        + finish_chunk("stop")
        + DONE
    )
    async with provider_for(lambda request: sse(stream)) as provider:
        events = await collect(provider, ask())
    assert events[0] == TextDelta("Checking.")
    assert [e for e in events if isinstance(e, ToolCallDelta)] == [
        ToolCallDelta(1, "call_b", "get_time", "{"),
        ToolCallDelta(0, "call_a", "get_weather", ""),
        ToolCallDelta(1, arguments_delta="}"),
        ToolCallDelta(0, arguments_delta='{"city":"Oslo"}'),
    ]
    response = events[-1].response
    assert response.parts == (
        TextPart("Checking."),
        ToolCall("call_a", "get_weather", {"city": "Oslo"}),
        ToolCall("call_b", "get_time", {}),
    )
    assert response.finish_reason == "tool_calls"


async def test_stream_repeated_ids_are_not_sent_again_and_whole_calls_in_one_fragment_work() -> (
    None
):
    # Some OpenAI-compatible servers repeat the id on every fragment, or send a call whole.
    stream = (
        call_chunk({"index": 0, "id": "c1", "function": {"name": "get_time", "arguments": "{}"}})
        + call_chunk({"index": 1, "id": "c2", "function": {"name": "get_weather", "arguments": ""}})
        + call_chunk({"index": 1, "id": "c2", "function": {"arguments": '{"city":"Rome"}'}})
        + finish_chunk("tool_calls")
        + DONE
    )
    async with provider_for(lambda request: sse(stream)) as provider:
        events = await collect(provider, ask())
    assert events[:-1] == [
        ToolCallDelta(0, "c1", "get_time", "{}"),
        ToolCallDelta(1, "c2", "get_weather", ""),
        ToolCallDelta(1, arguments_delta='{"city":"Rome"}'),
    ]
    assert events[-1].response.tool_calls == (
        ToolCall("c1", "get_time", {}),
        ToolCall("c2", "get_weather", {"city": "Rome"}),
    )


async def test_stream_skips_every_fragment_of_a_custom_tool_call() -> None:
    custom = {"index": 0, "id": "c0", "type": "custom", "custom": {"name": "g", "input": ""}}
    stream = (
        call_chunk(custom)
        + call_chunk({"index": 0, "custom": {"input": "free text"}})
        + call_chunk({"index": 1, "id": "c1", "function": {"name": "get_time", "arguments": ""}})
        + finish_chunk("tool_calls")
        + DONE
    )
    async with provider_for(lambda request: sse(stream)) as provider:
        events = await collect(provider, ask())
    assert events[:-1] == [ToolCallDelta(1, "c1", "get_time", "")]
    assert events[-1].response.tool_calls == (ToolCall("c1", "get_time", {}),)


async def test_stream_arguments_that_are_not_json_raise_at_the_end() -> None:
    stream = (
        call_chunk({"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": "{"}})
        + finish_chunk("tool_calls")
        + DONE
    )
    async with provider_for(lambda request: sse(stream)) as provider:
        with pytest.raises(ResponseDecodeError) as caught:
            await collect(provider, ask())
    assert caught.value.retryable
    assert caught.value.body_excerpt == "{"


async def test_a_decoded_answer_sent_back_replays_the_same_calls() -> None:
    async with provider_for(lambda request: sse(REFERENCE_STREAM)) as provider:
        events = await collect(provider, ask())
    response = events[-1].response
    history = [
        *ASK,
        ChatMessage.assistant(*response.parts),
        ChatMessage.tool_result("call_a1", "18"),
    ]
    body = await sent_body(CompletionRequest(history, tools=[WEATHER]))
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [function_call("call_a1", "get_weather", '{"city":"Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call_a1", "content": "18"},
    ]
