"""Gemini tool calling: request bodies (tools, toolConfig, history) and decoded calls.

Literal bodies follow the Gemini function-calling docs and python-genai's types
(`FunctionDeclaration.parameters_json_schema`, `FunctionCallingConfig`, `FunctionCall`,
`FunctionResponse`; results as the SDK's automatic function calling sends them).
"""

import json
from typing import Any

import httpx
import msgspec
import pytest
import respx

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    ModelConfig,
    ReasoningPart,
    StreamEnd,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
)
from ashford_llm.errors import InvalidRequestError, ResponseDecodeError
from ashford_llm.providers import GoogleProvider

BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-flash-preview"
URL = f"{BASE}:generateContent"
STREAM_URL = f"{BASE}:streamGenerateContent"
CONFIG = ModelConfig("google", "gemini-3-flash-preview", max_output_tokens=300)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER = Tool("get_weather", "Current weather", WEATHER_SCHEMA)
TIME = Tool("get_time", parameters={"type": "object", "properties": {}})
ASK = [ChatMessage.user("Weather in Paris and Oslo?")]
SIG = "CiQBcsjafGx0aG91Z2h0LXNpZ25hdHVyZQ=="


class City(msgspec.Struct):
    city: str
    days: int = 1


def provider() -> GoogleProvider:
    return GoogleProvider(CONFIG, api_key="AIzaSyTestKey")


def answer(*parts: dict[str, Any], finish: str | None = "STOP", **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish is not None:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 12},
        "modelVersion": "gemini-3-flash-preview",
        "responseId": "resp-1",
    }
    body.update(extra)
    return body


def call(name: str, args: Any = None, **extra: Any) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    if args is not None:
        function["args"] = args
    if "id" in extra:
        function["id"] = extra.pop("id")
    return {"functionCall": function, **extra}


async def body_of(request: CompletionRequest) -> dict[str, Any]:
    with respx.mock:
        route = respx.post(URL).mock(return_value=httpx.Response(200, json=answer({"text": "ok"})))
        async with provider() as p:
            await p.complete(request)
    sent: dict[str, Any] = json.loads(route.calls[0].request.content)
    return sent


async def complete(body: dict[str, Any]) -> Any:
    with respx.mock:
        respx.post(URL).mock(return_value=httpx.Response(200, json=body))
        async with provider() as p:
            return await p.complete(CompletionRequest(ASK, tools=[WEATHER]))


async def stream(*chunks: dict[str, Any]) -> list[Any]:
    content = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()
    with respx.mock:
        respx.post(STREAM_URL).mock(
            return_value=httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=content
            )
        )
        async with provider() as p:
            return [e async for e in p.stream(CompletionRequest(ASK, tools=[WEATHER]))]


# --- request bodies ------------------------------------------------------------------------


async def test_tools_are_function_declarations_with_a_json_schema() -> None:
    body = await body_of(CompletionRequest(ASK, tools=[WEATHER, TIME]))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parametersJsonSchema": WEATHER_SCHEMA,
                },
                {"name": "get_time", "parametersJsonSchema": {"type": "object", "properties": {}}},
            ]
        }
    ]
    assert "toolConfig" not in body  # "auto" is Gemini's default mode


async def test_a_typed_tool_sends_its_generated_schema() -> None:
    tool = Tool("forecast", "Forecast", City)
    body = await body_of(CompletionRequest(ASK, tools=[tool]))
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["parametersJsonSchema"] == tool.schema
    assert declaration["parametersJsonSchema"]["required"] == ["city"]


