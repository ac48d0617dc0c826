import email.utils
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ashford_llm import (
    AuthenticationError,
    ChatMessage,
    CompletionRequest,
    ContentFilterError,
    EmptyResponseError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    MissingCredentialsError,
    ModelConfig,
    NetworkError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    StreamEnd,
    TextDelta,
)
from ashford_llm.providers import OpenAIProvider
from tests.providers.real_recordings import all_recordings, replay

KEY = "sk-proj-test0123456789abcdef"
CONFIG = ModelConfig("openai", "gpt-4o-mini", max_output_tokens=300)
HELLO = CompletionRequest([ChatMessage.system("Be brief."), ChatMessage.user("Hello")])
Handler = Callable[[httpx.Request], httpx.Response]

COMPLETION = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there", "refusal": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 21,
        "completion_tokens": 71,
        "total_tokens": 92,
        "prompt_tokens_details": {"cached_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 64},
        "some_future_field": 1,
    },
    "service_tier": "default",
}


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    body = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": None,
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


USAGE_CHUNK = (
    "data: "
    + json.dumps(
        {
            "id": "chatcmpl-s1",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        }
    )
    + "\n\n"
)
DONE = "data: [DONE]\n\n"
STREAM = chunk("") + chunk("Hel") + chunk("lo!") + chunk(finish="stop") + USAGE_CHUNK + DONE


def sse(text: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        content=text.encode(),
        headers={"content-type": "text/event-stream", "x-request-id": "req_s"},
    )


def error_body(message: str, type_: str | None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --- fake handlers --------------------------------------------------------------------------


def answer_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=COMPLETION, headers={"x-request-id": "req_123"})


def answer_stream(request: httpx.Request) -> httpx.Response:
    return sse(STREAM)


def answer_401_then_ok(request: httpx.Request) -> httpx.Response:
    if request.headers["authorization"] == f"Bearer {KEY}":
        return httpx.Response(401, json=error_body("Incorrect API key", "invalid_request_error"))
    return answer_stream(request) if b'"stream":true' in request.content else answer_ok(request)


def answer_401(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        401,
        json=error_body(f"Incorrect API key provided: {KEY}.", "invalid_request_error"),
        headers={"x-request-id": "req_401"},
    )


def answer_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def answer_refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class RotatingCredentials:
    def __init__(self) -> None:
        self.refreshes = 0

    async def get(self) -> str:
        return KEY

    async def refresh(self) -> str:
        self.refreshes += 1
        return KEY + "-rotated"


@asynccontextmanager
async def provider_for(
    handler: Handler, seen: list[httpx.Request] | None = None, **options: Any
) -> AsyncIterator[OpenAIProvider]:
    def recording(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    if "credentials" not in options:
        options.setdefault("api_key", KEY)
    config = options.pop("config", CONFIG)
    async with httpx.AsyncClient(transport=httpx.MockTransport(recording)) as client:
        yield OpenAIProvider(config, http_client=client, **options)


async def sent_body(request: CompletionRequest, stream: bool = False, **options: Any) -> Any:
    seen: list[httpx.Request] = []
    async with provider_for(answer_stream if stream else answer_ok, seen, **options) as provider:
        if stream:
            async for _ in provider.stream(request):
                pass
        else:
            await provider.complete(request)
    return json.loads(seen[0].content)


async def collect(provider: OpenAIProvider, request: CompletionRequest = HELLO) -> list[Any]:
    return [event async for event in provider.stream(request)]


async def failure(handler: Handler, *, stream: bool = False) -> LLMError:
    async with provider_for(handler) as provider:
        with pytest.raises(LLMError) as caught:
            if stream:
                await collect(provider)
            else:
                await provider.complete(HELLO)
    return caught.value


# --- request mapping ------------------------------------------------------------------------


async def test_request_goes_to_chat_completions_with_bearer_key() -> None:
    seen: list[httpx.Request] = []
    async with provider_for(answer_ok, seen) as provider:
        await provider.complete(HELLO)
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert "openai-organization" not in request.headers


async def test_request_body_maps_roles_and_config_defaults() -> None:
    body = await sent_body(HELLO)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "max_completion_tokens": 300,
    }


