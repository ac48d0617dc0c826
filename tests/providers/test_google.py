import email.utils
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig, StreamEnd, TextDelta
from ashford_llm.errors import (
    AuthenticationError,
    ContentFilterError,
    EmptyResponseError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    MissingCredentialsError,
    NetworkError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.providers import GoogleProvider
from tests.providers.real_recordings import all_recordings, replay

BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
URL = f"{BASE}:generateContent"
STREAM_URL = f"{BASE}:streamGenerateContent"
KEY = "AIzaSyTestKey0123456789abcdefghijklmnop"
CONFIG = ModelConfig("google", "gemini-2.5-flash", max_output_tokens=300)
HELLO = CompletionRequest([ChatMessage.user("Hello")])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def answer(
    *parts: dict[str, Any],
    finish: str | None = "STOP",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": list(parts) or [{"text": "Paris"}]},
        "index": 0,
        "safetyRatings": [],
    }
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage or {"promptTokenCount": 12, "candidatesTokenCount": 3},
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp-abc",
        "someFutureField": {"ignored": True},
    }


def status_body(code: int, status: str, text: str, *details: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": text, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def quota_failure(quota_id: str, value: str = "250000") -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                "quotaId": quota_id,
                "quotaValue": value,
            }
        ],
    }


def key_invalid() -> dict[str, Any]:
    return status_body(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        },
    )


def sse(*chunks: dict[str, Any], newline: str = "\n") -> bytes:
    return "".join(f"data: {json.dumps(c)}{newline}{newline}" for c in chunks).encode()


def chunk(text: str, *, finish: str | None = None, usage: dict[str, Any] | None = None) -> Any:
    body = answer({"text": text}, finish=finish, usage=usage)
    if usage is None:
        del body["usageMetadata"]
    return body


def event_stream(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def provider(**options: Any) -> GoogleProvider:
    options.setdefault("api_key", KEY)
    return GoogleProvider(options.pop("config", CONFIG), **options)


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


async def collect(p: GoogleProvider, request: CompletionRequest = HELLO) -> list[Any]:
    return [event async for event in p.stream(request)]


def answer_paris(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=answer())


def raise_read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("read timed out", request=request)


def raise_connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def reject_old_key(request: httpx.Request) -> httpx.Response:
    if request.headers["x-goog-api-key"] == "AIza-old":
        return httpx.Response(401, json=status_body(401, "UNAUTHENTICATED", "expired"))
    return httpx.Response(200, json=answer())


class RotatingCredentials:
    def __init__(self) -> None:
        self.refreshes = 0

    async def get(self) -> str:
        return "AIza-old"

    async def refresh(self) -> str:
        self.refreshes += 1
        return "AIza-new"


# --- request mapping -------------------------------------------------------------------


@respx.mock
async def test_complete_posts_to_generate_content_with_the_key_in_a_header() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(HELLO)
    request = route.calls[0].request
    assert request.headers["x-goog-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert KEY not in str(request.url)
    assert request.url.query == b""


@respx.mock
async def test_a_model_with_the_models_prefix_gives_the_same_url() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider(config=ModelConfig("google", "models/gemini-2.5-flash")).complete(HELLO)
    assert route.call_count == 1


@respx.mock
async def test_api_version_is_an_option() -> None:
    url = "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:generateContent"
    route = respx.post(url).mock(side_effect=answer_paris)
    await provider(api_version="v1").complete(HELLO)
    assert route.call_count == 1


@respx.mock
async def test_stream_uses_stream_generate_content_with_alt_sse() -> None:
    route = respx.post(STREAM_URL, params={"alt": "sse"}).mock(
        return_value=event_stream(sse(chunk("Paris", finish="STOP")))
    )
    await collect(provider())
    assert route.calls[0].request.url.params["alt"] == "sse"
    assert "stream" not in sent(route)


@respx.mock
async def test_system_messages_become_system_instruction_and_assistant_is_model() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    messages = [
        ChatMessage.system("Be brief."),
        ChatMessage.user("Hi"),
        ChatMessage.assistant("Hello!"),
        ChatMessage.system("Answer in French."),
        ChatMessage.user("Capital of France?"),
    ]
    await provider().complete(CompletionRequest(messages))
    body = sent(route)
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Answer in French."}]
    }
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "Capital of France?"}]},
    ]


