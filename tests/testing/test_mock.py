import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    ImagePart,
    RateLimitError,
    ReasoningDelta,
    ReasoningPart,
    StreamEnd,
    TextDelta,
    TextPart,
)
from ashford_llm.testing import MockProvider, MockStream, ScriptExhaustedError

REQUEST = CompletionRequest([ChatMessage.user("hello there")])


async def test_script_answers_in_order_and_records_requests() -> None:
    canned = CompletionResponse(
        content="canned",
        model="m",
        input_tokens=1,
        output_tokens=1,
        latency_ms=0,
        finish_reason="length",
        provider="mock",
    )
    mock = MockProvider(["first", canned, RateLimitError("slow down", retry_after=1)])
    assert (await mock.complete(REQUEST)).content == "first"
    assert await mock.complete(REQUEST) is canned
    with pytest.raises(RateLimitError, match="slow down"):
        await mock.complete(REQUEST)
    assert mock.requests == [REQUEST] * 3
    assert mock.remaining == 0


async def test_string_answers_carry_word_usage() -> None:
    response = await MockProvider(["a b c"], model="tiny").complete(REQUEST)
    assert (response.input_tokens, response.output_tokens) == (2, 3)
    assert response.model == "tiny"
    assert response.finish_reason == "stop"


async def test_exhausted_script_says_so() -> None:
    mock = MockProvider(["only"])
    await mock.complete(REQUEST)
    with pytest.raises(ScriptExhaustedError, match="call 2 but only 1 answers"):
        await mock.complete(REQUEST)


async def test_sync_function_script() -> None:
    mock = MockProvider(lambda request: request.messages[-1].content.upper())
    assert (await mock.complete(REQUEST)).content == "HELLO THERE"


async def test_async_function_script() -> None:
    async def answer(request: CompletionRequest) -> str:
        return f"{len(request.messages)} message"

    assert (await MockProvider(answer).complete(REQUEST)).content == "1 message"


async def test_stream_yields_deltas_then_end() -> None:
    events = [event async for event in MockProvider(["one two three"]).stream(REQUEST)]
    assert events[:-1] == [TextDelta("one "), TextDelta("two "), TextDelta("three")]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == "one two three"


async def test_stream_script_fails_after_its_chunks() -> None:
    mock = MockProvider([MockStream(chunks=["par", "tial"], error=RateLimitError("cut"))])
    received: list[str] = []
    with pytest.raises(RateLimitError):
        async for event in mock.stream(REQUEST):
            assert isinstance(event, TextDelta)
            received.append(event.text)
    assert received == ["par", "tial"]


async def test_stream_raises_scripted_exception_before_any_event() -> None:
    mock = MockProvider([RateLimitError("busy")])
    with pytest.raises(RateLimitError):
        async for _ in mock.stream(REQUEST):
            pytest.fail("no event expected")


def test_a_bare_string_is_not_a_script() -> None:
    with pytest.raises(TypeError, match="sequence of answers"):
        MockProvider("oops")  # type: ignore[arg-type]


async def test_mock_llm_fixture_builds_a_mock(mock_llm: type[MockProvider]) -> None:
    mock = mock_llm(["via fixture"])
    assert (await mock.complete(REQUEST)).content == "via fixture"


async def test_mock_stream_sends_reasoning_before_text_and_ends_with_both() -> None:
    mock = MockProvider([MockStream(reasoning=["Let ", "me see."], chunks=["Sp", "am"])] * 2)
    events = [event async for event in mock.stream(REQUEST)]
    assert events[:4] == [
        ReasoningDelta("Let "),
        ReasoningDelta("me see."),
        TextDelta("Sp"),
        TextDelta("am"),
    ]
    end = events[4]
    assert isinstance(end, StreamEnd)
    assert end.response.parts == (ReasoningPart("Let me see."), TextPart("Spam"))
    assert end.response.content == "Spam"
    assert end.response.reasoning_text == "Let me see."
    assert (end.response.reasoning_tokens, end.response.output_tokens) == (3, 4)
    assert await mock.complete(REQUEST) == end.response


async def test_a_scripted_response_streams_its_reasoning_first() -> None:
    canned = CompletionResponse(
        parts=(ReasoningPart("Two words."), TextPart("Not spam.")),
        model="m",
        input_tokens=1,
        output_tokens=4,
        latency_ms=0,
        finish_reason="stop",
        provider="mock",
    )
    events = [event async for event in MockProvider([canned]).stream(REQUEST)]
    assert events == [
        ReasoningDelta("Two "),
        ReasoningDelta("words."),
        TextDelta("Not "),
        TextDelta("spam."),
        StreamEnd(canned),
    ]


async def test_messages_with_parts_are_counted_by_their_text() -> None:
    request = CompletionRequest(
        [
            ChatMessage.user("Classify this mail", ImagePart(b"\x89PNG\r\n\x1a\n....")),
            ChatMessage.assistant(ReasoningPart("hidden thoughts"), "Spam"),
        ]
    )
    response = await MockProvider(["a b"]).complete(request)
    assert response.input_tokens == 4
