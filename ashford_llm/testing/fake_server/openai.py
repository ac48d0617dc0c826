"""OpenAI Chat Completions as the fake server speaks it: bodies, chunks, error envelopes."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode, sse

__all__ = ["FORMAT", "OpenAIFormat"]


class _Part(msgspec.Struct):
    type: str = "text"
    text: str = ""


class _Message(msgspec.Struct):
    role: str
    content: str | list[_Part] | None = None


class _ResponseFormat(msgspec.Struct):
    type: str = "text"


class _Request(msgspec.Struct):
    model: str
    messages: list[_Message]
    max_completion_tokens: int | None = None
    max_tokens: int | None = None
    stream: bool = False
    response_format: _ResponseFormat | None = None


_decoder = msgspec.json.Decoder(_Request)


def _text(content: str | list[_Part] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content if part.type == "text")


def _error(message: str, type_: str, code: str | None) -> bytes:
    return encode({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _usage(answer: Answer) -> dict[str, object]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class OpenAIFormat:
    """The OpenAI `POST /v1/chat/completions` wire format."""

    name = "openai"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks `Authorization: Bearer <key>`; a wrong key gets OpenAI's 401 body."""
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and key and (api_key is None or key == api_key):
            return None
        message = (
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        body = _error(message, "invalid_request_error", "invalid_api_key" if key else None)
        return Reply(status=401, body=body, content_type="application/json; charset=utf-8")

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads a chat completions request."""
        try:
            request = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"We could not parse the JSON body of your request. ({exc})") from exc
        json_wanted = request.response_format is not None and request.response_format.type in (
            "json_object",
            "json_schema",
        )
        return AnswerRequest(
            vendor=self.name,
            model=request.model,
            messages=tuple((m.role, _text(m.content)) for m in request.messages),
            json=json_wanted,
            max_tokens=request.max_completion_tokens or request.max_tokens,
            stream=request.stream,
        )

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns OpenAI's 400 `invalid_request_error`."""
        body = _error(message, "invalid_request_error", None)
        return Reply(status=400, body=body, headers={"x-request-id": request_id})

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns `x-request-id` and the `x-ratelimit-*` headers."""
        return {
            "x-request-id": request_id,
            "openai-processing-ms": "12",
            "x-ratelimit-limit-requests": "5000",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-limit-tokens": "800000",
            "x-ratelimit-remaining-tokens": "799990",
            "x-ratelimit-reset-tokens": "0s",
        }

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a `chat.completion` object."""
        return encode(
            {
                "id": f"chatcmpl-{response_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": answer.text,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": answer.finish,
                    }
                ],
                "usage": _usage(answer),
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
            }
        )

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns role chunk, one chunk per word, finish chunk, usage chunk, `[DONE]`."""
        base = {
            "id": f"chatcmpl-{response_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse({**base, "choices": [choice], "usage": None})

        return StreamPlan(
            head=(chunk({"role": "assistant", "content": "", "refusal": None}),),
            chunks=tuple(chunk({"content": piece}) for piece in answer.chunks),
            tail=(
                chunk({}, answer.finish),
                sse({**base, "choices": [], "usage": _usage(answer)}),
                b"data: [DONE]\n\n",
            ),
        )

    def stream_error(self) -> bytes:
        """Returns a `data: {"error": ...}` frame."""
        return sse(
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": "server_error",
                }
            }
        )

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns OpenAI's reply for a status fault."""
        headers = {"x-request-id": request_id}
        if fault is Fault.rate_limit:
            headers |= {
                "retry-after": str(math.ceil(retry_after)),
                "retry-after-ms": str(round(retry_after * 1000)),
                "x-ratelimit-limit-tokens": "800000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": f"{round(retry_after * 1000)}ms",
            }
            message = (
                "Rate limit reached for requests on tokens per min (TPM): Limit 800000, "
                f"Used 800000, Requested 100. Please try again in {retry_after:g}s."
            )
            return Reply(
                status=429, headers=headers, body=_error(message, "tokens", "rate_limit_exceeded")
            )
        if fault is Fault.quota_exhausted:
            message = "You exceeded your current quota, please check your plan and billing details."
            body = _error(message, "insufficient_quota", "insufficient_quota")
            return Reply(status=429, headers=headers, body=body)
        if fault is Fault.server_error:
            message = "The server had an error while processing your request. Sorry about that!"
            return Reply(status=500, headers=headers, body=_error(message, "server_error", None))
        message = "The server is overloaded or not ready yet."
        body = _error(message, "server_error", "server_is_overloaded")
        return Reply(status=503, headers=headers, body=body)


FORMAT = OpenAIFormat()
