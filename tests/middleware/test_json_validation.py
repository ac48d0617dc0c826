from typing import Any

import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    CompletionResponse,
    JsonValidationError,
    RateLimitError,
    ReasoningDelta,
    ReasoningPart,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
)
from ashford_llm.middleware import JsonValidation, Retry
from ashford_llm.testing import MockProvider, MockStream

ASK = CompletionRequest([ChatMessage.user("label this")], json_mode=True)
PLAIN = CompletionRequest([ChatMessage.user("say hi")])


class Label(msgspec.Struct, frozen=True):
    name: str
    score: float


def answer(text: str, *, tokens: int = 10, request_id: str | None = None) -> CompletionResponse:
    return CompletionResponse(
        content=text,
        model="m-1",
        input_tokens=tokens,
        output_tokens=tokens,
        latency_ms=100.0,
        finish_reason="stop",
        provider="mock",
        request_id=request_id,
        cached_input_tokens=None,
    )


async def collect(events: Any) -> list[StreamEvent]:
    return [event async for event in events]


async def test_json_mode_answer_is_decoded_into_parsed() -> None:
    layer = JsonValidation(MockProvider(['{"name": "spam", "score": 0.9}']))
    response = await layer.complete(ASK)
    assert response.parsed == {"name": "spam", "score": 0.9}
    assert response.content == '{"name": "spam", "score": 0.9}'


async def test_schema_decodes_into_the_struct() -> None:
    layer = JsonValidation(MockProvider(['{"name": "spam", "score": 0.9}']), schema=Label)
    response = await layer.complete(ASK)
    assert response.parsed == Label(name="spam", score=0.9)


async def test_json_fence_is_stripped() -> None:
    text = '\n```json\n{"name": "ham", "score": 1}\n```\n'
    layer = JsonValidation(MockProvider([text]), schema=Label)
    assert (await layer.complete(ASK)).parsed == Label(name="ham", score=1.0)


async def test_bare_fence_is_stripped() -> None:
    layer = JsonValidation(MockProvider(["```\n[1, 2]\n```"]), schema=list[int])
    assert (await layer.complete(ASK)).parsed == [1, 2]


@pytest.mark.parametrize(
    "text",
    [
        'Here you go: {"name": "x", "score": 1}',
        '```json\n{"name": "x", "score": 1}\n```\nHope this helps!',
        '```python\n{"name": "x", "score": 1}\n```',
        "{'name': 'x', 'score': 1}",
    ],
)
async def test_looser_wrappers_are_rejected(text: str) -> None:
    layer = JsonValidation(MockProvider([text]), schema=Label)
    with pytest.raises(JsonValidationError, match="is not valid JSON"):
        await layer.complete(ASK)


async def test_invalid_json_raises_with_error_excerpt_and_context() -> None:
    text = "not json at all " + "x" * 400
    layer = JsonValidation(MockProvider([answer(text, request_id="req_9")]))
    with pytest.raises(JsonValidationError) as caught:
        await layer.complete(ASK)
    error = caught.value
    assert error.retryable
    assert error.output == text
    assert error.provider == "mock"
    assert error.request_id == "req_9"
    assert "is not valid JSON" in error.message
    assert "m-1" in error.message
    assert text[:200] in error.message
    assert text[:201] not in error.message


async def test_schema_mismatch_names_the_field() -> None:
    layer = JsonValidation(MockProvider(['{"name": "x", "score": "high"}']), schema=Label)
    with pytest.raises(JsonValidationError, match=r"does not match the schema.*score"):
        await layer.complete(ASK)


async def test_request_schema_checks_top_level_type_and_required_keys() -> None:
    request = CompletionRequest(
        [ChatMessage.user("q")],
        json_schema={"type": "object", "required": ["city"], "properties": {}},
    )
    good = JsonValidation(MockProvider(['{"city": "Leeds"}']))
    assert (await good.complete(request)).parsed == {"city": "Leeds"}
    missing = JsonValidation(MockProvider(['{"town": "Leeds"}']))
    with pytest.raises(JsonValidationError, match=r"missing required keys \['city'\]"):
        await missing.complete(request)
    wrong_type = JsonValidation(MockProvider(["[1]"]))
    with pytest.raises(JsonValidationError, match="expected object, got list"):
        await wrong_type.complete(request)


async def test_requests_not_asking_for_json_pass_through_untouched() -> None:
    mock = MockProvider(["hello, not json"])
    response = await JsonValidation(mock).complete(PLAIN)
    assert response.content == "hello, not json"
    assert response.parsed is None
    assert mock.requests == [PLAIN]


async def test_layer_schema_is_sent_as_the_request_json_schema() -> None:
    mock = MockProvider(['{"name": "x", "score": 1}'])
    await JsonValidation(mock, schema=Label).complete(PLAIN)
    sent = mock.requests[0].json_schema
    assert sent is not None
    assert sent["title"] == "Label"
    assert sent["type"] == "object"
    assert sorted(sent["required"]) == ["name", "score"]


async def test_request_json_schema_is_kept_over_the_layer_schema() -> None:
    own = {"type": "object", "title": "Mine"}
    request = CompletionRequest([ChatMessage.user("q")], json_schema=own)
    mock = MockProvider(['{"name": "x", "score": 1}'])
    await JsonValidation(mock, schema=Label).complete(request)
    assert mock.requests[0].json_schema == own


