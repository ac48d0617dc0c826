"""Azure OpenAI: literal URLs and headers for both URL styles and both auths; the error map.

Bodies and error shapes follow Microsoft's docs (content-filter.md: a filtered prompt is a 400
with `code: "content_filter"` and `innererror.content_filter_result`; a filtered completion
has `finish_reason: "content_filter"` and `content_filter_results` on the choice; a stream
opens with an annotation chunk that has no choices and an empty id).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    CompletionRequest,
    ConfigError,
    ContentFilterError,
    InvalidRequestError,
    LLMError,
    MissingCredentialsError,
    ModelConfig,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamEnd,
    TextDelta,
    provider_from_config,
)
from ashford_llm.providers import AzureOpenAIProvider, StaticCredentials

KEY = "azure-key-0123456789abcdef"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token"
ENDPOINT = "https://my-resource.openai.azure.com"
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}
REQUEST = CompletionRequest([ChatMessage.system("Be brief."), ChatMessage.user("Hi")])
SAFE = {"filtered": False, "severity": "safe"}
PROMPT_RESULTS = {
    "hate": SAFE,
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": {"filtered": True, "severity": "medium"},
    "sexual": SAFE,
    "violence": SAFE,
}
ANSWER_RESULTS = {
    "hate": SAFE,
    "violence": {"filtered": True, "severity": "high"},
    "protected_material_text": {"filtered": False, "detected": False},
}
PROMPT_FILTERED = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": PROMPT_RESULTS,
        },
    }
}


def completion(
    content: str | None, finish: str = "stop", results: dict[str, Any] | None = None
) -> bytes:
    """An Azure chat completion with its filter annotations."""
    return json.dumps(
        {
            "id": "chatcmpl-az1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "prompt_filter_results": [
                {"prompt_index": 0, "content_filter_results": {"hate": SAFE, "violence": SAFE}}
            ],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": content},
                    "content_filter_results": results or {"hate": SAFE, "violence": SAFE},
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
        }
    ).encode()


def sse(data: object) -> str:
    return f"data: {json.dumps(data)}\n\n"


def stream_body(pieces: list[str], *, finish: str = "stop", results: Any = None) -> bytes:
    """An Azure stream: the prompt-annotation chunk first, then annotated OpenAI chunks."""
    annotation = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [
            {"prompt_index": 0, "content_filter_results": {"hate": SAFE, "violence": SAFE}}
        ],
    }

    def chunk(delta: dict[str, str], finish_reason: str | None, verdicts: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        if verdicts is not None:
            choice["content_filter_results"] = verdicts
        return {"id": "chatcmpl-az2", "model": "gpt-4o-mini-2024-07-18", "choices": [choice]}

    frames = [sse(annotation), sse(chunk({"role": "assistant", "content": ""}, None, None))]
    frames += [sse(chunk({"content": p}, None, {"hate": SAFE})) for p in pieces]
    frames.append(sse(chunk({}, finish, results or {"hate": SAFE})))
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    frames.append(sse({"id": "chatcmpl-az2", "choices": [], "usage": usage}))
    frames.append("data: [DONE]\n\n")
    return "".join(frames).encode()


class Capture:
    """A MockTransport handler keeping each request; answers from a script, else a completion."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(200, headers=JSON, content=completion("Hello!"))


def azure(capture: Capture, **options: Any) -> AzureOpenAIProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(capture))
    options.setdefault("endpoint", ENDPOINT)
    if "credentials" not in options:
        options.setdefault("api_key", KEY)
    config = ModelConfig("azure", "gpt4o-prod", max_output_tokens=100)
    return AzureOpenAIProvider(config, http_client=client, **options)


@pytest.fixture(autouse=True)
def _no_azure_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_AD_TOKEN",
        "OPENAI_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)


# URLs, headers and bodies ---------------------------------------------------------------


async def test_v1_style_posts_to_the_v1_path_without_api_version() -> None:
    capture = Capture()
    response = await azure(capture).complete(REQUEST)
    sent = capture.requests[0]
    assert str(sent.url) == "https://my-resource.openai.azure.com/openai/v1/chat/completions"
    assert sent.url.params == httpx.QueryParams()
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert json.loads(sent.content) == {
        "model": "gpt4o-prod",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_completion_tokens": 100,
    }
    assert response.provider == "azure"
    assert response.content == "Hello!"


async def test_deployments_style_puts_the_deployment_in_the_path_and_the_api_version() -> None:
    capture = Capture()
    await azure(capture, api_style="deployments").complete(REQUEST)
    assert str(capture.requests[0].url) == (
        "https://my-resource.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions"
        "?api-version=2024-10-21"
    )


async def test_deployments_style_takes_the_version_and_deployment_given() -> None:
    capture = Capture()
    provider = azure(
        capture,
        api_style="deployments",
        deployment="team a/gpt",
        api_version="2025-04-01-preview",
    )
    await provider.complete(REQUEST)
    assert str(capture.requests[0].url) == (
        "https://my-resource.openai.azure.com/openai/deployments/team%20a%2Fgpt/chat/completions"
        "?api-version=2025-04-01-preview"
    )


