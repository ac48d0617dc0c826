"""Calls the real AWS Bedrock Converse API; opt-in with `pytest -m live` and AWS credentials.

Skipped unless AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key), AWS_ACCESS_KEY_ID with
AWS_SECRET_ACCESS_KEY, or AWS_PROFILE is set. The region is AWS_REGION (default us-east-1);
the model `ASHFORD_LIVE_BEDROCK_MODEL`, by default the US inference profile of Claude Haiku
4.5, which on-demand calls of that model go through.
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import pytest

from ashford_llm import (
    ChatMessage,
    ClientBuilder,
    CompletionRequest,
    InvalidRequestError,
    LLMError,
    ModelConfig,
    PermissionDeniedError,
    ReasoningConfig,
    StreamEnd,
    TextDelta,
    Tool,
)
from ashford_llm.middleware import JsonValidation, RateLimit, Retry, Timeout, Tracing
from ashford_llm.providers.bedrock import BedrockProvider

MODEL = os.environ.get("ASHFORD_LIVE_BEDROCK_MODEL", "us.anthropic.claude-haiku-4-5-20251001-v1:0")
REGION = os.environ.get("AWS_REGION", "us-east-1")
HAS_CREDENTIALS = bool(
    os.environ.get("AWS_BEARER_TOKEN_BEDROCK")
    or (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"))
    or os.environ.get("AWS_PROFILE")
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not HAS_CREDENTIALS,
        reason="AWS_BEARER_TOKEN_BEDROCK, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or AWS_PROFILE unset",
    ),
]


class Place(msgspec.Struct, frozen=True):
    city: str
    country: str


def build(model: str = MODEL, **options: Any) -> BedrockProvider:
    return BedrockProvider(
        ModelConfig("bedrock", model, max_output_tokens=2048), region=REGION, **options
    )


async def test_live_bedrock_complete_with_system_temperature_and_stop() -> None:
    request = CompletionRequest(
        [
            ChatMessage.system("Reply with the integers from 1 to 9 separated by spaces."),
            ChatMessage.user("Go."),
        ],
        temperature=0.0,
        stop=["7"],
    )
    async with build() as provider:
        response = await provider.complete(request)
    assert response.content.strip().startswith("1 2 3")
    assert "8" not in response.content
    assert response.finish_reason == "stop"
    assert response.input_tokens > 0
    assert response.request_id


async def test_live_bedrock_stream_reports_text_and_usage() -> None:
    request = CompletionRequest([ChatMessage.user("Count from 1 to 5, spaces between.")])
    async with build() as provider:
        events = [event async for event in provider.stream(request)]
    assert any(isinstance(event, TextDelta) for event in events)
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert "3" in end.response.content
    assert end.response.output_tokens > 0


async def test_live_bedrock_forced_tool_call_is_decoded() -> None:
    weather = Tool(
        "get_weather",
        "Current weather in a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    request = CompletionRequest(
        [ChatMessage.user("What's the weather in Paris?")],
        tools=[weather],
        tool_choice="get_weather",
    )
    async with build() as provider:
        response = await provider.complete(request)
        streamed = [event async for event in provider.stream(request)]
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls[0].name == "get_weather"
    assert "paris" in str(response.tool_calls[0].arguments).lower()
    end = streamed[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.tool_calls[0].name == "get_weather"


async def test_live_bedrock_thinking_streams_reasoning_with_a_signature() -> None:
    request = CompletionRequest(
        [ChatMessage.user("Is 391 prime? Answer yes or no.")],
        max_tokens=2048,
        reasoning=ReasoningConfig(budget_tokens=1024, include_text=True),
    )
    async with build() as provider:
        events = [event async for event in provider.stream(request)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.reasoning_text
    assert end.response.parts[0].signature  # type: ignore[union-attr]


async def test_live_bedrock_unknown_model_is_an_invalid_request() -> None:
    async with build("ashford.no-such-model-v1:0") as provider:
        with pytest.raises(InvalidRequestError) as caught:
            await provider.complete(CompletionRequest([ChatMessage.user("hi")]))
    assert caught.value.status in (400, 404)


@pytest.mark.skipif(
    not os.environ.get("AWS_ACCESS_KEY_ID"), reason="needs SigV4 keys, not an API key"
)
async def test_live_bedrock_a_wrong_secret_is_a_bad_signature() -> None:
    from botocore.credentials import Credentials

    wrong = Credentials(os.environ["AWS_ACCESS_KEY_ID"], "wrong-secret-for-ashford-tests-0000")
    async with build(aws_credentials=wrong) as provider:
        with pytest.raises(LLMError) as caught:
            await provider.complete(CompletionRequest([ChatMessage.user("hi")]))
    assert type(caught.value) is PermissionDeniedError
    assert caught.value.error_type == "InvalidSignatureException"


async def test_live_bedrock_the_recommended_stack() -> None:
    stack = (
        ClientBuilder()
        .use(Tracing)
        .use(Retry, max_retries=2)
        .use(RateLimit, requests_per_minute=30, max_concurrency=2)
        .use(Timeout, total=120)
        .use(JsonValidation, schema=Place)
    )
    request = CompletionRequest(
        [ChatMessage.user("Where is the Colosseum? City and country.")], json_mode=True
    )
    async with stack.build(build()) as llm:
        complete = await llm.complete(request)
        streamed = [event async for event in llm.stream(request)]
    end = streamed[-1]
    assert isinstance(end, StreamEnd)
    for response in (complete, end.response):
        assert isinstance(response.parsed, Place)
        assert response.parsed.city.lower() in ("rome", "roma")
