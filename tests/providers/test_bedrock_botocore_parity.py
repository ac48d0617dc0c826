"""What BedrockProvider sends is what AWS's own SDK (botocore's bedrock-runtime client) sends.

The provider's body is handed to botocore's `converse` as parameters: botocore validates them
against the bedrock-runtime service model (a wrong member, type or enum value fails there),
serializes them, and the test compares its URL and body with the provider's. botocore's
signed request also passes the fake server's SigV4 check, so that check accepts the SDK.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.config
import botocore.session
import httpx
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import ParamValidationError

from ashford_llm import (
    CachePoint,
    ChatMessage,
    CompletionRequest,
    DocumentPart,
    ImagePart,
    ModelConfig,
    ReasoningConfig,
    ReasoningPart,
    Tool,
    ToolCall,
)
from ashford_llm.providers.bedrock import BedrockProvider
from ashford_llm.testing.fake_server.bedrock import TEST_ACCESS_KEY, TEST_KEYS, TEST_SECRET_KEY
from ashford_llm.testing.fake_server.sigv4 import check_signature

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 8
PDF = b"%PDF-1.7 parity"
WEATHER = Tool(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    strict=True,
)
REQUESTS = {
    "aws example": CompletionRequest(
        [
            ChatMessage.system("You are an app that creates playlists."),
            ChatMessage.user("Create a list of 3 pop songs."),
        ],
        temperature=0.5,
        vendor_options={"additionalModelRequestFields": {"top_k": 200}},
    ),
    "media and cache points": CompletionRequest(
        [
            ChatMessage.system("Classify.", CachePoint()),
            ChatMessage.user(
                "Classify this", ImagePart(data=PNG), DocumentPart(data=PDF, name="a.pdf")
            ),
        ],
        top_p=0.9,
        stop=["END"],
    ),
    "tools and history": CompletionRequest(
        [
            ChatMessage.user("Weather in Paris?"),
            ChatMessage.assistant(
                ReasoningPart("Use the tool.", signature="sig", provider="bedrock"),
                ReasoningPart("", signature="cmVkYWN0ZWQ=", provider="bedrock", redacted=True),
                ToolCall("tooluse_1", "get_weather", {"city": "Paris"}),
            ),
            ChatMessage.tool_result("tooluse_1", "unknown city", is_error=True),
        ],
        max_tokens=4096,
        tools=[WEATHER],
        reasoning=ReasoningConfig(budget_tokens=2048),
    ),
    "forced tool and schema": CompletionRequest(
        [ChatMessage.user("Weather?")],
        tools=[WEATHER],
        tool_choice="get_weather",
        json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    ),
    "native schema and effort": CompletionRequest(
        [ChatMessage.user("Weather?")],
        json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
        reasoning=ReasoningConfig(effort="high"),
    ),
}
MODELS = {"native schema and effort": "us.anthropic.claude-opus-4-6-v1:0"}
# Blob members: JSON carries them as base64, botocore takes bytes and encodes them itself.
_BLOBS = (("image", "source", "bytes"), ("document", "source", "bytes"))


class RawBody:
    """The raw body botocore reads a response from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def as_parameters(body: dict[str, Any]) -> dict[str, Any]:
    """Turns a Converse JSON body into botocore parameters (base64 blobs back into bytes)."""
    params = json.loads(json.dumps(body))
    for message in params["messages"]:
        for block in message["content"]:
            for kind, source, member in _BLOBS:
                if kind in block and member in block[kind][source]:
                    raw = block[kind][source][member]
                    block[kind][source][member] = base64.b64decode(raw)
            reasoning = block.get("reasoningContent", {})
            if "redactedContent" in reasoning:
                reasoning["redactedContent"] = base64.b64decode(reasoning["redactedContent"])
    return params


def botocore_request(body: dict[str, Any], model: str = MODEL) -> AWSPreparedRequest:
    """Sends `body` through botocore's bedrock-runtime client and returns the request it made."""
    sent: list[AWSPreparedRequest] = []

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        headers = {
            "x-amzn-ErrorType": "InternalServerException",
            "content-type": "application/json",
        }
        return AWSResponse(request.url, 500, headers, RawBody(b'{"message": "fake"}'))

    client = botocore.session.Session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    client.meta.events.register("before-send", before_send)
    # The fake answer is a 500; a parameter botocore refuses raises ParamValidationError.
    with pytest.raises(client.exceptions.InternalServerException):
        client.converse(modelId=model, **as_parameters(body))
    return sent[0]


async def our_request(request: CompletionRequest, model: str = MODEL) -> httpx.Request:
    sent: list[httpx.Request] = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        sent.append(http_request)
        return httpx.Response(
            200,
            json={
                "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                "metrics": {"latencyMs": 1},
            },
        )

    provider = BedrockProvider(
        ModelConfig("bedrock", model),
        region="us-east-1",
        aws_credentials=Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY),
        structured_outputs=True,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    await provider.complete(request)
    return sent[0]


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_our_url_and_body_are_what_botocore_sends(name: str) -> None:
    model = MODELS.get(name, MODEL)
    ours = await our_request(REQUESTS[name], model)
    body = json.loads(ours.content)
    theirs = botocore_request(body, model)
    assert theirs.url == str(ours.url)
    assert json.loads(theirs.body) == body
    assert theirs.headers["Content-Type"] == b"application/json"


async def test_botocores_signed_request_passes_the_fake_servers_check() -> None:
    ours = await our_request(REQUESTS["aws example"])
    theirs = botocore_request(json.loads(ours.content))
    headers = {
        name.lower(): value.decode() if isinstance(value, bytes) else value
        for name, value in theirs.headers.items()
    }
    headers["host"] = "bedrock-runtime.us-east-1.amazonaws.com"
    path = theirs.url.removeprefix("https://bedrock-runtime.us-east-1.amazonaws.com")
    assert check_signature("POST", path, headers, theirs.body, TEST_KEYS) is None
    assert check_signature("POST", path, headers, theirs.body + b" ", TEST_KEYS) == "mismatch"


def test_a_body_botocore_refuses_fails_the_comparison() -> None:
    # The check can fail: a misspelt member is refused by botocore's own validation.
    bad = {
        "messages": [{"role": "user", "content": [{"text": "x"}]}],
        "inferenceConfig": {"maxTokenz": 1},
    }
    with pytest.raises(ParamValidationError, match="maxTokenz"):
        botocore_request(bad)