async def test_request_options_override_config() -> None:
    request = CompletionRequest(
        [ChatMessage.user("a"), ChatMessage.assistant("b"), ChatMessage.user("c")],
        temperature=0.3,
        max_tokens=42,
        stop=["END", "###"],
    )
    body = await sent_body(request)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 42
    assert body["stop"] == ["END", "###"]


async def test_config_temperature_is_sent_when_request_has_none() -> None:
    config = ModelConfig("openai", "gpt-4o", temperature=0.0)
    body = await sent_body(CompletionRequest([ChatMessage.user("x")]), config=config)
    assert body["temperature"] == 0.0


async def test_max_tokens_field_option_sends_max_tokens() -> None:
    body = await sent_body(HELLO, max_tokens_field="max_tokens")
    assert body["max_tokens"] == 300
    assert "max_completion_tokens" not in body


async def test_system_role_option_sends_developer_messages() -> None:
    body = await sent_body(HELLO, system_role="developer")
    assert body["messages"][0] == {"role": "developer", "content": "Be brief."}


async def test_json_mode_asks_for_a_json_object() -> None:
    body = await sent_body(CompletionRequest([ChatMessage.user("JSON please")], json_mode=True))
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("schema", "name"),
    [
        ({"title": "City Answer", "type": "object"}, "City_Answer"),
        ({"type": "object"}, "output"),
        ({"title": "x" * 80, "type": "object"}, "x" * 64),
    ],
)
async def test_json_schema_is_sent_strict_and_named(schema: dict[str, Any], name: str) -> None:
    request = CompletionRequest([ChatMessage.user("JSON")], json_mode=True, json_schema=schema)
    body = await sent_body(request)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": True},
    }