@respx.mock
async def test_consecutive_same_role_messages_become_one_turn_of_parts() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    request = CompletionRequest([ChatMessage.user("One"), ChatMessage.user("Two")])
    await provider().complete(request)
    assert sent(route)["contents"] == [
        {"role": "user", "parts": [{"text": "One"}, {"text": "Two"}]}
    ]
    assert "systemInstruction" not in sent(route)


@respx.mock
async def test_temperature_comes_from_request_else_config_and_is_omitted_when_none() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(HELLO)
    assert "temperature" not in sent(route)["generationConfig"]
    warm = ModelConfig("google", "gemini-2.5-flash", temperature=1.5)
    await provider(config=warm).complete(HELLO)
    assert sent(route)["generationConfig"]["temperature"] == 1.5
    await provider(config=warm).complete(CompletionRequest(HELLO.messages, temperature=0.0))
    assert sent(route)["generationConfig"]["temperature"] == 0.0


@respx.mock
async def test_max_output_tokens_comes_from_request_else_config() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(HELLO)
    assert sent(route)["generationConfig"]["maxOutputTokens"] == 300
    await provider().complete(CompletionRequest(HELLO.messages, max_tokens=20))
    assert sent(route)["generationConfig"]["maxOutputTokens"] == 20


@respx.mock
async def test_stop_sequences_are_sent_only_when_given() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(HELLO)
    assert "stopSequences" not in sent(route)["generationConfig"]
    await provider().complete(CompletionRequest(HELLO.messages, stop=("END", "###")))
    assert sent(route)["generationConfig"]["stopSequences"] == ["END", "###"]


@respx.mock
async def test_json_mode_sets_the_json_response_mime_type() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    await provider().complete(HELLO)
    assert "responseMimeType" not in sent(route)["generationConfig"]
    await provider().complete(CompletionRequest(HELLO.messages, json_mode=True))
    config = sent(route)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in config


@respx.mock
async def test_json_schema_is_sent_as_response_json_schema_with_the_mime_type() -> None:
    route = respx.post(URL).mock(side_effect=answer_paris)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    await provider().complete(CompletionRequest(HELLO.messages, json_schema=schema))
    config = sent(route)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema
    assert "responseSchema" not in config


