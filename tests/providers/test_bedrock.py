"""BedrockProvider: Converse URLs, headers and bodies from AWS's docs, auth, answers, errors."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials, RefreshableCredentials

from ashford_llm import (
    CachePoint,
    ChatMessage,
    CompletionRequest,
    ContentFilterError,
    DocumentPart,
    EmptyResponseError,
    ImagePart,
    InvalidRequestError,
    LLMError,
    MissingCredentialsError,
    ModelConfig,
    ReasoningConfig,
    ReasoningPart,
    ResponseDecodeError,
    StackConfig,
    Tool,
    ToolCall,
    provider_from_config,
)
from ashford_llm.errors import (
    AuthenticationError,
    LLMTimeoutError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from ashford_llm.providers.bedrock import BedrockDialect, BedrockProvider
from ashford_llm.providers.bedrock.content import document_name
from ashford_llm.testing.fake_server.bedrock import TEST_ACCESS_KEY, TEST_KEYS, TEST_SECRET_KEY
from ashford_llm.testing.fake_server.sigv4 import check_signature

MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
REGION = "us-east-1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.7 fake"
OK = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
    "metrics": {"latencyMs": 120},
}


class Capture:
    """A MockTransport handler that keeps every request and answers with one reply."""

    def __init__(self, reply: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.reply = reply or httpx.Response(
            200, json=OK, headers={"x-amzn-RequestId": "4c0b7e2e-req"}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.requests[-1].content)
        return body


def provider(
    capture: Capture, model: str = MODEL, config: ModelConfig | None = None, **options: Any
) -> BedrockProvider:
    options.setdefault("aws_credentials", Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY))
    return BedrockProvider(
        config or ModelConfig("bedrock", model),
        region=REGION,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(capture)),
        **options,
    )


def signed_by_test_keys(request: httpx.Request) -> str | None:
    """Checks a sent request's signature the way the fake server does."""
    return check_signature(
        request.method, request.url.raw_path.decode(), request.headers, request.content, TEST_KEYS
    )


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


# --- URL, headers and body: AWS's Converse examples -------------------------------------


async def test_converse_example_from_aws_docs_is_sent_literally() -> None:
    # AWS's "Converse API examples" (Claude 3 Sonnet): a system prompt, one user message,
    # temperature 0.5 in inferenceConfig and top_k 200 in additionalModelRequestFields.
    capture = Capture()
    system = (
        "You are an app that creates playlists for a radio station that plays rock and pop "
        "music. Only return song names and the artist."
    )
    request = CompletionRequest(
        [ChatMessage.system(system), ChatMessage.user("Create a list of 3 pop songs.")],
        temperature=0.5,
        max_tokens=512,
        vendor_options={"additionalModelRequestFields": {"top_k": 200}},
    )
    response = await provider(capture).complete(request)
    sent = capture.requests[-1]
    assert str(sent.url) == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
        "anthropic.claude-3-sonnet-20240229-v1%3A0/converse"
    )
    assert sent.method == "POST"
    assert sent.headers["content-type"] == "application/json"
    assert capture.body == {
        "messages": [{"role": "user", "content": [{"text": "Create a list of 3 pop songs."}]}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.5},
        "system": [{"text": system}],
        "additionalModelRequestFields": {"top_k": 200},
    }
    assert (response.content, response.request_id, response.provider) == (
        "Hi",
        "4c0b7e2e-req",
        "bedrock",
    )
    assert (response.input_tokens, response.output_tokens) == (12, 3)


