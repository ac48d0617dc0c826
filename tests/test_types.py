from pathlib import Path
from typing import Any

import msgspec
import pytest

from ashford_llm import (
    CachePoint,
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    ImagePart,
    ReasoningConfig,
    ReasoningPart,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
)


def make_response(**overrides: object) -> CompletionResponse:
    fields: dict[str, object] = {
        "content": "hello",
        "model": "gpt-4o-mini",
        "input_tokens": 3,
        "output_tokens": 1,
        "latency_ms": 12.5,
        "finish_reason": "stop",
        "provider": "openai",
    }
    fields.update(overrides)
    return CompletionResponse(**fields)  # type: ignore[arg-type]


def test_message_constructors_set_roles() -> None:
    assert ChatMessage.system("s") == ChatMessage("system", "s")
    assert ChatMessage.user("u").role == "user"
    assert ChatMessage.assistant("a").role == "assistant"


@pytest.mark.parametrize("role", ["function", "developer", "", "USER"])
def test_message_rejects_unknown_role(role: str) -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        ChatMessage(role, "hi")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "content must be a str"),
        (3, "content must be a str"),
        (b"bytes", "content must be a str"),
        (["a"], r"content\[0\] must be a part"),
    ],
)
def test_message_rejects_content_that_is_not_text_or_parts(content: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ChatMessage("user", content)  # type: ignore[arg-type]


def test_message_decoding_validates_too() -> None:
    with pytest.raises(msgspec.ValidationError, match="role"):
        msgspec.json.decode(b'{"role": "robot", "content": "x"}', type=ChatMessage)


def test_request_rejects_empty_messages() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        CompletionRequest([])


def test_request_rejects_non_message_items() -> None:
    with pytest.raises(TypeError, match=r"messages\[1\] must be a ChatMessage"):
        CompletionRequest([ChatMessage.user("a"), {"role": "user", "content": "b"}])  # type: ignore[list-item]


@pytest.mark.parametrize("temperature", [-0.1, 2.5, float("nan"), True])
def test_request_rejects_bad_temperature(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        CompletionRequest([ChatMessage.user("a")], temperature=temperature)


@pytest.mark.parametrize("max_tokens", [0, -5, 1.5, True])
def test_request_rejects_bad_max_tokens(max_tokens: int) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        CompletionRequest([ChatMessage.user("a")], max_tokens=max_tokens)


def test_request_stores_messages_as_tuple() -> None:
    request = CompletionRequest([ChatMessage.user("a")], stop=["END"])
    assert request.messages == (ChatMessage.user("a"),)
    assert request.stop == ("END",)


def test_request_wants_json_with_mode_or_schema() -> None:
    messages = [ChatMessage.user("a")]
    assert not CompletionRequest(messages).wants_json
    assert CompletionRequest(messages, json_mode=True).wants_json
    assert CompletionRequest(messages, json_schema={"type": "object"}).wants_json


def test_response_rejects_unknown_finish_reason() -> None:
    with pytest.raises(ValueError, match="finish_reason"):
        make_response(finish_reason="end_turn")


@pytest.mark.parametrize(
    "value",
    [
        ChatMessage.user("hé ✓"),
        CompletionRequest(
            [ChatMessage.system("s"), ChatMessage.user("u")],
            temperature=0.2,
            max_tokens=10,
            json_mode=True,
            json_schema={"type": "object"},
            stop=("x",),
        ),
        make_response(response_id="r1", request_id="q1", cached_input_tokens=2, attempts=3),
    ],
)
def test_types_round_trip_through_json(value: object) -> None:
    encoded = msgspec.json.encode(value)
    assert msgspec.json.decode(encoded, type=type(value)) == value


def test_stream_events_round_trip_as_tagged_union() -> None:
    events: list[StreamEvent] = [TextDelta("he"), TextDelta("llo"), StreamEnd(make_response())]
    encoded = msgspec.json.encode(events)
    assert msgspec.json.decode(encoded, type=list[StreamEvent]) == events
    assert b'"type":"TextDelta"' in encoded


def test_values_are_frozen() -> None:
    message = ChatMessage.user("a")
    with pytest.raises(AttributeError):
        message.content = "b"  # type: ignore[misc]


def test_a_request_is_immutable_but_with_a_schema_not_hashable() -> None:
    request = CompletionRequest(messages=[ChatMessage.user("a")], stop=["x"])
    assert isinstance(request.messages, tuple)
    assert isinstance(request.stop, tuple)
    with pytest.raises(AttributeError):
        request.max_tokens = 5  # type: ignore[misc]
    assert hash(request) == hash(CompletionRequest(messages=(ChatMessage.user("a"),), stop=("x",)))
    with_schema = CompletionRequest(
        messages=(ChatMessage.user("a"),), json_schema={"type": "object"}
    )
    with pytest.raises(TypeError):
        hash(with_schema)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def test_a_user_message_holds_text_and_parts_and_joins_its_text() -> None:
    image = ImagePart(PNG)
    message = ChatMessage.user("Classify this", image, "please")
    assert message.content == (TextPart("Classify this"), image, TextPart("please"))
    assert message.text == "Classify thisplease"
    assert ChatMessage.user("just text").content == "just text"
    assert ChatMessage.user("just text").parts == (TextPart("just text"),)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    ],
)
def test_an_image_guesses_its_media_type_from_its_bytes(data: bytes, media_type: str) -> None:
    assert ImagePart(data).media_type == media_type


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({}, ValueError),
        ({"data": PNG, "url": "https://x/a.png"}, ValueError),
        ({"data": "not bytes"}, TypeError),
        ({"data": b""}, ValueError),
        ({"url": " "}, ValueError),
        ({"data": PNG, "media_type": "application/pdf"}, ValueError),
    ],
)
def test_an_image_needs_exactly_one_valid_source(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        ImagePart(**options)


def test_parts_read_files_and_never_show_their_bytes(tmp_path: Path) -> None:
    (tmp_path / "scan.png").write_bytes(PNG)
    (tmp_path / "invoice.pdf").write_bytes(PDF)
    image = ImagePart.from_path(tmp_path / "scan.png")
    document = DocumentPart.from_path(tmp_path / "invoice.pdf")
    assert (image.data, image.media_type) == (PNG, "image/png")
    assert (document.data, document.media_type, document.name) == (
        PDF,
        "application/pdf",
        "invoice.pdf",
    )
    assert "PNG" not in repr(image)
    assert "<24 bytes>" in repr(image)
    assert "PDF" not in repr(document)


def test_reasoning_belongs_in_assistant_messages_only() -> None:
    thought = ReasoningPart("thinking", signature="sig", provider="anthropic")
    assert ChatMessage.assistant(thought, "answer").text == "answer"
    with pytest.raises(ValueError, match="assistant"):
        ChatMessage.user(thought)


def test_a_response_derives_content_and_reasoning_from_its_parts() -> None:
    response = CompletionResponse(
        model="m",
        input_tokens=1,
        output_tokens=2,
        latency_ms=0.0,
        finish_reason="stop",
        provider="p",
        parts=(ReasoningPart("let me "), ReasoningPart("think"), TextPart("4")),
    )
    assert (response.content, response.reasoning_text) == ("4", "let me think")
    plain = CompletionResponse(
        content="hi",
        model="m",
        input_tokens=1,
        output_tokens=1,
        latency_ms=0.0,
        finish_reason="stop",
        provider="p",
    )
    assert (plain.parts, plain.reasoning_text) == ((TextPart("hi"),), None)


def test_messages_with_parts_round_trip_through_json() -> None:
    message = ChatMessage.user(
        "see", ImagePart(PNG), DocumentPart(url="https://x/a.pdf"), CachePoint()
    )
    decoded = msgspec.json.decode(msgspec.json.encode(message), type=ChatMessage)
    assert decoded == message


@pytest.mark.parametrize(
    "options",
    [{"effort": "max"}, {"budget_tokens": -1}, {"budget_tokens": True}, {"include_text": 1}],
)
def test_reasoning_config_rejects_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        ReasoningConfig(**options)


@pytest.mark.parametrize(
    "options",
    [{"top_p": 1.5}, {"top_p": True}, {"seed": 1.5}, {"vendor_options": [("a", 1)]}],
)
def test_request_rejects_bad_sampling_and_vendor_options(options: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        CompletionRequest([ChatMessage.user("a")], **options)


def test_a_request_without_schema_or_vendor_options_stays_hashable() -> None:
    request = CompletionRequest([ChatMessage.user("a")], reasoning=ReasoningConfig(effort="low"))
    assert hash(request) == hash(
        CompletionRequest([ChatMessage.user("a")], reasoning=ReasoningConfig(effort="low"))
    )


class Weather(msgspec.Struct, frozen=True):
    city: str
    unit: str = "C"


def test_a_tool_describes_a_type_once_and_parses_calls_into_it() -> None:
    tool = Tool("get_weather", "The weather now", Weather)
    assert tool.schema["properties"]["city"] == {"type": "string"}
    assert tool.schema["required"] == ["city"]
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    assert tool.parse(call) == Weather("Paris")
    with pytest.raises(msgspec.ValidationError, match="city"):
        tool.parse(ToolCall("call_2", "get_weather", {"town": "Paris"}))
    schema_tool = Tool("lookup", parameters={"type": "object", "properties": {}})
    assert schema_tool.parse(call) == {"city": "Paris"}
    assert Tool("get_weather", "The weather now", Weather) == tool


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("has space",), ValueError),
        (("x" * 65,), ValueError),
        (("ok", 3), TypeError),
        (("ok", "", {"type": "array"}), ValueError),
        (("ok", "", int), ValueError),
    ],
)
def test_a_tool_rejects_a_bad_name_description_or_parameters(
    args: tuple[Any, ...], error: type
) -> None:
    with pytest.raises(error):
        Tool(*args)


