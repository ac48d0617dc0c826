"""Vertex AI's URLs, headers and bodies, literally, for Gemini and Claude, whole and streamed.

Each provider runs over an httpx.MockTransport that keeps the requests it received. The URL
forms are those of Google's genai SDK (`_api_client.py`: the global host, the `us`/`eu`
multi-region hosts, `{location}-aiplatform.googleapis.com`) and Anthropic's Vertex client
(`lib/vertex/_client.py`: `:rawPredict`/`:streamRawPredict`, the model out of the body and
`anthropic_version: "vertex-2023-10-16"` into it).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ashford_llm import (
    ChatMessage,
    CompletionRequest,
    InvalidRequestError,
    ModelConfig,
    StackConfig,
    StreamEnd,
    TextDelta,
)
from ashford_llm.providers import StaticCredentials
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.providers.vertex import (
    GoogleAuthCredentials,
    VertexAnthropicProvider,
    VertexGeminiProvider,
    vertex_provider,
)
from ashford_llm.providers.vertex.dialect import vertex_root

TOKEN = "ya29.test-access-token-0123456789"
REQUEST = CompletionRequest(
    [ChatMessage.system("Be brief."), ChatMessage.user("Hi")], max_tokens=256
)
GEMINI = ModelConfig("vertex", "gemini-2.5-flash", max_output_tokens=64)
CLAUDE = ModelConfig("vertex", "claude-sonnet-4-5@20250929", max_output_tokens=64)
JSON_HEADERS = {"content-type": "application/json"}
SSE_HEADERS = {"content-type": "text/event-stream"}

GEMINI_OK = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Hello!"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-1",
}
CLAUDE_OK = {
    "id": "msg_vrtx_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 2},
}


def sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def gemini_stream() -> bytes:
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]},
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "lo!"}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2},
        },
    ]
    return "".join(sse(chunk) for chunk in chunks).encode()


def claude_stream() -> bytes:
    message = {**CLAUDE_OK, "content": [], "stop_reason": None, "usage": {"input_tokens": 5}}
    events = [
        sse({"type": "message_start", "message": message}, "message_start"),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hel"},
            },
            "content_block_delta",
        ),
        sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "lo!"},
            },
            "content_block_delta",
        ),
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return "".join(events).encode()


class Capture:
    """A mock vendor that answers each request with the next reply and keeps the requests."""

    def __init__(self, *replies: httpx.Response) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.replies.pop(0)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def body(self, index: int = 0) -> Any:
        return json.loads(self.requests[index].content)


def ok(publisher: str) -> httpx.Response:
    body = GEMINI_OK if publisher == "google" else CLAUDE_OK
    return httpx.Response(200, headers=JSON_HEADERS, json=body)


def streamed(publisher: str) -> httpx.Response:
    body = gemini_stream() if publisher == "google" else claude_stream()
    return httpx.Response(200, headers=SSE_HEADERS, content=body)


def make(config: ModelConfig, capture: Capture, **options: Any) -> Any:
    options.setdefault("access_token", TOKEN)
    options.setdefault("project", "my-project")
    return vertex_provider(config, http_client=capture.client(), **options)


URLS = [
    (
        "google",
        "global",
        False,
        "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/"
        "publishers/google/models/gemini-2.5-flash:generateContent",
    ),
    (
        "google",
        "global",
        True,
        "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/"
        "publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    ),
    (
        "google",
        "europe-west4",
        False,
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/"
        "europe-west4/publishers/google/models/gemini-2.5-flash:generateContent",
    ),
    (
        "google",
        "us",
        True,
        "https://aiplatform.us.rep.googleapis.com/v1/projects/my-project/locations/us/"
        "publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
    ),
    (
        "anthropic",
        "global",
        False,
        "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/"
        "publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
    ),
    (
        "anthropic",
        "us-east5",
        False,
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5/"
        "publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
    ),
    (
        "anthropic",
        "us-east5",
        True,
        "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5/"
        "publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
    ),
    (
        "anthropic",
        "eu",
        True,
        "https://aiplatform.eu.rep.googleapis.com/v1/projects/my-project/locations/eu/"
        "publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
    ),
]


async def run(provider: Any, *, stream: bool) -> tuple[str, str]:
    """Calls once; returns the text and the provider name the response reported."""
    if not stream:
        response = await provider.complete(REQUEST)
        return response.content, response.provider
    text, final = "", None
    async for event in provider.stream(REQUEST):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, StreamEnd):
            final = event.response
    assert final is not None
    assert final.content == text
    return text, final.provider


@pytest.mark.parametrize(("publisher", "location", "stream", "url"), URLS)
async def test_the_url_is_vertex_s_for_the_publisher_location_and_mode(
    publisher: str, location: str, stream: bool, url: str
) -> None:
    capture = Capture(streamed(publisher) if stream else ok(publisher))
    config = GEMINI if publisher == "google" else CLAUDE
    async with make(config, capture, location=location) as provider:
        text, name = await run(provider, stream=stream)
    assert (text, name) == ("Hello!", "vertex")
    (request,) = capture.requests
    assert str(request.url) == url
    assert request.method == "POST"


@pytest.mark.parametrize("publisher", ["google", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
async def test_the_headers_carry_the_bearer_token_and_no_vendor_key(
    publisher: str, stream: bool
) -> None:
    capture = Capture(streamed(publisher) if stream else ok(publisher))
    config = GEMINI if publisher == "google" else CLAUDE
    async with make(config, capture) as provider:
        await run(provider, stream=stream)
    headers = capture.requests[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"] == "application/json"
    for absent in ("x-goog-api-key", "x-api-key", "anthropic-version", "x-goog-user-project"):
        assert absent not in headers


async def test_the_gemini_body_is_the_generate_content_request() -> None:
    capture = Capture(ok("google"), streamed("google"))
    async with make(GEMINI, capture) as provider:
        await run(provider, stream=False)
        await run(provider, stream=True)
    expected = {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": {"maxOutputTokens": 256},
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    assert capture.body(0) == expected
    assert capture.body(1) == expected  # streaming is in the URL, not the body


@pytest.mark.parametrize("stream", [False, True])
async def test_the_claude_body_has_anthropic_version_first_and_no_model(stream: bool) -> None:
    capture = Capture(streamed("anthropic") if stream else ok("anthropic"))
    async with make(CLAUDE, capture) as provider:
        await run(provider, stream=stream)
    raw = capture.requests[0].content
    assert raw.startswith(b'{"anthropic_version":"vertex-2023-10-16",')
    expected: dict[str, Any] = {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
        "system": "Be brief.",
    }
    if stream:
        expected["stream"] = True
    assert capture.body() == expected


async def test_claude_options_change_the_version_and_vendor_options_win() -> None:
    capture = Capture(ok("anthropic"), ok("anthropic"))
    async with make(CLAUDE, capture, anthropic_version="vertex-2099-01-01") as provider:
        await provider.complete(REQUEST)
        overridden = CompletionRequest(
            REQUEST.messages, vendor_options={"anthropic_version": "from-caller"}
        )
        await provider.complete(overridden)
    assert capture.body(0)["anthropic_version"] == "vertex-2099-01-01"
    assert capture.body(1)["anthropic_version"] == "from-caller"
    assert "model" not in capture.body(1)


@pytest.mark.parametrize("publisher", ["google", "anthropic"])
async def test_a_quota_project_is_sent_as_x_goog_user_project(publisher: str) -> None:
    capture = Capture(ok(publisher))
    config = GEMINI if publisher == "google" else CLAUDE
    async with make(config, capture, quota_project="billing-project") as provider:
        await provider.complete(REQUEST)
    assert capture.requests[0].headers["x-goog-user-project"] == "billing-project"


class QuotaCredentials:
    """A google-auth-like object with a token, no expiry and a quota project."""

    def __init__(self) -> None:
        self.token: str | None = TOKEN
        self.expiry = None
        self.quota_project_id = "adc-quota-project"

    def refresh(self, request: Any) -> None:
        raise AssertionError("a token without expiry is not refreshed")


async def test_the_google_credentials_quota_project_is_sent() -> None:
    capture = Capture(ok("google"))
    async with make(
        GEMINI, capture, access_token=None, google_credentials=QuotaCredentials()
    ) as provider:
        assert isinstance(provider.credentials, GoogleAuthCredentials)
        await provider.complete(REQUEST)
    headers = capture.requests[0].headers
    assert headers["x-goog-user-project"] == "adc-quota-project"
    assert headers["authorization"] == f"Bearer {TOKEN}"


def test_the_provider_reports_vertex_and_the_semconv_name() -> None:
    capture = Capture()
    for config, cls in ((GEMINI, VertexGeminiProvider), (CLAUDE, VertexAnthropicProvider)):
        provider = make(config, capture, location="us-central1")
        assert isinstance(provider, cls)
        info = provider.info
        assert (info.name, info.otel_provider_name) == ("vertex", "gcp.vertex_ai")
        assert (info.server_address, info.server_port) == (
            "us-central1-aiplatform.googleapis.com",
            443,
        )


@pytest.mark.parametrize(
    ("location", "root"),
    [
        ("global", "https://aiplatform.googleapis.com"),
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
        ("asia-northeast1", "https://asia-northeast1-aiplatform.googleapis.com"),
    ],
)
def test_vertex_root_follows_the_location(location: str, root: str) -> None:
    assert vertex_root(location) == root


def test_the_registry_builds_vertex_by_model_and_by_publisher() -> None:
    options = {"project": "p", "access_token": TOKEN}
    assert isinstance(provider_from_config(GEMINI, **options), VertexGeminiProvider)
    assert isinstance(provider_from_config(CLAUDE, **options), VertexAnthropicProvider)
    proxied = ModelConfig("vertex", "my-tuned-claude")
    forced = provider_from_config(proxied, publisher="anthropic", **options)
    assert isinstance(forced, VertexAnthropicProvider)
    with pytest.raises(ValueError, match="publisher must be"):
        provider_from_config(proxied, publisher="openai", **options)


def test_the_toml_config_passes_project_and_location() -> None:
    stack = StackConfig.from_toml(
        """
        [model]
        provider = "vertex"
        model = "claude-sonnet-4-5@20250929"

        [provider]
        project = "toml-project"
        location = "europe-west1"
        """
    )
    provider = provider_from_config(stack.model, access_token=TOKEN, **stack.provider)
    assert provider.dialect.url(stream=True) == (
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/toml-project/locations/"
        "europe-west1/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    )


def test_a_token_in_the_toml_provider_table_is_refused() -> None:
    text = '[model]\nprovider = "vertex"\nmodel = "m"\n[provider]\naccess_token = "t"\n'
    with pytest.raises(ValueError, match="access_token"):
        StackConfig.from_toml(text)


def test_project_and_location_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOOGLE_CLOUD_PROJECT",
        "ANTHROPIC_VERTEX_PROJECT_ID",
        "GOOGLE_CLOUD_LOCATION",
        "CLOUD_ML_REGION",
        "GOOGLE_VERTEX_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT or ANTHROPIC_VERTEX_PROJECT_ID"):
        VertexAnthropicProvider(CLAUDE, access_token=TOKEN)
    with pytest.raises(ValueError, match=r"pass project= or set GOOGLE_CLOUD_PROJECT$"):
        VertexGeminiProvider(GEMINI, access_token=TOKEN)
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "anthropic-env")
    monkeypatch.setenv("CLOUD_ML_REGION", "us-east5")
    claude = VertexAnthropicProvider(CLAUDE, access_token=TOKEN)
    assert "/projects/anthropic-env/locations/us-east5/" in claude.dialect.url(stream=False)
    assert claude.base_url == "https://us-east5-aiplatform.googleapis.com"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "google-env")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", "http://proxy.test/")
    gemini = VertexGeminiProvider(GEMINI, access_token=TOKEN)
    assert gemini.dialect.url(stream=False) == (
        "http://proxy.test/v1/projects/google-env/locations/europe-west4/publishers/google/"
        "models/gemini-2.5-flash:generateContent"
    )
    # Unset everywhere, the location is "global".
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION")
    monkeypatch.delenv("GOOGLE_VERTEX_BASE_URL")
    assert VertexGeminiProvider(GEMINI, access_token=TOKEN).base_url == vertex_root("global")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"project": "p/../../other"}, "project must be"),
        ({"location": "us-central1/x"}, "location must be"),
        ({"location": "US Central"}, "location must be"),
        ({"api_version": " "}, "api_version"),
        ({"credentials": StaticCredentials(TOKEN)}, "pass one of"),
        ({"base_url": "ftp://x"}, "http"),
    ],
)
def test_bad_options_are_refused_before_any_request(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(GEMINI, Capture(), **options)


@pytest.mark.parametrize("model", ["models/../tunedModels/x", "a?b", "x#y", "gemini 2"])
def test_a_model_that_is_not_one_path_segment_is_refused(model: str) -> None:
    with pytest.raises(ValueError, match="model must be"):
        make(ModelConfig("vertex", model), Capture())


def test_a_gemini_models_prefix_is_dropped() -> None:
    provider = make(ModelConfig("vertex", "models/gemini-2.5-flash"), Capture())
    assert provider.dialect.url(stream=False).endswith("/models/gemini-2.5-flash:generateContent")


def test_another_provider_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'vertex'"):
        VertexGeminiProvider(ModelConfig("google", "gemini-2.5-flash"), project="p")


async def test_a_refused_request_names_vertex_and_sends_nothing() -> None:
    capture = Capture()
    async with make(CLAUDE, capture) as provider:
        with pytest.raises(InvalidRequestError) as caught:
            await provider.complete(CompletionRequest([ChatMessage.system("only system")]))
    assert caught.value.provider == "vertex"
    assert capture.requests == []


async def test_the_providers_page_vertex_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from tests.test_docs import run_page, section

    monkeypatch.delenv("GOOGLE_VERTEX_BASE_URL", raising=False)
    page = Path(__file__).resolve().parents[2] / "docs" / "providers.md"
    offset, text = section(page.read_text(encoding="utf-8"), "## Vertex AI")
    namespace = await run_page("docs/providers.md", text, offset)
    assert namespace["response"].provider == "vertex"
    assert isinstance(namespace["claude"], VertexAnthropicProvider)
    assert namespace["gemini"].base_url == "https://aiplatform.googleapis.com"


@pytest.mark.parametrize("page", ["config.md", "providers.md"])
def test_the_documented_vertex_toml_builds_a_vertex_provider(
    page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re
    from pathlib import Path

    monkeypatch.delenv("GOOGLE_VERTEX_BASE_URL", raising=False)
    text = (Path(__file__).resolve().parents[2] / "docs" / page).read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if '"vertex"' in b]
    assert blocks, f"docs/{page} has no Vertex TOML example"
    for block in blocks:
        stack = StackConfig.from_toml(block)
        provider = provider_from_config(stack.model, access_token=TOKEN, **stack.provider)
        assert provider.dialect.url(stream=False).startswith(
            f"{vertex_root(stack.provider['location'])}/v1/projects/my-project/"
        )