async def test_tool_use_example_from_aws_docs_forces_the_named_tool() -> None:
    # AWS's "Call a tool with the Converse API": the top_song tool, forced with toolChoice.
    capture = Capture()
    top_song = Tool(
        "top_song",
        "Get the most popular song played on a radio station.",
        {
            "type": "object",
            "properties": {
                "sign": {
                    "type": "string",
                    "description": "The call sign for the radio station for which you want "
                    "the most popular song. Example calls signs are WZPZ and WKRP.",
                }
            },
            "required": ["sign"],
        },
    )
    request = CompletionRequest(
        [ChatMessage.user("What is the most popular song on WZPZ?")],
        tools=[top_song],
        tool_choice="top_song",
    )
    await provider(capture).complete(request)
    assert capture.body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "top_song",
                    "description": "Get the most popular song played on a radio station.",
                    "inputSchema": {"json": top_song.schema},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "top_song"}},
    }
    assert capture.body["messages"] == [
        {"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]}
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", None), ("required", {"any": {}})],
)
async def test_tool_choice_auto_is_the_default_and_required_is_any(
    choice: str, expected: dict[str, Any] | None
) -> None:
    capture = Capture()
    tool = Tool("lookup", "Looks up", {"type": "object", "properties": {}}, strict=True)
    request = CompletionRequest([ChatMessage.user("Go")], tools=[tool], tool_choice=choice)
    await provider(capture).complete(request)
    assert capture.body["toolConfig"].get("toolChoice") == expected
    assert capture.body["toolConfig"]["tools"][0]["toolSpec"]["strict"] is True


async def test_tool_choice_none_leaves_the_tools_out() -> None:
    capture = Capture()
    tool = Tool("lookup", "Looks up")
    await provider(capture).complete(
        CompletionRequest([ChatMessage.user("Go")], tools=[tool], tool_choice="none")
    )
    assert "toolConfig" not in capture.body


async def test_tool_choice_none_with_tool_history_is_refused_before_sending() -> None:
    capture = Capture()
    history = [
        ChatMessage.user("Weather?"),
        ChatMessage.assistant(ToolCall("tooluse_1", "weather", {"city": "Paris"})),
        ChatMessage.tool_result("tooluse_1", "sunny"),
    ]
    request = CompletionRequest(history, tools=[Tool("weather")], tool_choice="none")
    with pytest.raises(InvalidRequestError, match="no tool_choice 'none'"):
        await provider(capture).complete(request)
    assert capture.requests == []


async def test_tool_calls_and_results_are_tool_use_and_tool_result_blocks() -> None:
    capture = Capture()
    history = [
        ChatMessage.user("Weather in Paris and Rome?"),
        ChatMessage.assistant(
            "Checking.",
            ToolCall("tooluse_1", "weather", {"city": "Paris"}),
            ToolCall("tooluse_2", "weather", {"city": "Rome"}),
        ),
        ChatMessage.tool_result("tooluse_1", "sunny"),
        ChatMessage.tool_result("tooluse_2", "no such city", is_error=True),
        ChatMessage.user("Thanks"),
    ]
    await provider(capture).complete(CompletionRequest(history, tools=[Tool("weather")]))
    assert capture.body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_1",
                        "name": "weather",
                        "input": {"city": "Paris"},
                    }
                },
                {
                    "toolUse": {
                        "toolUseId": "tooluse_2",
                        "name": "weather",
                        "input": {"city": "Rome"},
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]}},
                {
                    "toolResult": {
                        "toolUseId": "tooluse_2",
                        "content": [{"text": "no such city"}],
                        "status": "error",
                    }
                },
                {"text": "Thanks"},
            ],
        },
    ]


async def test_images_documents_and_cache_points_are_content_blocks() -> None:
    capture = Capture()
    request = CompletionRequest(
        [
            ChatMessage.system("You classify e-mails.", CachePoint()),
            ChatMessage.user(
                "Classify this",
                ImagePart(data=PNG),
                DocumentPart(data=PDF, name="invoice.pdf"),
                CachePoint(),
            ),
        ],
        top_p=0.9,
        stop=["END"],
    )
    await provider(capture).complete(request)
    body = capture.body
    assert body["system"] == [
        {"text": "You classify e-mails."},
        {"cachePoint": {"type": "default"}},
    ]
    assert body["messages"][0]["content"] == [
        {"text": "Classify this"},
        {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}},
        {
            "document": {
                "format": "pdf",
                "name": "invoice",
                "source": {"bytes": base64.b64encode(PDF).decode()},
            }
        },
        {"cachePoint": {"type": "default"}},
    ]
    assert body["inferenceConfig"] == {"maxTokens": 1024, "topP": 0.9, "stopSequences": ["END"]}