async def test_stream_request_asks_for_usage() -> None:
    body = await sent_body(HELLO, stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_plain_request_sends_no_stream_fields() -> None:
    body = await sent_body(HELLO)
    assert "stream" not in body
    assert "stream_options" not in body


async def test_organization_and_project_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    seen: list[httpx.Request] = []
    async with provider_for(answer_ok, seen) as provider:
        await provider.complete(HELLO)
    assert seen[0].headers["openai-organization"] == "org-env"
    assert seen[0].headers["openai-project"] == "proj-env"


async def test_organization_and_project_options_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    seen: list[httpx.Request] = []
    async with provider_for(answer_ok, seen, organization="org-a", project="proj-a") as provider:
        await provider.complete(HELLO)
    assert seen[0].headers["openai-organization"] == "org-a"
    assert seen[0].headers["openai-project"] == "proj-a"


async def test_base_url_comes_from_openai_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    seen: list[httpx.Request] = []
    async with provider_for(answer_ok, seen) as provider:
        await provider.complete(HELLO)
    assert str(seen[0].url) == "http://127.0.0.1:8000/v1/chat/completions"
    assert (provider.info.server_address, provider.info.server_port) == ("127.0.0.1", 8000)


async def test_base_url_argument_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    seen: list[httpx.Request] = []
    async with provider_for(answer_ok, seen, base_url="http://localhost:11434/v1") as provider:
        await provider.complete(HELLO)
    assert str(seen[0].url) == "http://localhost:11434/v1/chat/completions"


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY"):
        OpenAIProvider(CONFIG, http_client=httpx.AsyncClient())


def test_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = OpenAIProvider(CONFIG, http_client=httpx.AsyncClient())
    assert provider.dialect.headers(KEY)["Authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(provider)
    assert KEY not in repr(provider.credentials)


@pytest.mark.parametrize(
    "options",
    [
        {"max_tokens_field": "max_output_tokens"},
        {"system_role": "admin"},
        {"organization": ""},
        {"project": 3},
        {"base_url": "ftp://example.test"},
        {"timeout": 0},
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each option has its own message
        OpenAIProvider(CONFIG, api_key=KEY, http_client=httpx.AsyncClient(), **options)


def test_repr_shows_the_model_and_never_the_key() -> None:
    provider = OpenAIProvider(CONFIG, api_key=KEY, http_client=httpx.AsyncClient())
    assert repr(provider) == "OpenAIProvider(model='gpt-4o-mini')"


async def test_aclose_closes_an_owned_client_only() -> None:
    owned = OpenAIProvider(CONFIG, api_key=KEY)
    await owned.aclose()
    assert owned._client.is_closed
    async with httpx.AsyncClient() as shared:
        provider = OpenAIProvider(CONFIG, api_key=KEY, http_client=shared)
        await provider.aclose()
        assert not shared.is_closed


# --- responses ------------------------------------------------------------------------------


async def test_response_is_parsed_with_usage_ids_and_latency() -> None:
    async with provider_for(answer_ok) as provider:
        response = await provider.complete(HELLO)
    assert response.content == "Hi there"
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert (response.input_tokens, response.output_tokens) == (21, 71)
    assert (response.cached_input_tokens, response.reasoning_tokens) == (5, 64)
    assert response.finish_reason == "stop"
    assert response.provider == "openai"
    assert response.response_id == "chatcmpl-abc"
    assert response.request_id == "req_123"
    assert response.latency_ms >= 0


def completion_with(
    content: str | None, finish: str | None, refusal: str | None = None, **top: Any
) -> Handler:
    body = {
        **COMPLETION,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish,
            }
        ],
        **top,
    }
    return lambda request: httpx.Response(200, json=body)


@pytest.mark.parametrize(
    ("vendor", "normalised"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("eos", "other"),
        (None, "other"),
    ],
)
async def test_finish_reason_is_normalised(vendor: str | None, normalised: str) -> None:
    async with provider_for(completion_with("text", vendor)) as provider:
        response = await provider.complete(HELLO)
    assert response.finish_reason == normalised


async def test_refusal_is_a_content_filter_error_with_its_text() -> None:
    handler = completion_with(None, "stop", refusal="I can't help with that.")
    error = await failure(handler)
    assert isinstance(error, ContentFilterError)
    assert "I can't help with that." in str(error)
    assert not error.retryable


async def test_content_filter_without_text_is_a_content_filter_error() -> None:
    error = await failure(completion_with(None, "content_filter"))
    assert isinstance(error, ContentFilterError)


@pytest.mark.parametrize("finish", ["stop", "length"])
async def test_empty_answer_is_an_empty_response_error(finish: str) -> None:
    error = await failure(completion_with("", finish))
    assert isinstance(error, EmptyResponseError)
    assert finish in str(error)


async def test_compatible_server_without_usage_reports_zero_tokens() -> None:
    handler = completion_with("local answer", "stop", usage=None, model="llama3")
    async with provider_for(handler) as provider:
        response = await provider.complete(HELLO)
    assert (response.input_tokens, response.output_tokens) == (0, 0)
    assert response.cached_input_tokens is None
    assert response.model == "llama3"


async def test_missing_model_falls_back_to_the_config() -> None:
    async with provider_for(completion_with("ok", "stop", model=None)) as provider:
        response = await provider.complete(HELLO)
    assert response.model == "gpt-4o-mini"


def answer_error_in_200(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=error_body("backend exploded", "server_error"))


async def test_error_object_in_a_200_body_is_raised() -> None:
    error = await failure(answer_error_in_200)
    assert isinstance(error, ServerError)
    assert error.message == "backend exploded"


def answer_no_choices(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "x", "choices": []})


async def test_answer_without_choices_is_a_decode_error() -> None:
    assert isinstance(await failure(answer_no_choices), ResponseDecodeError)


def answer_truncated(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(COMPLETION).encode()[:60])


async def test_truncated_200_body_is_a_decode_error_with_an_excerpt() -> None:
    error = await failure(answer_truncated)
    assert isinstance(error, ResponseDecodeError)
    assert error.body_excerpt is not None
    assert "chatcmpl-abc" in error.body_excerpt


# --- streaming ------------------------------------------------------------------------------


async def test_stream_yields_deltas_then_one_end_with_usage() -> None:
    async with provider_for(answer_stream) as provider:
        events = await collect(provider)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["Hel", "lo!"]
    assert isinstance(events[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    response = events[-1].response
    assert response.content == "Hello!"
    assert (response.input_tokens, response.output_tokens) == (12, 3)
    assert response.finish_reason == "stop"
    assert response.response_id == "chatcmpl-s1"
    assert response.request_id == "req_s"
    assert response.model == "gpt-4o-mini-2024-07-18"


def answer_stream_without_usage(request: httpx.Request) -> httpx.Response:
    return sse(chunk("Hi") + chunk(finish="length") + DONE)


async def test_stream_without_usage_from_a_compatible_server_reports_zero_tokens() -> None:
    async with provider_for(answer_stream_without_usage) as provider:
        events = await collect(provider)
    response = events[-1].response
    assert (response.content, response.finish_reason) == ("Hi", "length")
    assert (response.input_tokens, response.output_tokens) == (0, 0)


def answer_stream_done_without_finish(request: httpx.Request) -> httpx.Response:
    return sse(chunk("Hi") + DONE)


async def test_stream_done_without_a_finish_reason_ends_as_other() -> None:
    async with provider_for(answer_stream_done_without_finish) as provider:
        events = await collect(provider)
    assert (events[-1].response.content, events[-1].response.finish_reason) == ("Hi", "other")


def answer_stream_cut(request: httpx.Request) -> httpx.Response:
    return sse(chunk("Hel") + chunk("lo"))


def answer_stream_cut_after_finish(request: httpx.Request) -> httpx.Response:
    return sse(chunk("Hello") + chunk(finish="stop") + USAGE_CHUNK)


@pytest.mark.parametrize("handler", [answer_stream_cut, answer_stream_cut_after_finish])
async def test_stream_cut_before_done_raises_after_the_text(handler: Handler) -> None:
    texts: list[str] = []
    async with provider_for(handler) as provider:
        with pytest.raises(ResponseDecodeError, match="terminal event"):
            async for event in provider.stream(HELLO):
                assert isinstance(event, TextDelta)
                texts.append(event.text)
    assert texts


async def test_a_stream_cut_after_its_usage_chunk_carries_the_usage() -> None:
    error = await failure(answer_stream_cut_after_finish, stream=True)
    assert isinstance(error, ResponseDecodeError)
    assert (error.input_tokens, error.output_tokens) == (12, 3)


async def test_a_stream_cut_before_any_usage_carries_none() -> None:
    error = await failure(answer_stream_cut, stream=True)
    assert (error.input_tokens, error.output_tokens) == (None, None)


def answer_stream_truncated_json(request: httpx.Request) -> httpx.Response:
    return sse(chunk("Hel") + 'data: {"id": "chatcmpl-s1", "choi\n\n')


async def test_stream_with_a_truncated_chunk_is_a_decode_error() -> None:
    error = await failure(answer_stream_truncated_json, stream=True)
    assert isinstance(error, ResponseDecodeError)


def stream_error_handler(error: dict[str, Any]) -> Handler:
    text = chunk("Hel") + f"data: {json.dumps({'error': error})}\n\n" + DONE
    return lambda request: sse(text)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"message": "The server had an error", "type": "server_error"}, ServerError),
        (
            {"message": "Rate limited", "type": "tokens", "code": "rate_limit_exceeded"},
            RateLimitError,
        ),
        ({"message": "Out of credit", "type": "insufficient_quota"}, QuotaExhaustedError),
        ({"message": "Something odd"}, ServerError),
        ({"message": "bad", "type": "BadRequestError", "code": 400}, InvalidRequestError),
        ({"message": "overloaded", "type": "InternalServerError", "code": 503}, ServerError),
    ],
)
async def test_error_chunk_mid_stream_raises_its_class(
    error: dict[str, Any], expected: type[LLMError]
) -> None:
    raised = await failure(stream_error_handler(error), stream=True)
    assert type(raised) is expected
    assert raised.message == error["message"]
    assert raised.provider == "openai"
    assert raised.request_id == "req_s"


