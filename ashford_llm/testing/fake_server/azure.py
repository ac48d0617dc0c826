"""Azure OpenAI as the fake server speaks it: both URL styles, its auth, its content filter.

Routes (added to the app by `routes`):

- `POST /openai/v1/chat/completions` (the v1 API): refuses an `api-version` query, as Azure
  does, and reads the deployment from the body's `model`;
- `POST /openai/deployments/{deployment}/chat/completions?api-version=...`: answers 404
  without `api-version`, as Azure does; the deployment in the path is the model.

Both accept the key as `api-key` or a token as `Authorization: Bearer` (the server's
`api_key`, or any non-empty value), and answer in OpenAI's format with Azure's additions:
`prompt_filter_results` (an annotation-only first chunk in streams, with empty id and model)
and `content_filter_results` on every choice. The fault kinds are OpenAI's, except that a
rate limit uses Azure's 429 wording. A prompt containing `FILTER_PROMPT` gets Azure's 400
content-filter error; one containing `FILTER_COMPLETION` gets an answer the filter cut
(finish reason `content_filter`: no text when complete; a stream's last chunk says so).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.openai import FORMAT as OPENAI
from ashford_llm.testing.fake_server.wire import (
    BadRequest,
    Reply,
    StreamPlan,
    VendorFormat,
    encode,
    sse,
)

__all__ = ["DEPLOYMENTS", "FILTER_COMPLETION", "FILTER_PROMPT", "V1", "AzureFormat", "routes"]

FILTER_PROMPT = "[azure-filter:prompt]"
"""A prompt holding this text is refused by the fake content filter (400 `content_filter`)."""
FILTER_COMPLETION = "[azure-filter:completion]"
"""A prompt holding this text gets an answer the fake content filter cut."""

_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}
_PROMPT_RESULTS = {
    "hate": _SAFE,
    "jailbreak": _NOT_DETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_ANSWER_RESULTS = {
    "hate": _SAFE,
    "protected_material_code": _NOT_DETECTED,
    "protected_material_text": _NOT_DETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_FILTERED_PROMPT = {**_PROMPT_RESULTS, "self_harm": {"filtered": True, "severity": "medium"}}
_FILTERED_ANSWER = {**_ANSWER_RESULTS, "violence": {"filtered": True, "severity": "high"}}
_PROMPT_ANNOTATION = [{"prompt_index": 0, "content_filter_results": _PROMPT_RESULTS}]
_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
    "a valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
_MARK = "azure-reply:"  # a BadRequest whose message is a whole Azure reply body

Handle = Callable[..., Awaitable[Response]]
"""The app's request handler: `handle(fmt, request, model=..., stream=...)`."""


def _azure_error(code: str, message: str) -> bytes:
    return encode({"error": {"code": code, "message": message}})


def _reply_in(message: str) -> bytes | None:
    """Returns the Azure body a BadRequest carries, if it carries one."""
    return message[len(_MARK) :].encode() if message.startswith(_MARK) else None


def _frame_json(frame: bytes) -> dict[str, Any]:
    """Reads the JSON of one `data: {...}` frame."""
    value: dict[str, Any] = msgspec.json.decode(frame.removeprefix(b"data: ").strip())
    return value


def _annotated(frame: bytes, results: dict[str, Any], finish: str | None = None) -> bytes:
    """Adds `content_filter_results` (and a finish reason) to a chunk frame's choice."""
    chunk = _frame_json(frame)
    for choice in chunk.get("choices") or ():
        choice["content_filter_results"] = results
        if finish is not None:
            choice["finish_reason"] = finish
    return sse(chunk)


