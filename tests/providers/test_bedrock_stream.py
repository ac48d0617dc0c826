"""ConverseStream: binary event-stream frames decoded by botocore into deltas, errors and usage."""

from __future__ import annotations

import struct
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    InvalidRequestError,
    LLMError,
    MidStreamError,
    ModelConfig,
    ReasoningDelta,
    ReasoningPart,
    ResponseDecodeError,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from ashford_llm.errors import LLMTimeoutError, RateLimitError, ServerError
from ashford_llm.middleware import Retry
from ashford_llm.providers.bedrock import BedrockProvider
from ashford_llm.testing.fake_server.bedrock import TEST_ACCESS_KEY, TEST_SECRET_KEY
from ashford_llm.testing.fake_server.eventstream import encode_frame, event_frame, exception_frame

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HELLO = CompletionRequest([ChatMessage.user("Hello")])
EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": "req-s"}
USAGE = {"inputTokens": 10, "outputTokens": 4, "totalTokens": 14}


def text_events(*pieces: str) -> list[bytes]:
    """A whole text stream: start, deltas of block 0, stop, metadata."""
    return [
        event_frame("messageStart", {"role": "assistant"}),
        *(
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}})
            for p in pieces
        ),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": USAGE, "metrics": {"latencyMs": 5}}),
    ]


class Chunked(httpx.AsyncByteStream):
    """A response body that arrives in fixed-size pieces, splitting frames across reads."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    async def __aiter__(self) -> Any:
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]


def provider(
    frames: list[bytes], *, size: int = 7, headers: dict[str, str] | None = None
) -> BedrockProvider:
    body = b"".join(frames)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/converse-stream")
        return httpx.Response(200, headers=headers or EVENTSTREAM, stream=Chunked(body, size))

    return BedrockProvider(
        ModelConfig("bedrock", MODEL),
        region="us-east-1",
        aws_credentials=Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


async def collect(p: Any, request: CompletionRequest = HELLO) -> list[Any]:
    return [event async for event in p.stream(request)]


async def no_wait(seconds: float) -> None:
    """Retry's sleep, in tests that must not wait."""


def test_the_fake_servers_encoder_round_trips_through_botocore() -> None:
    frames = [
        event_frame("contentBlockDelta", {"delta": {"text": "é✓"}}),
        exception_frame("throttlingException", {"message": "slow"}),
    ]
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(frames))
    messages = list(buffer)
    assert [m.headers[":message-type"] for m in messages] == ["event", "exception"]
    assert messages[0].headers[":event-type"] == "contentBlockDelta"
    assert messages[0].payload == '{"delta":{"text":"é✓"}}'.encode()
    assert messages[1].headers[":exception-type"] == "throttlingException"


def test_botocore_rejects_a_frame_with_a_wrong_crc() -> None:
    # The round trip above can fail: a frame whose message CRC is off is refused.
    frame = event_frame("messageStart", {"role": "assistant"})
    broken = frame[:-4] + struct.pack(">I", (struct.unpack(">I", frame[-4:])[0] + 1) % 2**32)
    buffer = EventStreamBuffer()
    buffer.add_data(broken)
    with pytest.raises(ChecksumMismatch):
        list(buffer)


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_text_deltas_arrive_in_order_whatever_the_chunking(size: int) -> None:
    events = await collect(provider(text_events("Hel", "lo", " there"), size=size))
    assert events[:3] == [TextDelta("Hel"), TextDelta("lo"), TextDelta(" there")]
    final = events[-1]
    assert isinstance(final, StreamEnd)
    response = final.response
    assert (response.content, response.finish_reason, response.request_id) == (
        "Hello there",
        "stop",
        "req-s",
    )
    assert (response.input_tokens, response.output_tokens) == (10, 4)


async def test_reasoning_deltas_and_signature_become_a_reasoning_part() -> None:
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me "}}},
        ),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think."}}},
        ),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig=="}}},
        ),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "cmVk"}}},
        ),
        event_frame("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "42"}}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": USAGE, "metrics": {"latencyMs": 5}}),
    ]
    events = await collect(provider(frames))
    assert events[:3] == [ReasoningDelta("Let me "), ReasoningDelta("think."), TextDelta("42")]
    response = events[-1].response
    assert response.parts[:2] == (
        ReasoningPart("Let me think.", signature="sig==", provider="bedrock"),
        ReasoningPart("", signature="cmVk", provider="bedrock", redacted=True),
    )
    assert (response.content, response.reasoning_text) == ("42", "Let me think.")