def answer_stream_refusal(request: httpx.Request) -> httpx.Response:
    refusal = {
        "id": "c",
        "choices": [{"index": 0, "delta": {"refusal": "No."}, "finish_reason": None}],
    }
    return sse(f"data: {json.dumps(refusal)}\n\n" + chunk(finish="stop") + DONE)


async def test_refusal_in_a_stream_is_a_content_filter_error() -> None:
    error = await failure(answer_stream_refusal, stream=True)
    assert isinstance(error, ContentFilterError)
    assert "No." in str(error)


def answer_stream_filtered(request: httpx.Request) -> httpx.Response:
    return sse(chunk(finish="content_filter") + DONE)


async def test_stream_blocked_by_the_filter_is_a_content_filter_error() -> None:
    assert isinstance(await failure(answer_stream_filtered, stream=True), ContentFilterError)


def answer_json_error_instead_of_stream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=error_body("Rate limited", "tokens", "rate_limit_exceeded"))


async def test_json_error_instead_of_a_stream_is_raised_as_its_class() -> None:
    error = await failure(answer_json_error_instead_of_stream, stream=True)
    assert isinstance(error, RateLimitError)


def answer_html_instead_of_stream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, text="<html>proxy login</html>", headers={"content-type": "text/html"}
    )


async def test_html_instead_of_a_stream_is_a_decode_error() -> None:
    error = await failure(answer_html_instead_of_stream, stream=True)
    assert isinstance(error, ResponseDecodeError)
    assert "text/html" in str(error)


