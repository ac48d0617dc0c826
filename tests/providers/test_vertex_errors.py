"""Vertex AI's error answers map to the error tree, row by row, whole and streamed.

Vertex refuses a request itself (token, IAM, unknown model, quota) with a google.rpc.Status
object, read by the Gemini rules: a RESOURCE_EXHAUSTED is a RateLimitError unless it shows
that waiting cannot help (a per-day quota, a zero quota). Claude's own failures keep
Anthropic's error objects; one wrapped as a string in a google.rpc message is unwrapped.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig
from ashford_llm.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    RetryableError,
    ServerError,
)
from ashford_llm.providers.vertex import vertex_provider
from ashford_llm.providers.vertex.errors import error_in_body, parse_error

REQUEST = CompletionRequest([ChatMessage.user("Hi")])
TYPE = "type.googleapis.com/google.rpc."
MODELS = {"google": "gemini-2.5-flash", "anthropic": "claude-sonnet-4-5@20250929"}


def rpc(code: int, status: str, message: str, *details: dict[str, Any]) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return json.dumps({"error": error}).encode()


def info(reason: str) -> dict[str, Any]:
    metadata = {"service": "aiplatform.googleapis.com"}
    return {
        "@type": TYPE + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": metadata,
    }


def quota(quota_id: str, value: str) -> dict[str, Any]:
    violation = {"quotaId": quota_id, "quotaValue": value}
    return {"@type": TYPE + "QuotaFailure", "violations": [violation]}


def anthropic(type_: str, message: str) -> bytes:
    error = {"type": type_, "message": message}
    return json.dumps({"type": "error", "error": error, "request_id": "req_vrtx_01"}).encode()


UNAUTHENTICATED = rpc(
    401,
    "UNAUTHENTICATED",
    "Request had invalid authentication credentials. Expected OAuth 2 access token.",
    info("ACCESS_TOKEN_EXPIRED"),
)
IAM = rpc(
    403,
    "PERMISSION_DENIED",
    "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist).",
    info("IAM_PERMISSION_DENIED"),
)
DISABLED = rpc(
    403,
    "PERMISSION_DENIED",
    "Vertex AI API has not been used in project 123 before or it is disabled.",
    info("SERVICE_DISABLED"),
)
NOT_FOUND = rpc(
    404,
    "NOT_FOUND",
    "Publisher Model `projects/p/locations/global/publishers/google/models/x` was not found.",
)
BARE_429 = rpc(
    429,
    "RESOURCE_EXHAUSTED",
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
)
PER_MINUTE = rpc(
    429,
    "RESOURCE_EXHAUSTED",
    "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute.",
    quota("GenerateContentRequestsPerMinutePerProjectPerBaseModel", "60"),
)
PER_DAY = rpc(
    429,
    "RESOURCE_EXHAUSTED",
    "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day.",
    quota("GenerateContentRequestsPerDayPerProjectPerBaseModel", "1000"),
)
ZERO = rpc(
    429,
    "RESOURCE_EXHAUSTED",
    "Quota exceeded.",
    quota("GenerateContentRequestsPerMinutePerProjectPerBaseModel", "0"),
)
BILLING = rpc(
    403,
    "PERMISSION_DENIED",
    "This API method requires billing to be enabled.",
    info("BILLING_DISABLED"),
)
INVALID = rpc(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
INTERNAL = rpc(500, "INTERNAL", "Internal error encountered.")
UNAVAILABLE = rpc(503, "UNAVAILABLE", "The service is currently unavailable.")
DEADLINE = rpc(504, "DEADLINE_EXCEEDED", "Deadline exceeded.")
HTML = b"<html><body>502 Bad Gateway</body></html>"

# (status, body, class, error_type, error_code), for both publishers: Vertex's own answers.
VERTEX_ROWS = [
    (401, UNAUTHENTICATED, AuthenticationError, "UNAUTHENTICATED", "ACCESS_TOKEN_EXPIRED"),
    (403, IAM, PermissionDeniedError, "PERMISSION_DENIED", "IAM_PERMISSION_DENIED"),
    (403, DISABLED, PermissionDeniedError, "PERMISSION_DENIED", "SERVICE_DISABLED"),
    (403, BILLING, PermissionDeniedError, "PERMISSION_DENIED", "BILLING_DISABLED"),
    (404, NOT_FOUND, InvalidRequestError, "NOT_FOUND", None),
    (400, INVALID, InvalidRequestError, "INVALID_ARGUMENT", None),
    (429, BARE_429, RateLimitError, "RESOURCE_EXHAUSTED", None),
    (429, PER_MINUTE, RateLimitError, "RESOURCE_EXHAUSTED", None),
    (429, PER_DAY, QuotaExhaustedError, "RESOURCE_EXHAUSTED", None),
    (429, ZERO, QuotaExhaustedError, "RESOURCE_EXHAUSTED", None),
    (500, INTERNAL, ServerError, "INTERNAL", None),
    (503, UNAVAILABLE, ServerError, "UNAVAILABLE", None),
    (504, DEADLINE, ServerError, "DEADLINE_EXCEEDED", None),
    (502, HTML, ServerError, None, None),
]
# Claude's own answers through Vertex: Anthropic's objects (and one wrapped by google.rpc).
WRAPPED = rpc(
    400, "INVALID_ARGUMENT", anthropic("invalid_request_error", "max_tokens: too big").decode()
)
CLAUDE_ROWS = [
    (
        400,
        anthropic("invalid_request_error", "messages: empty"),
        InvalidRequestError,
        "invalid_request_error",
        None,
    ),
    (400, WRAPPED, InvalidRequestError, "invalid_request_error", None),
    (429, anthropic("rate_limit_error", "Rate limited"), RateLimitError, "rate_limit_error", None),
    (500, anthropic("api_error", "Internal server error"), ServerError, "api_error", None),
    (529, anthropic("overloaded_error", "Overloaded"), ServerError, "overloaded_error", None),
]


def provider(publisher: str, *replies: httpx.Response) -> Any:
    queue = list(replies)
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: queue.pop(0)))
    config = ModelConfig("vertex", MODELS[publisher])
    return vertex_provider(
        config, project="p", access_token="ya29.token-0123456789", http_client=client
    )


async def failure(publisher: str, status: int, body: bytes, *, stream: bool) -> LLMError:
    content_type = "text/html" if body.startswith(b"<") else "application/json"
    # A 401 is answered twice at most: a static token is not sent again after refreshing.
    reply = httpx.Response(status, headers={"content-type": content_type}, content=body)
    async with provider(publisher, reply) as vertex:
        with pytest.raises(LLMError) as caught:
            if stream:
                async for _ in vertex.stream(REQUEST):
                    pass
            else:
                await vertex.complete(REQUEST)
    return caught.value


def check(
    error: LLMError, status: int, cls: type[LLMError], error_type: str | None, code: str | None
) -> None:
    assert type(error) is cls, (type(error), error)
    assert (error.status, error.provider) == (status, "vertex")
    assert error.error_type == error_type
    assert error.error_code == code


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("publisher", ["google", "anthropic"])
@pytest.mark.parametrize(("status", "body", "cls", "error_type", "code"), VERTEX_ROWS)
async def test_vertex_s_own_errors_map_by_the_google_rules(
    publisher: str,
    stream: bool,
    status: int,
    body: bytes,
    cls: type[LLMError],
    error_type: str | None,
    code: str | None,
) -> None:
    error = await failure(publisher, status, body, stream=stream)
    check(error, status, cls, error_type, code)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("status", "body", "cls", "error_type", "code"), CLAUDE_ROWS)
async def test_claude_s_own_errors_keep_anthropic_s_types(
    stream: bool,
    status: int,
    body: bytes,
    cls: type[LLMError],
    error_type: str | None,
    code: str | None,
) -> None:
    error = await failure("anthropic", status, body, stream=stream)
    check(error, status, cls, error_type, code)
    assert error.request_id == "req_vrtx_01"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("publisher", ["google", "anthropic"])
@pytest.mark.parametrize(
    ("body", "cls"), [(BARE_429, RateLimitError), (PER_DAY, QuotaExhaustedError)]
)
async def test_an_error_sent_as_a_one_item_array_is_read(
    publisher: str, stream: bool, body: bytes, cls: type[LLMError]
) -> None:
    wrapped = b"[" + body + b"]"
    error = await failure(publisher, 429, wrapped, stream=stream)
    check(error, 429, cls, "RESOURCE_EXHAUSTED", None)
    assert error.message == json.loads(body)["error"]["message"]  # the object was read


def test_an_array_of_other_shapes_is_not_unwrapped() -> None:
    from ashford_llm.providers.vertex.errors import unwrap_array

    assert unwrap_array(b"[1, 2]") == b"[1, 2]"
    assert unwrap_array(b"[not json") == b"[not json"
    assert unwrap_array(b' [{"error": {}}]') == b'{"error": {}}'


def test_a_bare_429_has_no_retry_after_and_a_retry_info_gives_one() -> None:
    bare = parse_error(429, httpx.Headers(), BARE_429)
    assert isinstance(bare, RateLimitError)
    assert bare.retry_after is None
    delay = {"@type": TYPE + "RetryInfo", "retryDelay": "7s"}
    hinted = parse_error(429, httpx.Headers(), rpc(429, "RESOURCE_EXHAUSTED", "slow down", delay))
    assert isinstance(hinted, RateLimitError)
    assert hinted.retry_after == 7.0


def test_a_wrapped_message_that_is_not_anthropic_json_stays_google_s() -> None:
    body = rpc(400, "INVALID_ARGUMENT", '{"not": "an anthropic error"}')
    error = parse_error(400, httpx.Headers(), body)
    assert (type(error), error.error_type) == (InvalidRequestError, "INVALID_ARGUMENT")


def test_error_in_body_reads_either_shape_and_ignores_answers() -> None:
    google = error_in_body(rpc(503, "UNAVAILABLE", "overloaded"))
    assert isinstance(google, ServerError)
    assert google.error_type == "UNAVAILABLE"
    claude = error_in_body(anthropic("overloaded_error", "Overloaded"))
    assert isinstance(claude, ServerError)
    assert claude.error_type == "overloaded_error"
    assert error_in_body(b'{"type": "message", "content": []}') is None
    assert error_in_body(b"not json") is None


async def test_a_gemini_error_inside_a_200_stream_is_raised() -> None:
    chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}
    body = (
        f"data: {json.dumps(chunk)}\n\n".encode()
        + rpc(503, "UNAVAILABLE", "The model is overloaded.")
        + b"\n"
    )
    reply = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    texts: list[str] = []
    async with provider("google", reply) as vertex:
        with pytest.raises(LLMError) as caught:
            async for event in vertex.stream(REQUEST):
                texts.append(getattr(event, "text", ""))
    assert texts == ["Hel"]
    assert isinstance(caught.value, RetryableError)
    assert caught.value.error_type == "UNAVAILABLE"
    assert caught.value.provider == "vertex"


async def test_a_claude_error_event_inside_a_200_stream_is_raised() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 3},
        },
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    body = (
        f"event: message_start\ndata: {json.dumps(start)}\n\n"
        f"event: error\ndata: {json.dumps(error)}\n\n"
    ).encode()
    reply = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    async with provider("anthropic", reply) as vertex:
        with pytest.raises(LLMError) as caught:
            async for _ in vertex.stream(REQUEST):
                pass
    assert isinstance(caught.value, RetryableError)
    assert caught.value.error_type == "overloaded_error"
    assert caught.value.input_tokens == 3  # the usage reported before it failed is kept


@pytest.mark.parametrize("publisher", ["google", "anthropic"])
async def test_a_stream_cut_before_its_end_is_a_decode_error(publisher: str) -> None:
    if publisher == "google":
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}
        body = f"data: {json.dumps(chunk)}\n\n".encode()
    else:
        body = b'event: ping\ndata: {"type": "ping"}\n\n'
    reply = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    async with provider(publisher, reply) as vertex:
        with pytest.raises(ResponseDecodeError):
            async for _ in vertex.stream(REQUEST):
                pass