class AzureFormat:
    """Azure OpenAI Chat Completions in one URL style: OpenAI's format plus Azure's rules."""

    name = "azure"

    def __init__(self, *, deployments: bool) -> None:
        self.deployments = deployments

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks the URL style's api-version rule, then `api-key` or a bearer token."""
        if self.deployments and not query.get("api-version"):
            return Reply(status=404, body=_azure_error("404", "Resource not found"))
        if not self.deployments and "api-version" in query:
            message = "api-version query parameter is not allowed when using /v1 path"
            return Reply(status=400, body=_azure_error("BadRequest", message))
        key = headers.get("api-key", "")
        if not key:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            key = token if scheme.lower() == "bearer" else ""
        if key and (api_key is None or key == api_key):
            return None
        return Reply(status=401, body=_azure_error("401", _DENIED))

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads the request as OpenAI does; a deployments URL gives the model."""
        if model is not None:
            try:
                data = msgspec.json.decode(body)
            except msgspec.DecodeError as exc:
                message = f"We could not parse the JSON body of your request. ({exc})"
                raise BadRequest(message) from exc
            if isinstance(data, dict):
                data.setdefault("model", model)
                body = encode(data)
        parsed = OPENAI.parse(body, model=None, stream=stream)
        if any(FILTER_PROMPT in text for _, text in parsed.messages):
            error = {
                "message": _FILTER_MESSAGE,
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": _FILTERED_PROMPT,
                },
            }
            raise BadRequest(_MARK + encode({"error": error}).decode())
        return msgspec.structs.replace(parsed, vendor=self.name)

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns the 400: a content-filter refusal, else OpenAI's `invalid_request_error`."""
        body = _reply_in(message)
        if body is None:
            return OPENAI.bad_request(message, request_id)
        return Reply(
            status=400,
            body=body,
            headers={"apim-request-id": request_id, "x-request-id": request_id},
        )

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns OpenAI's headers plus Azure's `apim-request-id` and region."""
        return OPENAI.headers(request_id) | {"apim-request-id": request_id, "x-ms-region": "fake"}

    @staticmethod
    def _filters_completion(request: AnswerRequest) -> bool:
        return any(FILTER_COMPLETION in text for _, text in request.messages)

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a completion with Azure's filter annotations (cut when asked)."""
        completion = msgspec.json.decode(OPENAI.body(answer, request, response_id))
        completion["prompt_filter_results"] = _PROMPT_ANNOTATION
        choice = completion["choices"][0]
        if self._filters_completion(request):
            choice["finish_reason"] = "content_filter"
            choice["message"]["content"] = None
            choice["content_filter_results"] = _FILTERED_ANSWER
        else:
            choice["content_filter_results"] = _ANSWER_RESULTS
        return encode(completion)

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns OpenAI's chunks after a prompt-annotation chunk, each choice annotated."""
        plan = OPENAI.stream(answer, request, response_id)
        first = _frame_json(plan.head[0])
        annotation = {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": _PROMPT_ANNOTATION,
        }
        chunks = tuple(_annotated(frame, _ANSWER_RESULTS) for frame in plan.chunks)
        finish, usage, done = plan.tail
        if self._filters_completion(request):
            finish = _annotated(finish, _FILTERED_ANSWER, "content_filter")
        return StreamPlan(
            head=(sse(annotation), sse(first)),
            chunks=chunks,
            tail=(finish, usage, done),
            content_type=plan.content_type,
        )

    def stream_error(self) -> bytes:
        """Returns OpenAI's `data: {"error": ...}` frame."""
        return OPENAI.stream_error()

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns Azure's 429 for a rate limit, else OpenAI's reply for the fault."""
        if fault is not Fault.rate_limit:
            return OPENAI.error(fault, model=model, request_id=request_id, retry_after=retry_after)
        seconds = math.ceil(retry_after)
        message = (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
            "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
            f"Please retry after {seconds} second{'s' if seconds != 1 else ''}."
        )
        headers = {
            "apim-request-id": request_id,
            "x-request-id": request_id,
            "retry-after": str(seconds),
            "retry-after-ms": str(round(retry_after * 1000)),
        }
        return Reply(status=429, headers=headers, body=_azure_error("429", message))


V1: VendorFormat = AzureFormat(deployments=False)
DEPLOYMENTS: VendorFormat = AzureFormat(deployments=True)


def routes(handle: Handle) -> list[Route]:
    """Returns the Azure routes, each handing its requests to the app's `handle`."""

    async def v1(request: Request) -> Response:
        return await handle(V1, request, model=None, stream=False)

    async def deployments(request: Request) -> Response:
        deployment = request.path_params["deployment"]
        return await handle(DEPLOYMENTS, request, model=deployment, stream=False)

    return [
        Route("/openai/v1/chat/completions", v1, methods=["POST"]),
        Route("/openai/deployments/{deployment}/chat/completions", deployments, methods=["POST"]),
    ]