async def test_only_system_messages_are_rejected_before_sending() -> None:
    with pytest.raises(InvalidRequestError, match="at least one user"):
        await provider().complete(CompletionRequest([ChatMessage.system("Be brief.")]))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"api_version": ""}, ValueError),
        ({"api_version": 1}, ValueError),
        ({"config": ModelConfig("google", "models/")}, ValueError),
        ({"base_url": "generativelanguage.googleapis.com"}, ValueError),
        ({"timeout": 0}, ValueError),
        ({"credentials": RotatingCredentials()}, ValueError),
    ],
)
def test_bad_options_fail_at_build_time(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        provider(**options)


# --- credentials and base URL ------------------------------------------------------------


def test_a_missing_key_names_both_environment_variables() -> None:
    with pytest.raises(MissingCredentialsError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        GoogleProvider(CONFIG)


@respx.mock
async def test_google_api_key_wins_over_gemini_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google")
    route = respx.post(URL).mock(side_effect=answer_paris)
    await GoogleProvider(CONFIG).complete(HELLO)
    assert route.calls[0].request.headers["x-goog-api-key"] == "AIza-google"


@respx.mock
async def test_gemini_api_key_is_read_when_it_is_the_only_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", " AIza-gemini ")
    route = respx.post(URL).mock(side_effect=answer_paris)
    await GoogleProvider(CONFIG).complete(HELLO)
    assert route.calls[0].request.headers["x-goog-api-key"] == "AIza-gemini"


@respx.mock
async def test_base_url_comes_from_google_gemini_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:8080/gemini/")
    url = "http://127.0.0.1:8080/gemini/v1beta/models/gemini-2.5-flash:generateContent"
    route = respx.post(url).mock(side_effect=answer_paris)
    p = provider()
    await p.complete(HELLO)
    assert route.call_count == 1
    assert (p.info.server_address, p.info.server_port) == ("127.0.0.1", 8080)


def test_the_key_never_appears_in_the_repr() -> None:
    p = provider()
    assert KEY not in repr(p)
    assert KEY not in repr(p.credentials)
    assert repr(p) == "GoogleProvider(model='gemini-2.5-flash')"


@respx.mock
async def test_a_401_refreshes_the_credential_once_and_repeats_the_request() -> None:
    route = respx.post(URL).mock(side_effect=reject_old_key)
    credentials = RotatingCredentials()
    response = await GoogleProvider(CONFIG, credentials=credentials).complete(HELLO)
    assert response.content == "Paris"
    assert credentials.refreshes == 1
    assert route.call_count == 2


@respx.mock
async def test_a_second_401_is_an_authentication_error_after_two_requests() -> None:
    body = status_body(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    route = respx.post(URL).mock(return_value=httpx.Response(401, json=body))
    credentials = RotatingCredentials()
    with pytest.raises(AuthenticationError, match="refreshing the credential once") as caught:
        await GoogleProvider(CONFIG, credentials=credentials).complete(HELLO)
    assert route.call_count == 2
    assert caught.value.retryable is True
    assert caught.value.error_type == "UNAUTHENTICATED"


@respx.mock
async def test_a_401_for_a_static_key_is_raised_after_one_request() -> None:
    body = status_body(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    route = respx.post(URL).mock(return_value=httpx.Response(401, json=body))
    with pytest.raises(AuthenticationError, match="gave the same key") as caught:
        await provider().complete(HELLO)
    assert route.call_count == 1
    assert caught.value.error_type == "UNAUTHENTICATED"


@respx.mock
async def test_a_401_during_a_stream_refreshes_once_too() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["x-goog-api-key"] == "AIza-old":
            return httpx.Response(401, json=status_body(401, "UNAUTHENTICATED", "expired"))
        return event_stream(sse(chunk("Paris", finish="STOP")))

    route = respx.post(STREAM_URL).mock(side_effect=handler)
    events = await collect(GoogleProvider(CONFIG, credentials=RotatingCredentials()))
    assert isinstance(events[-1], StreamEnd)
    assert route.call_count == 2


@respx.mock
async def test_an_invalid_key_is_a_fatal_invalid_request_without_a_refresh() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(400, json=key_invalid()))
    credentials = RotatingCredentials()
    with pytest.raises(InvalidRequestError, match="API key was rejected") as caught:
        await GoogleProvider(CONFIG, credentials=credentials).complete(HELLO)
    assert caught.value.error_code == "API_KEY_INVALID"
    assert caught.value.error_type == "INVALID_ARGUMENT"
    assert caught.value.retryable is False
    assert credentials.refreshes == 0
    assert route.call_count == 1


@respx.mock
async def test_the_key_never_appears_in_errors() -> None:
    body = status_body(400, "INVALID_ARGUMENT", f"API key {KEY} not valid.")
    respx.post(URL).mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(InvalidRequestError) as caught:
        await provider().complete(HELLO)
    error = caught.value
    for text in (str(error), repr(error), str(error.context()), error.body_excerpt or ""):
        assert KEY not in text
    assert "[redacted]" in error.message


# --- response parsing ----------------------------------------------------------------------


@respx.mock
async def test_complete_parses_text_usage_ids_and_latency() -> None:
    usage = {
        "promptTokenCount": 120,
        "candidatesTokenCount": 7,
        "thoughtsTokenCount": 38,
        "cachedContentTokenCount": 100,
        "totalTokenCount": 165,
    }
    body = answer({"text": "Par"}, {"text": "is"}, usage=usage)
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    response = await provider().complete(HELLO)
    assert response.content == "Paris"
    assert response.model == "gemini-2.5-flash-001"
    assert (response.input_tokens, response.output_tokens) == (120, 45)
    assert response.cached_input_tokens == 100
    assert response.reasoning_tokens == 38
    assert response.finish_reason == "stop"
    assert response.provider == "google"
    assert response.response_id == "resp-abc"
    assert response.request_id is None
    assert response.latency_ms > 0


@respx.mock
async def test_thought_parts_are_left_out_of_the_text() -> None:
    body = answer({"text": "Let me think...", "thought": True}, {"text": "Paris"})
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    assert (await provider().complete(HELLO)).content == "Paris"


@respx.mock
async def test_a_response_without_model_version_reports_the_config_model() -> None:
    body = answer()
    del body["modelVersion"]
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    assert (await provider().complete(HELLO)).model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("OTHER", "other"),
        ("LANGUAGE", "other"),
        ("MALFORMED_FUNCTION_CALL", "other"),
        ("SOMETHING_NEW", "other"),
        (None, "other"),
    ],
)
@respx.mock
async def test_finish_reasons_are_normalised(reason: str | None, finish: str) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json=answer(finish=reason)))
    assert (await provider().complete(HELLO)).finish_reason == finish