async def test_s3_urls_are_s3_locations_and_web_urls_are_refused() -> None:
    capture = Capture()
    request = CompletionRequest(
        [ChatMessage.user("Look", ImagePart(url="s3://bucket/cat.png", media_type="image/png"))]
    )
    await provider(capture).complete(request)
    image = capture.body["messages"][0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/cat.png"}}}
    web = CompletionRequest(
        [ChatMessage.user("Look", ImagePart(url="https://x.test/cat.png", media_type="image/png"))]
    )
    with pytest.raises(InvalidRequestError, match="s3://"):
        await provider(capture).complete(web)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (ImagePart(data=b"not an image", media_type="image/bmp"), "image/png, image/jpeg"),
        (ImagePart(data=b"not an image"), "give ImagePart a media_type"),
        (DocumentPart(data=b"x", media_type="application/zip"), "application/pdf, text/csv"),
    ],
)
async def test_media_bedrock_refuses_is_an_invalid_request(part: Any, message: str) -> None:
    capture = Capture()
    with pytest.raises(InvalidRequestError, match=message):
        await provider(capture).complete(CompletionRequest([ChatMessage.user("See", part)]))
    assert capture.requests == []


def test_document_names_are_cleaned_to_what_converse_accepts() -> None:
    assert document_name("Q3 report (final).pdf", "pdf", 1) == "Q3 report (final)"
    assert document_name("a..b__c  d.txt", "txt", 1) == "a-b-c d"
    assert document_name("***", "pdf", 2) == "document-2"
    assert document_name(None, "pdf", 3) == "document-3"


async def test_repeated_document_names_are_numbered() -> None:
    capture = Capture()
    doc = DocumentPart(data=PDF, name="scan.pdf")
    await provider(capture).complete(CompletionRequest([ChatMessage.user("Compare", doc, doc)]))
    names = [b["document"]["name"] for b in capture.body["messages"][0]["content"][1:]]
    assert names == ["scan", "scan (2)"]


async def test_reasoning_for_claude_goes_in_additional_model_request_fields() -> None:
    capture = Capture()
    request = CompletionRequest(
        [ChatMessage.user("Think")],
        max_tokens=4096,
        reasoning=ReasoningConfig(budget_tokens=2048, include_text=True),
    )
    await provider(capture, "us.anthropic.claude-sonnet-4-5-20250929-v1:0").complete(request)
    assert capture.body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    assert "temperature" not in capture.body["inferenceConfig"]


async def test_reasoning_on_a_model_without_a_mapping_is_refused() -> None:
    capture = Capture()
    request = CompletionRequest(
        [ChatMessage.user("Think")], reasoning=ReasoningConfig(effort="low")
    )
    with pytest.raises(InvalidRequestError, match="additionalModelRequestFields"):
        await provider(capture, "amazon.nova-pro-v1:0").complete(request)


async def test_thinking_refuses_a_temperature_and_a_forced_tool() -> None:
    capture = Capture()
    thinking = ReasoningConfig(budget_tokens=1024)
    hot = CompletionRequest(
        [ChatMessage.user("x")], temperature=0.3, max_tokens=4096, reasoning=thinking
    )
    with pytest.raises(InvalidRequestError, match="temperature"):
        await provider(capture).complete(hot)
    forced = CompletionRequest(
        [ChatMessage.user("x")],
        max_tokens=4096,
        tools=[Tool("t")],
        tool_choice="required",
        reasoning=thinking,
    )
    with pytest.raises(InvalidRequestError, match="forced tool_choice"):
        await provider(capture).complete(forced)


async def test_reasoning_parts_go_back_with_their_signature_or_redacted_data() -> None:
    capture = Capture()
    history = [
        ChatMessage.user("Q"),
        ChatMessage.assistant(
            ReasoningPart("I think", signature="sig-1", provider="bedrock"),
            ReasoningPart("", signature="cmVkYWN0ZWQ=", provider="bedrock", redacted=True),
            ReasoningPart("other vendor's", signature="x", provider="anthropic"),
            "A",
        ),
        ChatMessage.user("Again"),
    ]
    await provider(capture).complete(CompletionRequest(history))
    assert capture.body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "I think", "signature": "sig-1"}}},
        {"reasoningContent": {"redactedContent": "cmVkYWN0ZWQ="}},
        {"text": "A"},
    ]