async def test_deployments_style_reads_openai_api_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    capture = Capture()
    await azure(capture, api_style="deployments").complete(REQUEST)
    assert capture.requests[0].url.params["api-version"] == "2024-06-01"


async def test_v1_style_ignores_openai_api_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    capture = Capture()
    await azure(capture).complete(REQUEST)
    assert "api-version" not in capture.requests[0].url.params


@pytest.mark.parametrize(
    "given",
    [
        "https://my-resource.openai.azure.com/",
        "https://my-resource.openai.azure.com/openai",
        "https://my-resource.openai.azure.com/openai/v1/",
    ],
)
async def test_an_endpoint_pasted_with_its_path_is_accepted(given: str) -> None:
    capture = Capture()
    await azure(capture, endpoint=given).complete(REQUEST)
    assert str(capture.requests[0].url) == f"{ENDPOINT}/openai/v1/chat/completions"


async def test_credentials_send_a_bearer_token_and_no_api_key() -> None:
    capture = Capture()
    await azure(capture, credentials=StaticCredentials(TOKEN)).complete(REQUEST)
    headers = capture.requests[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in headers


async def test_credentials_can_supply_keys_for_the_api_key_header() -> None:
    capture = Capture()
    await azure(capture, credentials=StaticCredentials(KEY), auth="api-key").complete(REQUEST)
    assert capture.requests[0].headers["api-key"] == KEY


async def test_the_environment_gives_endpoint_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env-res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    capture = Capture()
    async with httpx.AsyncClient(transport=httpx.MockTransport(capture)) as client:
        provider = provider_from_config(ModelConfig("azure", "dep"), http_client=client)
        await provider.complete(REQUEST)
    assert (
        str(capture.requests[0].url)
        == "https://env-res.openai.azure.com/openai/v1/chat/completions"
    )
    assert capture.requests[0].headers["api-key"] == KEY


async def test_an_ad_token_in_the_environment_wins_over_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", TOKEN)
    capture = Capture()
    await azure(capture, api_key=None).complete(REQUEST)
    assert capture.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in capture.requests[0].headers


def test_without_key_the_error_names_the_variable() -> None:
    with pytest.raises(MissingCredentialsError, match="AZURE_OPENAI_API_KEY"):
        AzureOpenAIProvider(ModelConfig("azure", "dep"), endpoint=ENDPOINT)


def test_without_endpoint_the_error_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        AzureOpenAIProvider(ModelConfig("azure", "dep"), api_key=KEY)


def test_the_v1_style_refuses_an_api_version() -> None:
    with pytest.raises(ValueError, match="api_version"):
        AzureOpenAIProvider(
            ModelConfig("azure", "dep"), endpoint=ENDPOINT, api_key=KEY, api_version="2024-10-21"
        )


@pytest.mark.parametrize(
    ("option", "value"), [("api_style", "classic"), ("auth", "basic"), ("endpoint", "ftp://x")]
)
def test_bad_options_are_refused(option: str, value: str) -> None:
    options: dict[str, Any] = {"endpoint": ENDPOINT, "api_key": KEY, option: value}
    with pytest.raises(ValueError, match=option.split("_")[0]):
        AzureOpenAIProvider(ModelConfig("azure", "dep"), **options)


def test_info_names_azure_for_tracing() -> None:
    provider = azure(Capture())
    assert provider.info.name == "azure"
    assert provider.info.otel_provider_name == "azure.ai.openai"
    assert provider.info.server_address == "my-resource.openai.azure.com"
    assert provider.info.server_port == 443
    assert KEY not in repr(provider)


async def test_stream_asks_for_usage_and_skips_the_annotation_chunk() -> None:
    capture = Capture(httpx.Response(200, headers=SSE, content=stream_body(["Hel", "lo!"])))
    events = [event async for event in azure(capture).stream(REQUEST)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo!"]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == "Hello!"
    assert end.response.response_id == "chatcmpl-az2"  # not the annotation chunk's empty id
    assert end.response.model == "gpt-4o-mini-2024-07-18"
    assert (end.response.input_tokens, end.response.output_tokens) == (9, 2)
    body = json.loads(capture.requests[0].content)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


# The error map, row by row -------------------------------------------------------------

AZURE_429 = json.dumps(
    {
        "error": {
            "code": "429",
            "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
            "version 2024-10-21 have exceeded token rate limit. Please retry after 3 seconds.",
        }
    }
).encode()


def azure_error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


ERROR_ROWS = [
    (400, json.dumps(PROMPT_FILTERED).encode(), {}, ContentFilterError),
    (400, azure_error("BadRequest", "Invalid value for 'max_tokens'"), {}, InvalidRequestError),
    (
        401,
        azure_error("401", "Access denied due to invalid subscription key"),
        {},
        AuthenticationError,
    ),
    (
        403,
        azure_error("PermissionDenied", "Principal does not have access"),
        {},
        PermissionDeniedError,
    ),
    (
        404,
        azure_error("DeploymentNotFound", "The API deployment does not exist"),
        {},
        InvalidRequestError,
    ),
    (429, AZURE_429, {"retry-after": "3"}, RateLimitError),
    (
        500,
        azure_error("InternalServerError", "Backend returned unexpected response"),
        {},
        ServerError,
    ),
    (503, azure_error("ServiceUnavailable", "The service is temporarily unable"), {}, ServerError),
]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    ERROR_ROWS,
    ids=[f"{row[0]}-{row[3].__name__}" for row in ERROR_ROWS],
)
async def test_an_azure_error_maps_to_its_class(
    status: int, body: bytes, headers: dict[str, str], expected: type[LLMError], stream: bool
) -> None:
    answer = httpx.Response(status, headers=JSON | headers, content=body)
    capture = Capture(answer)
    with pytest.raises(LLMError) as caught:
        if stream:
            async for _ in azure(capture).stream(REQUEST):
                pass
        else:
            await azure(capture).complete(REQUEST)
    error = caught.value
    assert type(error) is expected
    assert error.provider == "azure"
    assert error.status == status
    if status == 429:
        assert error.retry_after == 3.0


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_a_filtered_prompt_keeps_the_filter_results(stream: bool) -> None:
    capture = Capture(
        httpx.Response(400, headers=JSON, content=json.dumps(PROMPT_FILTERED).encode())
    )
    with pytest.raises(ContentFilterError) as caught:
        if stream:
            async for _ in azure(capture).stream(REQUEST):
                pass
        else:
            await azure(capture).complete(REQUEST)
    error = caught.value
    assert error.filter_results == PROMPT_RESULTS
    assert error.error_code == "content_filter"
    assert error.error_type == "ResponsibleAIPolicyViolation"
    assert "prompt" in error.message
    assert "self_harm: medium" in error.message
    assert error.context()["filter_results"] == PROMPT_RESULTS
    assert not error.retryable
    assert len(capture.requests) == 1


async def test_a_filtered_completion_is_a_content_filter_error_with_its_results() -> None:
    capture = Capture(
        httpx.Response(
            200, headers=JSON, content=completion(None, "content_filter", ANSWER_RESULTS)
        )
    )
    with pytest.raises(ContentFilterError) as caught:
        await azure(capture).complete(REQUEST)
    assert caught.value.filter_results == ANSWER_RESULTS
    assert "violence: high" in caught.value.message
    assert caught.value.provider == "azure"


async def test_a_completion_cut_after_some_text_is_still_a_content_filter_error() -> None:
    body = completion("The first half", "content_filter", ANSWER_RESULTS)
    capture = Capture(httpx.Response(200, headers=JSON, content=body))
    with pytest.raises(ContentFilterError) as caught:
        await azure(capture).complete(REQUEST)
    assert caught.value.filter_results == ANSWER_RESULTS


async def test_a_filtered_stream_ends_in_a_content_filter_error_with_its_results() -> None:
    body = stream_body(["Once", " upon"], finish="content_filter", results=ANSWER_RESULTS)
    capture = Capture(httpx.Response(200, headers=SSE, content=body))
    texts = []
    with pytest.raises(ContentFilterError) as caught:
        async for event in azure(capture).stream(REQUEST):
            if isinstance(event, TextDelta):
                texts.append(event.text)
    assert texts == ["Once", " upon"]  # what arrived before the cut reached the caller
    assert caught.value.filter_results == ANSWER_RESULTS
    assert caught.value.provider == "azure"
    assert (caught.value.input_tokens, caught.value.output_tokens) == (9, 2)


async def test_annotations_that_filtered_nothing_do_not_raise() -> None:
    body = completion("Fine", "stop", {"hate": SAFE, "violence": SAFE})
    capture = Capture(httpx.Response(200, headers=JSON, content=body))
    response = await azure(capture).complete(REQUEST)
    assert response.content == "Fine"
    assert response.finish_reason == "stop"


async def test_a_recorded_content_filter_error_replays_with_its_results(tmp_path: Any) -> None:
    from ashford_llm.middleware import Recorder
    from ashford_llm.testing import Replay

    capture = Capture(
        httpx.Response(400, headers=JSON, content=json.dumps(PROMPT_FILTERED).encode())
    )
    recorder = Recorder(azure(capture))
    with pytest.raises(ContentFilterError):
        await recorder.complete(REQUEST)
    recorder.save(tmp_path / "filtered.json")
    with pytest.raises(ContentFilterError) as caught:
        await Replay(tmp_path / "filtered.json").complete(REQUEST)
    assert caught.value.filter_results == PROMPT_RESULTS
    assert caught.value.provider == "azure"


def test_azure_is_a_builtin_provider_name() -> None:
    from ashford_llm.providers.registry import BUILTIN_PROVIDERS, known_providers

    assert BUILTIN_PROVIDERS["azure"] == "ashford_llm.providers.azure:AzureOpenAIProvider"
    assert "azure" in known_providers()