# --- error map ------------------------------------------------------------------------------


def status_handler(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", "x-request-id": "req_err"}
    all_headers.update(headers or {})
    return lambda request: httpx.Response(status, content=content, headers=all_headers)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("status", "type_", "code", "expected"),
    [
        (400, "invalid_request_error", "unsupported_parameter", InvalidRequestError),
        (
            403,
            "invalid_request_error",
            "unsupported_country_region_territory",
            PermissionDeniedError,
        ),
        (404, "invalid_request_error", "model_not_found", InvalidRequestError),
        (408, None, None, LLMTimeoutError),
        (409, None, None, ServerError),
        (413, "invalid_request_error", None, InvalidRequestError),
        (422, "invalid_request_error", None, InvalidRequestError),
        (429, "tokens", "rate_limit_exceeded", RateLimitError),
        (500, "server_error", None, ServerError),
        (502, None, None, ServerError),
        (503, "server_error", "server_is_overloaded", ServerError),
        (504, None, None, ServerError),
        (529, None, None, ServerError),
    ],
)
async def test_status_maps_to_its_class_keeping_the_vendor_details(
    status: int, type_: str | None, code: str | None, expected: type[LLMError], stream: bool
) -> None:
    handler = status_handler(status, error_body(f"failed with {status}", type_, code))
    error = await failure(handler, stream=stream)
    assert type(error) is expected
    assert error.status == status
    assert error.message == f"failed with {status}"
    assert (error.error_type, error.error_code) == (type_, code)
    assert error.request_id == "req_err"
    assert error.provider == "openai"


@pytest.mark.parametrize("stream", [False, True])
async def test_401_refreshes_the_credential_once_and_repeats(stream: bool) -> None:
    seen: list[httpx.Request] = []
    credentials = RotatingCredentials()
    async with provider_for(answer_401_then_ok, seen, credentials=credentials) as provider:
        if stream:
            events = await collect(provider)
            content = events[-1].response.content
        else:
            content = (await provider.complete(HELLO)).content
    assert content in ("Hi there", "Hello!")
    assert credentials.refreshes == 1
    assert [r.headers["authorization"] for r in seen] == [
        f"Bearer {KEY}",
        f"Bearer {KEY}-rotated",
    ]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("rotating", "requests", "says"),
    [(True, 2, "refreshing the credential once"), (False, 1, "gave the same key")],
    ids=["rotating-credentials", "static-key"],
)
async def test_a_rejected_key_is_an_authentication_error(
    stream: bool, rotating: bool, requests: int, says: str
) -> None:
    seen: list[httpx.Request] = []
    options: dict[str, Any] = {"credentials": RotatingCredentials()} if rotating else {}
    async with provider_for(answer_401, seen, **options) as provider:
        with pytest.raises(AuthenticationError) as caught:
            if stream:
                await collect(provider)
            else:
                await provider.complete(HELLO)
    error = caught.value
    assert len(seen) == requests
    assert error.retryable
    assert says in error.message
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in (error.body_excerpt or "")
    assert KEY not in repr(error.context())