async def test_json_schema_is_an_instruction_or_native_text_format() -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    request = CompletionRequest([ChatMessage.user("Label it")], json_schema=schema)
    capture = Capture()
    await provider(capture).complete(request)
    assert "JSON Schema" in capture.body["system"][-1]["text"]
    native = Capture()
    await provider(native, structured_outputs=True).complete(request)
    text_format = native.body["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == schema


async def test_temperature_above_one_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="0 to 1"):
        await provider(Capture()).complete(
            CompletionRequest([ChatMessage.user("x")], temperature=1.5)
        )
    with pytest.raises(ValueError, match="0 to 1"):
        provider(Capture(), config=ModelConfig("bedrock", MODEL, temperature=1.2))


def test_arn_model_ids_are_one_percent_encoded_path_segment() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-x"
    dialect = BedrockDialect(ModelConfig("bedrock", arn), base_url="https://b.test")
    assert dialect.url(stream=True) == (
        "https://b.test/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
        "inference-profile%2Fus.anthropic.claude-x/converse-stream"
    )


# --- Auth -----------------------------------------------------------------------------


async def test_sigv4_headers_are_present_and_verify_with_botocore() -> None:
    capture = Capture()
    await provider(capture).complete(CompletionRequest([ChatMessage.user("Hello")]))
    sent = capture.requests[-1]
    authorization = sent.headers["authorization"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={TEST_ACCESS_KEY}/"
        f"{sent.headers['x-amz-date'][:8]}/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature="
    )
    assert "x-amz-security-token" not in sent.headers
    assert signed_by_test_keys(sent) is None


async def test_signature_check_fails_for_a_changed_body_or_secret() -> None:
    # The self-check itself must be able to fail: a tampered body and a wrong secret.
    capture = Capture()
    await provider(capture).complete(CompletionRequest([ChatMessage.user("Hello")]))
    sent = capture.requests[-1]
    tampered = check_signature(
        "POST", sent.url.raw_path.decode(), sent.headers, sent.content + b" ", TEST_KEYS
    )
    assert tampered == "mismatch"
    other = Capture()
    wrong = Credentials(TEST_ACCESS_KEY, "not-the-secret")
    await provider(other, aws_credentials=wrong).complete(
        CompletionRequest([ChatMessage.user("Hello")])
    )
    assert signed_by_test_keys(other.requests[-1]) == "mismatch"
    late = datetime.now(UTC) + timedelta(minutes=20)
    assert (
        check_signature(
            "POST", sent.url.raw_path.decode(), sent.headers, sent.content, TEST_KEYS, now=late
        )
        == "expired"
    )


async def test_each_request_is_signed_afresh_with_its_own_body() -> None:
    capture = Capture()
    bedrock = provider(capture)
    await bedrock.complete(CompletionRequest([ChatMessage.user("one")]))
    await bedrock.complete(CompletionRequest([ChatMessage.user("two")]))
    first, second = capture.requests
    assert first.headers["authorization"] != second.headers["authorization"]
    assert signed_by_test_keys(first) is None
    assert signed_by_test_keys(second) is None


async def test_temporary_credentials_send_and_sign_the_session_token() -> None:
    capture = Capture()
    temporary = Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY, "session-token-value")
    await provider(capture, aws_credentials=temporary).complete(
        CompletionRequest([ChatMessage.user("x")])
    )
    sent = capture.requests[-1]
    assert sent.headers["x-amz-security-token"] == "session-token-value"
    assert "x-amz-security-token" in sent.headers["authorization"]
    assert signed_by_test_keys(sent) is None


async def test_refreshable_credentials_are_refreshed_when_they_expire() -> None:
    calls: list[int] = []

    def refresh() -> dict[str, str]:
        calls.append(1)
        return {
            "access_key": TEST_ACCESS_KEY,
            "secret_key": TEST_SECRET_KEY,
            "token": f"token-{len(calls)}",
            "expiry_time": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
        }

    stale = RefreshableCredentials.create_from_metadata(
        metadata={
            "access_key": "AKIDASHFORDFAKE00002",
            "secret_key": "expired-secret",
            "token": "token-0",
            "expiry_time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
        refresh_using=refresh,
        method="test",
    )
    capture = Capture()
    bedrock = provider(capture, aws_credentials=stale)
    await bedrock.complete(CompletionRequest([ChatMessage.user("x")]))
    sent = capture.requests[-1]
    assert calls  # the expired credentials were refreshed before signing
    assert sent.headers["x-amz-security-token"].startswith("token-")
    assert sent.headers["x-amz-security-token"] != "token-0"
    assert signed_by_test_keys(sent) is None


async def test_the_credential_chain_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    capture = Capture()
    bedrock = BedrockProvider(
        ModelConfig("bedrock", MODEL),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(capture)),
    )
    await bedrock.complete(CompletionRequest([ChatMessage.user("x")]))
    sent = capture.requests[-1]
    assert sent.url.host == "bedrock-runtime.eu-west-3.amazonaws.com"
    assert "/eu-west-3/bedrock/aws4_request" in sent.headers["authorization"]
    assert signed_by_test_keys(sent) is None


