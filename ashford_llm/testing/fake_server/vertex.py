"""Vertex AI as the fake server speaks it: Gemini and Claude at the publishers' model paths.

`POST /{version}/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent` (and `:streamGenerateContent`) answer as Gemini does, and
`.../publishers/anthropic/models/{model}:rawPredict` (and `:streamRawPredict`) as Claude
does, with the Vertex differences: a bearer token instead of a key (a missing or wrong one is
Google's 401 UNAUTHENTICATED), and for Claude the model in the path, not the body, and
`anthropic_version` in the body, not a header (a missing one is a 400). Vertex's own
refusals come as google.rpc.Status objects: a rate limit is its bare 429 RESOURCE_EXHAUSTED
(no retry delay), an exhausted quota a 429 naming a per-day quota. Claude's own failures
(500, 503, 529, the error event in a stream) keep Anthropic's shapes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ashford_llm.testing.fake_server import anthropic, gemini
from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode

__all__ = ["ANTHROPIC_VERSION", "VertexAnthropicFormat", "VertexGeminiFormat", "routes"]

ANTHROPIC_VERSION = "vertex-2023-10-16"
_TYPE = "type.googleapis.com/google.rpc."
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_RATE_LIMITED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
_DICT = msgspec.json.Decoder(dict[str, Any])

Handler = Callable[..., Awaitable[Response]]


def _status(code: int, status: str, message: str, *details: Mapping[str, object]) -> Reply:
    """A google.rpc.Status reply."""
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return Reply(status=code, body=encode({"error": error}))


def _authenticate(headers: Mapping[str, str], token: str | None) -> Reply | None:
    """Checks `Authorization: Bearer <token>`; Google's 401 when it is missing or wrong."""
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    given = bearer.strip() if scheme.lower() == "bearer" else ""
    if given and (token is None or given == token):
        return None
    reason = "ACCESS_TOKEN_EXPIRED" if given else "CREDENTIALS_MISSING"
    info = {
        "@type": _TYPE + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "aiplatform.googleapis.com"},
    }
    return _status(401, "UNAUTHENTICATED", _UNAUTHENTICATED, info)


def _vertex_quota_error(fault: Fault, model: str) -> Reply | None:
    """Vertex's own replies for the quota faults, or None for the other faults."""
    if fault is Fault.rate_limit:
        return _status(429, "RESOURCE_EXHAUSTED", _RATE_LIMITED)
    if fault is Fault.quota_exhausted:
        violation = {
            "quotaMetric": "aiplatform.googleapis.com/generate_content_requests_per_day",
            "quotaId": "GenerateContentRequestsPerDayPerProjectPerBaseModel",
            "quotaDimensions": {"base_model": model},
            "quotaValue": "1000",
        }
        return _status(
            429,
            "RESOURCE_EXHAUSTED",
            f"Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_day "
            f"with base model: {model}. Please submit a quota increase request.",
            {"@type": _TYPE + "QuotaFailure", "violations": [violation]},
        )
    return None


class VertexGeminiFormat:
    """Gemini's generateContent at a Vertex publisher-model path, with a bearer token."""

    name = "vertex"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks the bearer token (`api_key` is the one accepted; None accepts any)."""
        return _authenticate(headers, api_key)

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads a generateContent request; the model and streaming come from the path."""
        parsed = gemini.FORMAT.parse(body, model=model, stream=stream)
        return msgspec.structs.replace(parsed, vendor=self.name)

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns the 400 INVALID_ARGUMENT."""
        return gemini.FORMAT.bad_request(message, request_id)

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns no rate-limit headers, as Gemini's."""
        return gemini.FORMAT.headers(request_id)

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a GenerateContentResponse."""
        return gemini.FORMAT.body(answer, request, response_id)

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns the SSE chunks."""
        return gemini.FORMAT.stream(answer, request, response_id)

    def stream_error(self) -> bytes:
        """Returns the bare JSON error object Gemini puts in a 200 stream."""
        return gemini.FORMAT.stream_error()

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns Vertex's quota replies, or Gemini's google.rpc reply for the 5xx faults."""
        reply = _vertex_quota_error(fault, model)
        if reply is not None:
            return reply
        return gemini.FORMAT.error(
            fault, model=model, request_id=request_id, retry_after=retry_after
        )


class VertexAnthropicFormat:
    """Claude's Messages at a Vertex rawPredict path, with a bearer token."""

    name = "vertex"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks the bearer token (no `anthropic-version` header: it is in the body)."""
        return _authenticate(headers, api_key)

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads a Messages body: `anthropic_version` required, the model from the path.

        The method decides streaming, so a body whose `stream` disagrees is refused.
        """
        try:
            fields = _DICT.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"invalid request body: {exc}") from exc
        version = fields.pop("anthropic_version", None)
        if version != ANTHROPIC_VERSION:
            raise BadRequest(
                f"anthropic_version: expected {ANTHROPIC_VERSION!r} in the body, got {version!r}"
            )
        if bool(fields.get("stream", False)) != stream:
            method = "streamRawPredict" if stream else "rawPredict"
            raise BadRequest(f"stream: {fields.get('stream')!r} does not suit {method}")
        fields["model"] = model or ""
        parsed = anthropic.FORMAT.parse(encode(fields), model=None, stream=stream)
        return msgspec.structs.replace(parsed, vendor=self.name)

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns Anthropic's 400 `invalid_request_error`."""
        return anthropic.FORMAT.bad_request(message, request_id)

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns no rate-limit headers (Vertex sends Anthropic's none)."""
        return {}

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a `message` object."""
        return anthropic.FORMAT.body(answer, request, response_id)

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns the Messages stream events."""
        return anthropic.FORMAT.stream(answer, request, response_id)

    def stream_error(self) -> bytes:
        """Returns an `event: error` frame (overloaded)."""
        return anthropic.FORMAT.stream_error()

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns Vertex's quota replies, or Anthropic's reply for the 5xx faults."""
        reply = _vertex_quota_error(fault, model)
        if reply is not None:
            return reply
        return anthropic.FORMAT.error(
            fault, model=model, request_id=request_id, retry_after=retry_after
        )


GEMINI = VertexGeminiFormat()
CLAUDE = VertexAnthropicFormat()
_METHODS = {
    ("google", "generateContent"): (GEMINI, False),
    ("google", "streamGenerateContent"): (GEMINI, True),
    ("anthropic", "rawPredict"): (CLAUDE, False),
    ("anthropic", "streamRawPredict"): (CLAUDE, True),
}


def routes(handle: Handler) -> list[Route]:
    """Returns the Vertex routes, each calling `handle(format, request, model=, stream=)`."""

    async def endpoint(request: Request) -> Response:
        params = request.path_params
        model, _, method = params["target"].partition(":")
        found = _METHODS.get((params["publisher"], method))
        if found is None or not model:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        fmt, stream = found
        return await handle(fmt, request, model=model, stream=stream)

    path = (
        "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}"
    )
    return [Route(path, endpoint, methods=["POST"])]