async def test_no_tools_sends_neither_tools_nor_tool_config() -> None:
    body = await body_of(CompletionRequest(ASK, tool_choice="none"))
    assert "tools" not in body
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_time", {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
    ],
)
async def test_tool_choice_is_the_function_calling_mode(
    choice: str, config: dict[str, Any]
) -> None:
    body = await body_of(CompletionRequest(ASK, tools=[WEATHER, TIME], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": config}


async def test_strict_and_parallel_tool_calls_have_no_gemini_field() -> None:
    plain = await body_of(CompletionRequest(ASK, tools=[WEATHER]))
    strict = Tool("get_weather", "Current weather", WEATHER_SCHEMA, strict=True)
    for parallel in (True, False):
        flagged = await body_of(
            CompletionRequest(ASK, tools=[strict], parallel_tool_calls=parallel)
        )
        assert flagged == plain


async def test_a_function_name_gemini_refuses_is_rejected_before_sending() -> None:
    with respx.mock:
        route = respx.post(URL)
        async with provider() as p:
            with pytest.raises(InvalidRequestError, match="start with a letter"):
                await p.complete(CompletionRequest(ASK, tools=[Tool("1lookup")]))
    assert not route.called


async def test_a_history_replays_calls_with_signatures_and_merges_results() -> None:
    messages = [
        *ASK,
        ChatMessage.assistant(
            TextPart("Checking."),
            ToolCall("gemini-resp-1-0", "get_weather", {"city": "Paris"}, SIG, "google"),
            ToolCall("gemini-resp-1-1", "get_weather", {"city": "Oslo"}, provider="google"),
        ),
        ChatMessage.tool_result("gemini-resp-1-0", '{"temp_c": 18}'),
        ChatMessage.tool_result("gemini-resp-1-1", "city not found", is_error=True),
    ]
    body = await body_of(CompletionRequest(messages, tools=[WEATHER]))
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Oslo?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": SIG,
                },
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"result": '{"temp_c": 18}'},
                    }
                },
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"error": "city not found"},
                    }
                },
            ],
        },
    ]


async def test_ids_gemini_sent_go_back_on_the_call_and_its_response() -> None:
    messages = [
        *ASK,
        ChatMessage.assistant(ToolCall("a1b2", "get_weather", {"city": "Paris"})),
        ChatMessage.tool_result("a1b2", "18C"),
    ]
    body = await body_of(CompletionRequest(messages, tools=[WEATHER]))
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "a1b2"}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"result": "18C"},
                        "id": "a1b2",
                    }
                }
            ],
        },
    ]


async def test_another_providers_call_signature_is_not_sent() -> None:
    messages = [
        *ASK,
        ChatMessage.assistant(ToolCall("toolu_1", "get_weather", {}, "sig", "anthropic")),
        ChatMessage.tool_result("toolu_1", "18C"),
    ]
    body = await body_of(CompletionRequest(messages, tools=[WEATHER]))
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {}, "id": "toolu_1"}}
    ]


async def test_a_result_without_a_matching_call_needs_its_name() -> None:
    orphan = [*ASK, ChatMessage.tool_result("x9", "18C")]
    with respx.mock:
        route = respx.post(URL)
        async with provider() as p:
            with pytest.raises(InvalidRequestError, match="'x9'"):
                await p.complete(CompletionRequest(orphan, tools=[WEATHER]))
    assert not route.called
    named = [*ASK, ChatMessage.tool_result("x9", "18C", name="get_weather")]
    body = await body_of(CompletionRequest(named, tools=[WEATHER]))
    # A result after a user message shares its (user) turn.
    assert body["contents"][0]["parts"][1]["functionResponse"]["name"] == "get_weather"


async def test_an_answer_sent_back_replays_the_model_turn_exactly() -> None:
    parts = [
        {"text": "Let me check.", "thoughtSignature": "textsig"},
        call("get_weather", {"city": "Paris"}, thoughtSignature=SIG),
        call("get_weather", {"city": "Oslo"}),
    ]
    response = await complete(answer(*parts))
    history = [*ASK, ChatMessage.assistant(*response.parts)]
    history += [ChatMessage.tool_result(c.id, "18C") for c in response.tool_calls]
    body = await body_of(CompletionRequest(history, tools=[WEATHER]))
    assert body["contents"][1] == {"role": "model", "parts": parts}
    assert [p["functionResponse"]["name"] for p in body["contents"][2]["parts"]] == [
        "get_weather",
        "get_weather",
    ]


# --- decoding ------------------------------------------------------------------------------


async def test_a_call_only_answer_is_a_tool_calls_success() -> None:
    response = await complete(answer(call("get_weather", {"city": "Paris"}, thoughtSignature=SIG)))
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == (
        ToolCall("gemini-resp-1-0", "get_weather", {"city": "Paris"}, SIG, "google"),
    )
    assert response.reasoning_text is None


async def test_parallel_calls_keep_order_and_get_positional_ids() -> None:
    response = await complete(
        answer(
            call("get_weather", {"city": "Paris"}, thoughtSignature=SIG),
            call("get_weather", {"city": "Oslo"}),
        )
    )
    assert [(c.id, c.arguments, c.signature) for c in response.tool_calls] == [
        ("gemini-resp-1-0", {"city": "Paris"}, SIG),
        ("gemini-resp-1-1", {"city": "Oslo"}, None),
    ]