def test_no_credentials_anywhere_fails_before_any_request() -> None:
    with pytest.raises(MissingCredentialsError, match="AWS_BEARER_TOKEN_BEDROCK"):
        BedrockProvider(ModelConfig("bedrock", MODEL), region=REGION)


def test_no_region_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="region"):
        BedrockProvider(ModelConfig("bedrock", MODEL), api_key="k" * 20)
    with pytest.raises(ValueError, match="AWS region name"):
        BedrockProvider(ModelConfig("bedrock", MODEL), api_key="k" * 20, region="evil.host/x")


async def test_a_bedrock_api_key_is_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKfromtheenvironment0000")
    capture = Capture()
    bedrock = BedrockProvider(
        ModelConfig("bedrock", MODEL),
        region=REGION,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(capture)),
    )
    await bedrock.complete(CompletionRequest([ChatMessage.user("x")]))
    sent = capture.requests[-1]
    assert sent.headers["authorization"] == "Bearer ABSKfromtheenvironment0000"
    assert "x-amz-date" not in sent.headers


def test_a_bearer_key_is_refused_over_plain_http_to_another_host() -> None:
    with pytest.raises(ValueError, match="HTTPS"):
        BedrockProvider(
            ModelConfig("bedrock", MODEL), region=REGION, api_key="k" * 20, base_url="http://b.test"
        )


def test_a_key_and_aws_credentials_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        BedrockProvider(
            ModelConfig("bedrock", MODEL),
            region=REGION,
            api_key="k" * 20,
            aws_credentials=Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY),
        )


def test_repr_shows_model_and_region_and_no_credential() -> None:
    bedrock = provider(Capture())
    text = repr(bedrock) + repr(bedrock.signer)
    assert "us-east-1" in text
    assert MODEL in text
    assert TEST_SECRET_KEY not in text
    assert TEST_ACCESS_KEY not in text


# --- Config and registry ------------------------------------------------------------------


def test_provider_from_config_and_toml_build_a_bedrock_provider() -> None:
    config = StackConfig.from_toml(
        f"""
[model]
provider = "bedrock"
model = "{MODEL}"

[provider]
region = "eu-central-1"
timeout = 30
"""
    )
    built = provider_from_config(
        config.model,
        **config.provider,
        aws_credentials=Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY),
    )
    assert isinstance(built, BedrockProvider)
    assert built.base_url == "https://bedrock-runtime.eu-central-1.amazonaws.com"
    assert built.info.otel_provider_name == "aws.bedrock"
    assert built.info.server_address == "bedrock-runtime.eu-central-1.amazonaws.com"


# --- Answers -------------------------------------------------------------------------------


async def test_reasoning_text_and_tool_use_blocks_become_parts_in_order() -> None:
    body = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Paris?", "signature": "sig"}}},
                    {"reasoningContent": {"redactedContent": "b3BhcXVl"}},
                    {"text": "Let me check."},
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_ab12",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    },
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": 120,
            "outputTokens": 35,
            "totalTokens": 255,
            "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 100,
        },
        "metrics": {"latencyMs": 812},
    }
    response = await provider(Capture(httpx.Response(200, json=body))).complete(
        CompletionRequest([ChatMessage.user("Weather in Paris?")])
    )
    assert response.parts == (
        ReasoningPart("Paris?", signature="sig", provider="bedrock"),
        ReasoningPart("", signature="b3BhcXVl", provider="bedrock", redacted=True),
        *ChatMessage.assistant("Let me check.").parts,
        ToolCall("tooluse_ab12", "get_weather", {"city": "Paris"}),
    )
    assert response.finish_reason == "tool_calls"
    assert response.reasoning_text == "Paris?"
    assert (response.input_tokens, response.cache_write_tokens, response.cached_input_tokens) == (
        220,
        100,
        0,
    )


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "other"),
    ],
)
async def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: str) -> None:
    body = dict(OK, stopReason=stop_reason)
    response = await provider(Capture(httpx.Response(200, json=body))).complete(
        CompletionRequest([ChatMessage.user("x")])
    )
    assert response.finish_reason == finish