@pytest.mark.parametrize(
    "reason", ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"]
)
@respx.mock
async def test_a_filtered_candidate_without_text_is_a_content_filter_error(reason: str) -> None:
    body = answer(finish=reason)
    body["candidates"][0].pop("content")
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(ContentFilterError):
        await provider().complete(HELLO)


@respx.mock
async def test_a_filtered_candidate_with_partial_text_reports_content_filter() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json=answer(finish="RECITATION")))
    assert (await provider().complete(HELLO)).finish_reason == "content_filter"


@respx.mock
async def test_a_blocked_prompt_is_a_content_filter_error_naming_the_reason() -> None:
    body = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 9},
        "modelVersion": "gemini-2.5-flash",
    }
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(ContentFilterError, match="PROHIBITED_CONTENT") as caught:
        await provider().complete(HELLO)
    assert caught.value.provider == "google"
    assert caught.value.error_code == "PROHIBITED_CONTENT"


@pytest.mark.parametrize(
    "body",
    [
        {"candidates": [], "modelVersion": "gemini-2.5-flash"},
        {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]},
        {"candidates": [{"content": {"role": "model"}, "finishReason": "STOP"}]},
    ],
)
@respx.mock
async def test_an_answer_without_text_is_an_empty_response_error(body: dict[str, Any]) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(EmptyResponseError) as caught:
        await provider().complete(HELLO)
    assert caught.value.provider == "google"


@pytest.mark.parametrize(
    "body",
    [b'{"candidates": [{"content": {"parts": [{"te', b"<html><body>Bad gateway</body></html>"],
)
@respx.mock
async def test_an_unparseable_200_is_a_response_decode_error(body: bytes) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=body))
    with pytest.raises(ResponseDecodeError) as caught:
        await provider().complete(HELLO)
    assert caught.value.body_excerpt
    assert caught.value.provider == "google"


@respx.mock
async def test_an_error_object_in_a_200_body_raises_its_class() -> None:
    body = status_body(503, "UNAVAILABLE", "The model is overloaded.")
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(ServerError, match="overloaded") as caught:
        await provider().complete(HELLO)
    assert caught.value.provider == "google"


# --- streaming -------------------------------------------------------------------------------


@respx.mock
async def test_stream_yields_deltas_then_one_end_with_the_last_usage() -> None:
    first = {"promptTokenCount": 15, "totalTokenCount": 15}
    last = {"promptTokenCount": 15, "candidatesTokenCount": 7, "thoughtsTokenCount": 38}
    body = sse(
        chunk('{"city": ', usage=first),
        chunk('"Paris"', usage=first),
        chunk("}", finish="STOP", usage=last),
    )
    respx.post(STREAM_URL).mock(return_value=event_stream(body))
    events = await collect(provider())
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ['{"city": ', '"Paris"', "}"]
    assert len(events) == 4
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == '{"city": "Paris"}'
    assert (end.response.input_tokens, end.response.output_tokens) == (15, 45)
    assert end.response.reasoning_tokens == 38
    assert end.response.finish_reason == "stop"
    assert end.response.response_id == "resp-abc"
    assert end.response.model == "gemini-2.5-flash-001"


@respx.mock
async def test_stream_skips_thought_parts() -> None:
    thinking = answer({"text": "Hmm", "thought": True}, finish=None)
    body = sse(thinking, chunk("Paris", finish="STOP"))
    respx.post(STREAM_URL).mock(return_value=event_stream(body))
    events = await collect(provider())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Paris"]