async def test_generated_ids_are_stable_per_answer_and_differ_between_answers() -> None:
    body = answer(call("get_weather", {"city": "Paris"}))
    first = await complete(body)
    again = await complete(body)
    other = await complete({**body, "responseId": "resp-2"})
    assert first.tool_calls[0].id == again.tool_calls[0].id == "gemini-resp-1-0"
    assert other.tool_calls[0].id == "gemini-resp-2-0"
    del body["responseId"]
    nameless = await complete(body)
    assert nameless.tool_calls[0].id == "gemini-get_weather-0"


async def test_text_then_calls_keep_answer_order() -> None:
    response = await complete(
        answer({"text": "Checking both."}, call("get_weather", {"city": "Oslo"}, id="c3d4"))
    )
    assert response.content == "Checking both."
    assert response.parts == (
        TextPart("Checking both."),
        ToolCall("c3d4", "get_weather", {"city": "Oslo"}, provider="google"),
    )
    assert response.finish_reason == "tool_calls"


async def test_a_call_without_args_has_empty_arguments() -> None:
    response = await complete(answer(call("get_time")))
    assert response.tool_calls[0].arguments == {}


async def test_a_text_answer_offered_tools_stays_a_stop() -> None:
    response = await complete(answer({"text": "No need."}))
    assert response.finish_reason == "stop"
    assert response.tool_calls == ()


@pytest.mark.parametrize("args", ["Paris", [1, 2], 3])
async def test_arguments_that_are_not_an_object_are_a_retryable_decode_error(args: Any) -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        await complete(answer(call("get_weather", args)))
    assert caught.value.retryable
    assert caught.value.body_excerpt == json.dumps(args, separators=(",", ":"))  # as sent
    assert "get_weather" in str(caught.value)


async def test_a_call_without_a_name_is_a_decode_error() -> None:
    with pytest.raises(ResponseDecodeError, match="without a name"):
        await complete(answer({"functionCall": {"args": {}}}))


async def test_a_stream_gives_one_delta_per_whole_call_and_assembles_them() -> None:
    events = await stream(
        answer({"text": "Checking"}, finish=None),
        answer(
            call("get_weather", {"city": "Paris"}, thoughtSignature=SIG),
            call("get_weather", {"city": "Oslo"}, id="c3d4"),
            finish=None,
        ),
        answer({"text": ""}),
    )
    assert events[:3] == [
        TextDelta("Checking"),
        ToolCallDelta(
            0, "gemini-resp-1-0", "get_weather", '{"city": "Paris"}'
        ),  # the vendor's JSON text
        ToolCallDelta(1, "c3d4", "get_weather", '{"city": "Oslo"}'),
    ]
    end = events[3]
    assert isinstance(end, StreamEnd)
    assert len(events) == 4
    assert end.response.finish_reason == "tool_calls"
    assert end.response.content == "Checking"
    assert end.response.tool_calls == (
        ToolCall("gemini-resp-1-0", "get_weather", {"city": "Paris"}, SIG, "google"),
        ToolCall("c3d4", "get_weather", {"city": "Oslo"}, provider="google"),
    )


async def test_a_streamed_call_with_bad_arguments_is_a_retryable_decode_error() -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        await stream(answer(call("get_weather", "Paris")))
    assert caught.value.retryable


async def test_a_text_signature_before_a_call_stays_a_reasoning_part() -> None:
    response = await complete(
        answer({"text": "Hm.", "thoughtSignature": "t"}, call("get_weather", {"city": "X"}))
    )
    assert response.parts[:2] == (
        ReasoningPart("", signature="t", provider="google"),
        TextPart("Hm."),
    )
    assert type(response.parts[2]) is ToolCall


async def test_a_signature_kept_as_a_text_less_reasoning_part_goes_on_the_next_call() -> None:
    messages = [
        *ASK,
        ChatMessage.assistant(
            ReasoningPart("", signature="old", provider="google"),
            ToolCall("a1", "get_weather", {}, provider="google"),
            ReasoningPart("", signature="pending", provider="google"),
            ToolCall("b2", "get_weather", {}, SIG, "google"),
        ),
    ]
    body = await body_of(CompletionRequest(messages, tools=[WEATHER]))
    assert body["contents"][1]["parts"] == [
        {
            "functionCall": {"name": "get_weather", "args": {}, "id": "a1"},
            "thoughtSignature": "old",
        },
        {"text": "", "thoughtSignature": "pending"},
        {"functionCall": {"name": "get_weather", "args": {}, "id": "b2"}, "thoughtSignature": SIG},
    ]