async def test_a_filtered_answer_without_text_is_a_content_filter_error() -> None:
    body = {
        "output": {"message": {"role": "assistant", "content": []}},
        "stopReason": "content_filtered",
        "usage": {"inputTokens": 1, "outputTokens": 0, "totalTokens": 1},
        "metrics": {"latencyMs": 1},
    }
    with pytest.raises(ContentFilterError):
        await provider(Capture(httpx.Response(200, json=body))).complete(
            CompletionRequest([ChatMessage.user("x")])
        )
    body["stopReason"] = "end_turn"
    with pytest.raises(EmptyResponseError):
        await provider(Capture(httpx.Response(200, json=body))).complete(
            CompletionRequest([ChatMessage.user("x")])
        )


async def test_a_truncated_body_is_a_response_decode_error() -> None:
    reply = httpx.Response(200, content=json.dumps(OK).encode()[:40])
    with pytest.raises(ResponseDecodeError):
        await provider(Capture(reply)).complete(CompletionRequest([ChatMessage.user("x")]))


# --- Errors, row by row ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "cls"),
    [
        ("ThrottlingException", 429, RateLimitError),
        ("ModelNotReadyException", 429, ServerError),
        ("InternalServerException", 500, ServerError),
        ("ServiceUnavailableException", 503, ServerError),
        ("ModelErrorException", 424, ServerError),
        ("ModelTimeoutException", 408, LLMTimeoutError),
        ("ValidationException", 400, InvalidRequestError),
        ("ResourceNotFoundException", 404, InvalidRequestError),
        ("ServiceQuotaExceededException", 400, QuotaExhaustedError),
        ("AccessDeniedException", 403, PermissionDeniedError),
        ("UnrecognizedClientException", 403, PermissionDeniedError),
        ("InvalidSignatureException", 403, PermissionDeniedError),
        ("ExpiredTokenException", 403, AuthenticationError),
        ("SomethingNewException", 502, ServerError),
    ],
)
async def test_error_name_from_header_maps_to_its_class(
    name: str, status: int, cls: type[LLMError]
) -> None:
    reply = httpx.Response(
        status,
        json={"message": f"{name} happened"},
        headers={
            "x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": "req-err",
        },
    )
    with pytest.raises(LLMError) as caught:
        await provider(Capture(reply)).complete(CompletionRequest([ChatMessage.user("x")]))
    error = caught.value
    assert type(error) is cls
    assert (error.error_type, error.status, error.request_id, error.provider) == (
        name,
        status,
        "req-err",
        "bedrock",
    )
    assert error.message == f"{name} happened"


async def test_error_name_from_the_body_type_when_the_header_is_missing() -> None:
    reply = httpx.Response(
        400,
        json={
            "__type": "com.amazon.coral.service#ServiceQuotaExceededException",
            "Message": "quota",
        },
    )
    with pytest.raises(QuotaExhaustedError, match="quota"):
        await provider(Capture(reply)).complete(CompletionRequest([ChatMessage.user("x")]))


async def test_an_html_error_page_falls_back_to_the_status() -> None:
    reply = httpx.Response(502, content=b"<html>Bad Gateway</html>")
    with pytest.raises(ServerError, match="HTTP 502"):
        await provider(Capture(reply)).complete(CompletionRequest([ChatMessage.user("x")]))


def test_the_toml_example_in_docs_providers_builds_a_bedrock_provider() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text()
    bedrock_section = text[text.index("## AWS Bedrock") :]
    match = re.search(r"```toml\n(.*?)```", bedrock_section, re.DOTALL)
    assert match is not None
    config = StackConfig.from_toml(match.group(1))
    built = provider_from_config(
        config.model,
        **config.provider,
        aws_credentials=Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY),
    )
    assert isinstance(built, BedrockProvider)
    assert (built.region, built.model) == ("us-east-1", config.model.model)