def test_tool_calls_and_results_live_in_their_roles() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    assert ChatMessage.assistant("Let me look.", call).text == "Let me look."
    result = ChatMessage.tool_result("call_1", "18 C")
    assert result.role == "tool"
    assert result.content == (ToolResult("call_1", "18 C"),)
    with pytest.raises(ValueError, match="assistant"):
        ChatMessage.user(call)
    with pytest.raises(ValueError, match="tool"):
        ChatMessage.user(ToolResult("call_1", "x"))
    with pytest.raises(ValueError, match="ToolResult"):
        ChatMessage("tool", "18 C")
    with pytest.raises(ValueError, match="id must be"):
        ToolCall("", "get_weather")


def test_a_request_checks_its_tool_choice_against_its_tools() -> None:
    tools = [Tool("get_weather", parameters=Weather), Tool("get_time")]
    hello = [ChatMessage.user("hi")]
    assert CompletionRequest(hello, tools=tools, tool_choice="get_time").tools == tuple(tools)
    for choice in ("auto", "none", "required"):
        CompletionRequest(hello, tools=tools, tool_choice=choice)
    with pytest.raises(ValueError, match="tool_choice"):
        CompletionRequest(hello, tools=tools, tool_choice="get_news")
    with pytest.raises(ValueError, match="needs tools"):
        CompletionRequest(hello, tool_choice="required")
    with pytest.raises(ValueError, match="unique"):
        CompletionRequest(hello, tools=[Tool("a"), Tool("a")])
    with pytest.raises(TypeError):
        CompletionRequest(hello, tools=[{"name": "a"}])  # type: ignore[list-item]


def test_a_response_lists_its_tool_calls_in_answer_order() -> None:
    first = ToolCall("c1", "get_weather", {"city": "Paris"})
    second = ToolCall("c2", "get_time", {})
    response = CompletionResponse(
        model="m",
        input_tokens=1,
        output_tokens=1,
        latency_ms=0.0,
        finish_reason="tool_calls",
        provider="p",
        parts=(TextPart("Checking."), first, second),
    )
    assert response.tool_calls == (first, second)
    assert response.content == "Checking."