@respx.mock
async def test_stream_tolerates_crlf_line_endings_and_comments() -> None:
    body = b": keep-alive\r\n\r\n" + sse(chunk("Par"), chunk("is", finish="STOP"), newline="\r\n")
    respx.post(STREAM_URL).mock(return_value=event_stream(body))
    end = (await collect(provider()))[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == "Paris"


@respx.mock
async def test_stream_reads_a_last_event_without_a_trailing_blank_line() -> None:
    body = sse(chunk("Par")) + f"data: {json.dumps(chunk('is', finish='STOP'))}".encode()
    respx.post(STREAM_URL).mock(return_value=event_stream(body))
    end = (await collect(provider()))[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == "Paris"


@respx.mock
async def test_a_stream_cut_before_a_finish_reason_is_a_response_decode_error() -> None:
    respx.post(STREAM_URL).mock(return_value=event_stream(sse(chunk("Par"), chunk("is"))))
    texts: list[str] = []
    with pytest.raises(ResponseDecodeError, match="ended before") as caught:
        async for event in provider().stream(HELLO):
            assert isinstance(event, TextDelta)
            texts.append(event.text)
    assert texts == ["Par", "is"]
    assert caught.value.provider == "google"


@respx.mock
async def test_a_stream_with_a_truncated_chunk_is_a_response_decode_error() -> None:
    body = sse(chunk("Par")) + b'data: {"candidates": [{"content": {"par\n\n'
    respx.post(STREAM_URL).mock(return_value=event_stream(body))
    with pytest.raises(ResponseDecodeError):
        await collect(provider())


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (status_body(503, "UNAVAILABLE", "The model is overloaded."), ServerError),
        (status_body(500, "INTERNAL", "An internal error has occurred."), ServerError),
        (status_body(429, "RESOURCE_EXHAUSTED", "slow down", retry_info("7s")), RateLimitError),
        (status_body(400, "INVALID_ARGUMENT", "bad request"), InvalidRequestError),
    ],
)
@respx.mock
async def test_an_error_event_mid_stream_raises_its_class(
    error: dict[str, Any], cls: type[LLMError]
) -> None:
    respx.post(STREAM_URL).mock(return_value=event_stream(sse(chunk("Par"), error)))
    texts: list[str] = []
    with pytest.raises(cls) as caught:
        async for event in provider().stream(HELLO):
            assert isinstance(event, TextDelta)
            texts.append(event.text)
    assert texts == ["Par"]
    assert caught.value.provider == "google"
    assert caught.value.error_type == error["error"]["status"]


USAGE_SO_FAR = {"promptTokenCount": 12, "candidatesTokenCount": 2, "thoughtsTokenCount": 5}


@respx.mock
async def test_an_error_event_mid_stream_carries_the_usage_so_far() -> None:
    error = status_body(503, "UNAVAILABLE", "The model is overloaded.")
    respx.post(STREAM_URL).mock(
        return_value=event_stream(sse(chunk("Par", usage=USAGE_SO_FAR), error))
    )
    with pytest.raises(ServerError) as caught:
        await collect(provider())
    assert (caught.value.input_tokens, caught.value.output_tokens) == (12, 7)


@respx.mock
async def test_a_stream_cut_after_usage_carries_the_usage_so_far() -> None:
    respx.post(STREAM_URL).mock(return_value=event_stream(sse(chunk("Par", usage=USAGE_SO_FAR))))
    with pytest.raises(ResponseDecodeError) as caught:
        await collect(provider())
    assert (caught.value.input_tokens, caught.value.output_tokens) == (12, 7)


@respx.mock
async def test_a_plain_json_error_after_stream_chunks_raises_its_class() -> None:
    error = json.dumps(status_body(503, "UNAVAILABLE", "overloaded"), indent=2).encode()
    respx.post(STREAM_URL).mock(return_value=event_stream(sse(chunk("Par")) + error))
    with pytest.raises(ServerError, match="overloaded") as caught:
        await collect(provider())
    assert caught.value.provider == "google"


@respx.mock
async def test_a_200_stream_whose_body_is_a_plain_json_error_raises_its_class() -> None:
    error = json.dumps(key_invalid(), indent=2).encode()
    respx.post(STREAM_URL).mock(return_value=event_stream(error))
    with pytest.raises(InvalidRequestError, match="API key") as caught:
        await collect(provider())
    assert caught.value.error_code == "API_KEY_INVALID"