async def test_repair_reasks_with_the_bad_output_and_the_error() -> None:
    mock = MockProvider([answer("{oops", tokens=10), answer('{"name": "x", "score": 1}', tokens=7)])
    layer = JsonValidation(mock, schema=Label, repair_attempts=2)
    response = await layer.complete(ASK)
    assert response.parsed == Label(name="x", score=1.0)
    repair = mock.requests[1].messages
    assert repair[:-2] == ASK.messages
    assert repair[-2] == ChatMessage.assistant("{oops")
    assert repair[-1].role == "user"
    assert "not valid JSON" in repair[-1].content
    assert "Reply with only the corrected JSON" in repair[-1].content
    assert len(mock.requests) == 2


async def test_repair_sums_usage_and_latency_of_every_call() -> None:
    mock = MockProvider([answer("{oops", tokens=10), answer("[]", tokens=7)])
    response = await JsonValidation(mock, repair_attempts=1).complete(ASK)
    assert (response.input_tokens, response.output_tokens) == (17, 17)
    assert response.latency_ms == 200.0
    assert response.cached_input_tokens is None


async def test_repair_gives_up_after_its_attempts() -> None:
    mock = MockProvider(["{1", "{2", "{3"])
    layer = JsonValidation(mock, repair_attempts=2)
    with pytest.raises(JsonValidationError) as caught:
        await layer.complete(ASK)
    assert caught.value.output == "{3"
    assert len(mock.requests) == 3


async def test_errors_of_the_inner_handler_propagate() -> None:
    layer = JsonValidation(MockProvider([RateLimitError("slow")]), repair_attempts=1)
    with pytest.raises(RateLimitError):
        await layer.complete(ASK)


async def test_stream_end_carries_parsed() -> None:
    mock = MockProvider([MockStream(chunks=['{"name": ', '"x", "score": 2}'])])
    events = await collect(JsonValidation(mock, schema=Label).stream(ASK))
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        '{"name": ',
        '"x", "score": 2}',
    ]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.parsed == Label(name="x", score=2.0)


async def test_invalid_stream_raises_at_stream_end_after_the_text() -> None:
    mock = MockProvider([MockStream(chunks=["not ", "json"]), "unused"])
    seen: list[StreamEvent] = []
    with pytest.raises(JsonValidationError, match="not valid JSON"):
        async for event in JsonValidation(mock, repair_attempts=3).stream(ASK):
            seen.append(event)
    assert seen == [TextDelta("not "), TextDelta("json")]
    assert len(mock.requests) == 1


async def test_plain_stream_passes_through() -> None:
    events = await collect(JsonValidation(MockProvider(["hi there"])).stream(PLAIN))
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.parsed is None


async def test_a_plain_stream_is_the_inner_stream_itself_with_no_step_per_chunk() -> None:
    mock = MockProvider(["hi there"])
    handed: list[Any] = []
    inner_stream = mock.stream

    def remember(request: Any) -> Any:
        handed.append(inner_stream(request))
        return handed[-1]

    mock.stream = remember  # type: ignore[method-assign]
    layer = JsonValidation(mock)
    plain = layer.stream(PLAIN)
    assert plain is handed[-1]
    await collect(plain)
    validated = layer.stream(ASK)
    assert validated is not handed[-1]
    await validated.aclose()


async def test_inside_retry_an_invalid_answer_costs_one_more_attempt() -> None:
    mock = MockProvider(["nope", '{"ok": true}'])
    stack = (
        ClientBuilder()
        .use(Retry, max_retries=2, jitter=lambda: 0.0, sleep=_no_sleep)
        .use(JsonValidation)
        .build(mock)
    )
    response = await stack.complete(ASK)
    assert response.parsed == {"ok": True}
    assert response.attempts == 2


async def _no_sleep(seconds: float) -> None:
    return None


def test_repr_shows_schema_and_repairs() -> None:
    layer = JsonValidation(MockProvider([]), schema=Label, repair_attempts=1)
    assert layer.describe() == "JsonValidation(schema=Label, repair_attempts=1)"
    assert JsonValidation(MockProvider([])).describe() == "JsonValidation"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"repair_attempts": -1}, ValueError),
        ({"repair_attempts": True}, TypeError),
        ({"repair_attempts": 1.5}, TypeError),
        ({"schema": object}, TypeError),
    ],
)
def test_bad_options_fail_at_build_time(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        JsonValidation(MockProvider([]), **options)


async def test_an_answer_with_reasoning_parts_validates_and_keeps_its_parts() -> None:
    thinking = msgspec.structs.replace(
        answer(""),
        content="",
        parts=(ReasoningPart("It offers a prize."), TextPart('{"name": "spam", "score": 1}')),
        reasoning_text=None,
    )
    assert thinking.content == '{"name": "spam", "score": 1}'
    response = await JsonValidation(MockProvider([thinking]), schema=Label).complete(ASK)
    assert response.parsed == Label(name="spam", score=1.0)
    assert response.parts == thinking.parts
    assert response.reasoning_text == "It offers a prize."


async def test_a_streamed_answer_with_reasoning_validates_at_its_end() -> None:
    mock = MockProvider([MockStream(reasoning=["Prize."], chunks=['{"name": "x", "score": 2}'])])
    events = await collect(JsonValidation(mock, schema=Label).stream(ASK))
    assert isinstance(events[0], ReasoningDelta)
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.parsed == Label(name="x", score=2.0)
    assert end.response.reasoning_text == "Prize."