async def test_401_refresh_rereads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    seen: list[httpx.Request] = []
    async with provider_for(answer_401_then_ok, seen, api_key=None) as provider:
        monkeypatch.setenv("OPENAI_API_KEY", KEY + "-rotated")
        response = await provider.complete(HELLO)
    assert response.content == "Hi there"
    assert seen[1].headers["authorization"] == f"Bearer {KEY}-rotated"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "850"}, 0.85),
        ({"retry-after-ms": "850", "retry-after": "7"}, 0.85),
    ],
)
async def test_429_carries_retry_after(headers: dict[str, str], expected: float) -> None:
    body = error_body("Rate limit reached", "requests", "rate_limit_exceeded")
    error = await failure(status_handler(429, body, headers))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == pytest.approx(expected)


async def test_429_retry_after_http_date_is_seconds_from_now() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    body = error_body("Rate limit reached", "requests", "rate_limit_exceeded")
    error = await failure(status_handler(429, body, {"retry-after": when}))
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31


@pytest.mark.parametrize(
    ("type_", "code"),
    [
        ("insufficient_quota", "insufficient_quota"),
        ("billing_error", "credit_balance_exhausted"),
        ("insufficient_quota", None),
    ],
)
async def test_quota_exhausted_429_is_fatal(type_: str, code: str | None) -> None:
    body = error_body("You exceeded your current quota.", type_, code)
    error = await failure(status_handler(429, body))
    assert isinstance(error, QuotaExhaustedError)
    assert not error.retryable
    assert error.status == 429


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("true", True)])
async def test_x_should_retry_is_kept(value: str, expected: bool) -> None:
    body = error_body("boom", "server_error")
    error = await failure(status_handler(500, body, {"x-should-retry": value}))
    assert error.should_retry is expected


async def test_html_error_page_keeps_the_status_class_with_an_excerpt() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = await failure(status_handler(502, page, {"content-type": "text/html"}))
    assert isinstance(error, ServerError)
    assert error.status == 502
    assert "502 Bad Gateway" in error.message
    assert error.body_excerpt is not None


async def test_truncated_error_body_keeps_the_status_class() -> None:
    error = await failure(status_handler(400, b'{"error": {"message": "bad requ'))
    assert isinstance(error, InvalidRequestError)
    assert "bad requ" in error.message


@pytest.mark.parametrize("stream", [False, True])
async def test_timeout_is_an_llm_timeout_error(stream: bool) -> None:
    error = await failure(answer_timeout, stream=stream)
    assert isinstance(error, LLMTimeoutError)
    assert error.provider == "openai"


@pytest.mark.parametrize("stream", [False, True])
async def test_connection_failure_is_a_network_error(stream: bool) -> None:
    error = await failure(answer_refused, stream=stream)
    assert isinstance(error, NetworkError)


def answer_key_echo(request: httpx.Request) -> httpx.Response:
    message = f"Invalid key {KEY} for header {request.headers['authorization']}"
    return httpx.Response(400, json=error_body(message, "invalid_request_error"))


async def test_key_echoed_by_the_server_never_reaches_the_error() -> None:
    error = await failure(answer_key_echo)
    for text in (str(error), repr(error), error.body_excerpt or "", repr(error.context())):
        assert KEY not in text


# --- real recordings ------------------------------------------------------------------------


@pytest.mark.parametrize("path", all_recordings("openai"))
async def test_real_recording_replays_to_the_expected_outcome(path: Path) -> None:
    seen = await replay(path, lambda c, h: OpenAIProvider(c, api_key=KEY, http_client=h))
    assert str(seen[0].url).endswith("/v1/chat/completions")