async def test_tool_input_fragments_are_tool_call_deltas_joined_at_the_end() -> None:
    start = {"toolUse": {"toolUseId": "tooluse_ab12", "name": "get_weather"}}
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("contentBlockStart", {"contentBlockIndex": 1, "start": start}),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}},
        ),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ' "Paris"}'}}},
        ),
        event_frame("contentBlockStop", {"contentBlockIndex": 1}),
        event_frame("messageStop", {"stopReason": "tool_use"}),
        event_frame("metadata", {"usage": USAGE, "metrics": {"latencyMs": 5}}),
    ]
    events = await collect(provider(frames))
    assert events[:4] == [
        TextDelta("Checking."),
        ToolCallDelta(0, id="tooluse_ab12", name="get_weather"),
        ToolCallDelta(0, arguments_delta='{"city":'),
        ToolCallDelta(0, arguments_delta=' "Paris"}'),
    ]
    response = events[-1].response
    assert response.tool_calls == (ToolCall("tooluse_ab12", "get_weather", {"city": "Paris"}),)
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("exception", "cls"),
    [
        ("throttlingException", RateLimitError),
        ("internalServerException", ServerError),
        ("serviceUnavailableException", ServerError),
        ("modelStreamErrorException", ServerError),
        ("validationException", InvalidRequestError),
        ("modelTimeoutException", LLMTimeoutError),
    ],
)
async def test_an_exception_event_raises_its_class_with_the_usage_so_far(
    exception: str, cls: type[LLMError]
) -> None:
    frames = [*text_events("Partial")[:2], exception_frame(exception, {"message": "went wrong"})]
    seen: list[Any] = []
    with pytest.raises(LLMError) as caught:
        async for event in provider(frames).stream(HELLO):
            seen.append(event)
    assert type(caught.value) is cls
    assert seen == [TextDelta("Partial")]
    assert caught.value.message == "went wrong"
    assert caught.value.error_type == exception[0].upper() + exception[1:]
    assert (caught.value.provider, caught.value.request_id) == ("bedrock", "req-s")


async def test_an_error_message_frame_is_raised_too() -> None:
    error = encode_frame(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""
    )
    with pytest.raises(ServerError, match="boom"):
        await collect(provider([*text_events("x")[:1], error]))


async def test_a_retryable_exception_after_text_is_a_mid_stream_error_under_retry() -> None:
    frames = [
        *text_events("Hello")[:2],
        exception_frame("modelStreamErrorException", {"message": "Retry your request"}),
    ]
    with pytest.raises(MidStreamError) as wrapped:
        await collect(Retry(provider(frames), sleep=no_wait))
    assert wrapped.value.partial_text == "Hello"
    assert isinstance(wrapped.value.__cause__, ServerError)


async def test_a_fatal_exception_after_text_stays_fatal_under_retry() -> None:
    frames = [*text_events("Hello")[:2], exception_frame("validationException", {"message": "bad"})]
    with pytest.raises(InvalidRequestError):
        await collect(Retry(provider(frames), sleep=no_wait))


async def test_a_corrupted_frame_is_a_response_decode_error() -> None:
    frames = text_events("Hi")
    bad = bytearray(frames[1])
    bad[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    with pytest.raises(ResponseDecodeError, match="malformed event-stream frame"):
        await collect(provider([frames[0], bytes(bad), *frames[2:]]))


async def test_a_stream_cut_inside_a_frame_is_a_response_decode_error() -> None:
    frames = text_events("Hi")
    with pytest.raises(ResponseDecodeError, match="inside a frame"):
        await collect(provider([*frames[:2], frames[2][:10]]))


async def test_a_stream_without_message_stop_is_a_response_decode_error() -> None:
    with pytest.raises(ResponseDecodeError, match="before its terminal event"):
        await collect(provider(text_events("Hi")[:3]))


async def test_a_stream_answered_as_json_is_an_error_not_a_stream() -> None:
    body = b'{"message": "Not an event stream"}'
    headers = {"content-type": "application/json"}
    with pytest.raises(ResponseDecodeError, match="expected an event stream"):
        await collect(provider([body], headers=headers))


async def test_metadata_after_message_stop_gives_the_usage() -> None:
    events = await collect(provider(text_events("a")))
    response = events[-1].response
    assert (response.input_tokens, response.output_tokens) == (10, 4)
    without = await collect(provider(text_events("a")[:4]))
    assert (without[-1].response.input_tokens, without[-1].response.output_tokens) == (0, 0)


async def test_a_text_delta_for_a_reasoning_block_is_a_response_decode_error() -> None:
    # Found by the fuzzer: the text would have gone into the reasoning, not the answer.
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}},
        ),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}}),
    ]
    with pytest.raises(ResponseDecodeError, match="text piece arrived for content block 0"):
        await collect(provider(frames))


async def test_a_delta_without_its_block_index_is_a_response_decode_error() -> None:
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"delta": {"text": "lo"}}),
    ]
    with pytest.raises(ResponseDecodeError, match="without its contentBlockIndex"):
        await collect(provider(frames))
