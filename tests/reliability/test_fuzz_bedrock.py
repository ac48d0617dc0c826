"""Fuzzes Bedrock's Converse and ConverseStream parsers through the whole provider path.

Answers start from valid ones (text, reasoning, tool use, errors) and are mutated: JSON values
replaced, keys dropped; streams are lists of event-stream frames that are dropped, repeated,
reordered, given mutated payloads, or cut and flipped as bytes. Each body is served by an
`httpx.MockTransport` to a SigV4-signing provider. The only allowed outcomes are a response
(with text or tool calls) or a stream of deltas ending in one StreamEnd whose text is their
concatenation, or an LLMError whose str() works.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    LLMError,
    ModelConfig,
    StreamEnd,
    TextDelta,
)
from ashford_llm.providers.bedrock import BedrockProvider
from ashford_llm.testing.fake_server.eventstream import event_frame, exception_frame

REQUEST = CompletionRequest([ChatMessage.user("Hello")])
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
ANSWER: dict[str, Any] = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
                {"text": "Hello there"},
                {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}},
            ],
        }
    },
    "stopReason": "end_turn",
    "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
    "metrics": {"latencyMs": 1},
}
EVENTS: list[tuple[str, Any]] = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
    (
        "contentBlockDelta",
        {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}},
    ),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hel"}}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "lo"}}),
    (
        "contentBlockStart",
        {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}},
    ),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":'}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}),
    ("contentBlockStop", {"contentBlockIndex": 2}),
    ("messageStop", {"stopReason": "tool_use"}),
    ("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}}),
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutate(draw: st.DrawFn, value: Any) -> Any:
    """Replaces a value somewhere, or drops a key, in a JSON value."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        out = dict(value)
        if draw(st.booleans()):
            del out[key]
        else:
            out[key] = draw(mutate(value[key]))
        return out
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], draw(mutate(value[index])), *value[index + 1 :]]
    return draw(JSON_VALUES) if draw(st.integers(0, 2)) == 0 else value


@st.composite
def stream_bodies(draw: st.DrawFn) -> bytes:
    """A mutated list of frames, joined, maybe cut or flipped as bytes."""
    events = list(EVENTS)
    if draw(st.booleans()):
        events = draw(st.permutations(events))
    events = [(name, draw(mutate(body))) for name, body in events]
    frames = [event_frame(name, body) for name, body in events]
    frames = draw(st.lists(st.sampled_from(frames), max_size=14)) if draw(st.booleans()) else frames
    if draw(st.integers(0, 3)) == 0:
        frames.insert(
            draw(st.integers(0, len(frames))),
            exception_frame(
                draw(st.sampled_from(["throttlingException", "internalServerException", "x"])),
                draw(mutate({"message": "m"})),
            ),
        )
    body = b"".join(frames)
    if body and draw(st.integers(0, 3)) == 0:
        cut = draw(st.integers(0, len(body) - 1))
        body = (
            body[:cut]
            if draw(st.booleans())
            else body[:cut] + bytes([body[cut] ^ 0x55]) + body[cut + 1 :]
        )
    return body


async def call(
    stream: bool, status: int, body: bytes, content_type: str
) -> CompletionResponse | LLMError:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = BedrockProvider(
            ModelConfig("bedrock", "anthropic.claude-x"),
            region="us-east-1",
            aws_credentials=Credentials("AKIDFUZZ", "secret"),
            http_client=client,
        )
        try:
            if not stream:
                return await provider.complete(REQUEST)
            texts: list[str] = []
            ends: list[StreamEnd] = []
            async for event in provider.stream(REQUEST):
                assert not ends, "an event after StreamEnd"
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                elif isinstance(event, StreamEnd):
                    ends.append(event)
            assert len(ends) == 1
            assert ends[0].response.content == "".join(texts)
            return ends[0].response
        except LLMError as error:
            return error


def check(stream: bool, status: int, body: bytes, content_type: str) -> None:
    outcome = asyncio.run(asyncio.wait_for(call(stream, status, body, content_type), 10.0))
    if isinstance(outcome, LLMError):
        assert str(outcome)
        assert outcome.provider == "bedrock"
    else:
        assert outcome.content or outcome.tool_calls


@FUZZ
@given(answer=mutate(ANSWER), status=st.sampled_from([200, 200, 400, 403, 429, 500, 503]))
def test_mutated_converse_answers_parse_or_raise_an_llm_error(answer: Any, status: int) -> None:
    check(False, status, json.dumps(answer).encode(), "application/json")


@FUZZ
@given(body=stream_bodies())
def test_mutated_event_streams_parse_or_raise_an_llm_error(body: bytes) -> None:
    check(True, 200, body, "application/vnd.amazon.eventstream")


@pytest.mark.parametrize("stream", [False, True])
def test_the_unmutated_seeds_parse(stream: bool) -> None:
    if stream:
        body = b"".join(event_frame(name, payload) for name, payload in EVENTS)
        outcome = asyncio.run(call(True, 200, body, "application/vnd.amazon.eventstream"))
    else:
        outcome = asyncio.run(call(False, 200, json.dumps(ANSWER).encode(), "application/json"))
    assert isinstance(outcome, CompletionResponse)
    assert outcome.tool_calls
