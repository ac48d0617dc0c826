import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
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


@pytest.mark.parametrize("role", ["tool", "developer", "", "USER"])
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