@respx.mock
async def test_a_stream_with_stray_non_json_lines_is_a_response_decode_error() -> None:
    body = sse(chunk("Paris", finish="STOP")) + b"<html>proxy says no</html>\n"
    respx.post(STREAM_URL).mock(return_value=event_stream(body))
    with pytest.raises(ResponseDecodeError, match="unexpected lines"):
        await collect(provider())


@respx.mock
async def test_a_blocked_prompt_in_a_stream_is_a_content_filter_error() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "gemini-2.5-flash"}
    respx.post(STREAM_URL).mock(return_value=event_stream(sse(blocked)))
    with pytest.raises(ContentFilterError, match="SAFETY"):
        await collect(provider())


@respx.mock
async def test_a_filtered_stream_without_text_is_a_content_filter_error() -> None:
    filtered = answer(finish="SAFETY")
    filtered["candidates"][0].pop("content")
    respx.post(STREAM_URL).mock(return_value=event_stream(sse(filtered)))
    with pytest.raises(ContentFilterError):
        await collect(provider())


@respx.mock
async def test_a_stream_answered_with_an_error_status_raises_before_any_text() -> None:
    body = status_body(404, "NOT_FOUND", "models/nope is not found for API version v1beta")
    respx.post(STREAM_URL).mock(
        return_value=httpx.Response(
            404, headers={"content-type": "text/event-stream"}, content=json.dumps(body)
        )
    )
    with pytest.raises(InvalidRequestError, match="not found") as caught:
        await collect(provider())
    assert caught.value.status == 404
    assert caught.value.error_type == "NOT_FOUND"


@respx.mock
async def test_a_stream_answered_with_a_json_error_body_raises_its_class() -> None:
    body = status_body(503, "UNAVAILABLE", "overloaded")
    respx.post(STREAM_URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(ServerError, match="overloaded"):
        await collect(provider())


@respx.mock
async def test_a_stream_answered_with_a_plain_response_is_a_response_decode_error() -> None:
    respx.post(STREAM_URL).mock(return_value=httpx.Response(200, json=answer()))
    with pytest.raises(ResponseDecodeError, match="expected an event stream"):
        await collect(provider())


@respx.mock
async def test_a_timeout_mid_stream_is_an_llm_timeout_error() -> None:
    class Stalling(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield sse(chunk("Par"))
            raise httpx.ReadTimeout("read timed out")

    respx.post(STREAM_URL).mock(
        return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Stalling()
        )
    )
    with pytest.raises(LLMTimeoutError):
        await collect(provider())


# --- the error map ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "rpc", "cls"),
    [
        (400, "INVALID_ARGUMENT", InvalidRequestError),
        (400, "FAILED_PRECONDITION", InvalidRequestError),
        (403, "PERMISSION_DENIED", PermissionDeniedError),
        (404, "NOT_FOUND", InvalidRequestError),
        (413, "INVALID_ARGUMENT", InvalidRequestError),
        (422, "INVALID_ARGUMENT", InvalidRequestError),
        (500, "INTERNAL", ServerError),
        (502, "UNAVAILABLE", ServerError),
        (503, "UNAVAILABLE", ServerError),
        (504, "DEADLINE_EXCEEDED", ServerError),
        (529, "UNAVAILABLE", ServerError),
    ],
)
@respx.mock
async def test_error_statuses_map_to_their_class(
    status: int, rpc: str, cls: type[LLMError]
) -> None:
    body = status_body(status, rpc, f"vendor says {rpc}")
    respx.post(URL).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(cls) as caught:
        await provider().complete(HELLO)
    error = caught.value
    assert type(error) is cls
    assert error.status == status
    assert error.error_type == rpc
    assert error.message == f"vendor says {rpc}"
    assert error.provider == "google"
    assert error.body_excerpt


@pytest.mark.parametrize(
    ("delay", "expected"), [("37s", 37.0), ("55.846891726s", 55.846891726), ("0s", 0.0)]
)
@respx.mock
async def test_a_rate_limit_carries_retry_info_delay(delay: str, expected: float) -> None:
    body = status_body(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        quota_failure("GenerateContentInputTokensPerModelPerMinute-FreeTier"),
        {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
        retry_info(delay),
    )
    respx.post(URL).mock(return_value=httpx.Response(429, json=body))
    with pytest.raises(RateLimitError) as caught:
        await provider().complete(HELLO)
    assert caught.value.retry_after == pytest.approx(expected)
    assert caught.value.retryable is True
    assert caught.value.status == 429


def http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after": "12"}, 12.0, 12.0),
        ({"retry-after-ms": "1500"}, 1.5, 1.5),
        ({"retry-after": "date+30"}, 25.0, 31.0),
    ],
)
@respx.mock
async def test_a_rate_limit_without_retry_info_honours_retry_after_headers(
    headers: dict[str, str], low: float, high: float
) -> None:
    if headers.get("retry-after") == "date+30":
        headers = {"retry-after": http_date(30)}
    body = status_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.")
    respx.post(URL).mock(return_value=httpx.Response(429, headers=headers, json=body))
    with pytest.raises(RateLimitError) as caught:
        await provider().complete(HELLO)
    assert caught.value.retry_after is not None
    assert low <= caught.value.retry_after <= high


@pytest.mark.parametrize(
    "details",
    [
        (quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), retry_info("20s")),
        (quota_failure("GenerateContentInputTokensPerModelPerMinute-FreeTier", "0"),),
    ],
    ids=["daily-quota", "zero-quota"],
)
@respx.mock
async def test_quota_that_waiting_cannot_fix_is_quota_exhausted(
    details: tuple[dict[str, Any], ...],
) -> None:
    body = status_body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", *details)
    respx.post(URL).mock(return_value=httpx.Response(429, json=body))
    with pytest.raises(QuotaExhaustedError) as caught:
        await provider().complete(HELLO)
    assert caught.value.retryable is False
    assert caught.value.status == 429
    assert caught.value.error_type == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ServerError),
        (503, b"upstream connect error", ServerError),
        (500, b'{"error": {"code": 500, "mess', ServerError),
        (429, b"", RateLimitError),
        (403, b"<html>Forbidden</html>", PermissionDeniedError),
    ],
)
@respx.mock
async def test_error_bodies_that_are_not_gemini_json_keep_the_status_class(
    status: int, body: bytes, cls: type[LLMError]
) -> None:
    respx.post(URL).mock(return_value=httpx.Response(status, content=body))
    with pytest.raises(cls) as caught:
        await provider().complete(HELLO)
    assert type(caught.value) is cls
    assert caught.value.status == status
    assert f"HTTP {status}" in caught.value.message


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
@respx.mock
async def test_x_should_retry_is_kept_on_the_error(value: str, expected: bool) -> None:
    body = status_body(503, "UNAVAILABLE", "overloaded")
    respx.post(URL).mock(
        return_value=httpx.Response(503, headers={"x-should-retry": value}, json=body)
    )
    with pytest.raises(ServerError) as caught:
        await provider().complete(HELLO)
    assert caught.value.should_retry is expected


@respx.mock
async def test_a_timeout_is_an_llm_timeout_error() -> None:
    respx.post(URL).mock(side_effect=raise_read_timeout)
    with pytest.raises(LLMTimeoutError) as caught:
        await provider().complete(HELLO)
    assert caught.value.provider == "google"


@respx.mock
async def test_a_connection_failure_is_a_network_error() -> None:
    respx.post(STREAM_URL).mock(side_effect=raise_connect_error)
    with pytest.raises(NetworkError) as caught:
        await collect(provider())
    assert caught.value.provider == "google"


# --- client ownership ----------------------------------------------------------------------


async def test_aclose_closes_an_owned_client_but_not_a_shared_one() -> None:
    owned = provider()
    await owned.aclose()
    assert owned._client.is_closed
    async with httpx.AsyncClient() as shared:
        async with provider(http_client=shared):
            pass
        assert not shared.is_closed


# --- real recordings -----------------------------------------------------------------------


@pytest.mark.parametrize("path", all_recordings("google"))
async def test_real_recordings_replay_to_the_expected_outcome(path: Path) -> None:
    def make(config: ModelConfig, client: httpx.AsyncClient) -> GoogleProvider:
        return GoogleProvider(config, api_key=KEY, http_client=client)

    seen = await replay(path, make)
    assert len(seen) == 1
    assert seen[0].headers["x-goog-api-key"] == KEY
    assert seen[0].url.path.startswith("/v1beta/models/")
