"""OpenAI Chat Completions as the fake server speaks it: bodies, chunks, error envelopes.

Content arrays are read as OpenAI reads them: text, `image_url` (a URL or a base64 `data:`
URL of a PNG, JPEG, WEBP or GIF) and `file` parts (a PDF `data:` URL, or an uploaded file
id); a malformed part gets OpenAI's 400 body for it (messages and codes copied from real
answers). `reasoning_effort` other than "none" makes the answer report reasoning tokens,
never reasoning text (Chat Completions returns none). Every message but the last is the
cacheable prefix: a repeated one comes back as `prompt_tokens_details.cached_tokens` (the
real API caches from 1,024 tokens on; the fake server from the first). Tools, the tool
choice and tool calls are read and written by `openai_tools`.
"""

from __future__ import annotations

import base64
import binascii
import math
import mimetypes
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.openai_tools import InvalidParam as _InvalidPart
from ashford_llm.testing.fake_server.openai_tools import (
    check_history,
    read_tools,
    stream_calls,
    tool_calls,
)
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode, sse

__all__ = ["FORMAT", "OpenAIFormat"]


class _Message(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class _ResponseFormat(msgspec.Struct):
    type: str = "text"


class _Request(msgspec.Struct):
    model: str
    messages: list[_Message]
    max_completion_tokens: int | None = None
    max_tokens: int | None = None
    stream: bool = False
    response_format: _ResponseFormat | None = None
    reasoning_effort: str | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None


_decoder = msgspec.json.Decoder(_Request)
_PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_IMAGE_TYPES = frozenset(("image/png", "image/jpeg", "image/webp", "image/gif"))


def _json_kind(value: Any) -> str:
    """Names a JSON value's type as OpenAI's messages do ("a string", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names = {str: "a string", list: "an array", int: "an integer", float: "a number"}
    return names.get(type(value), "an object")


def _data_url(url: str) -> tuple[str, bytes] | None:
    """Splits `data:<media type>;base64,<data>`; None when it is not one or will not decode."""
    head, comma, data = url.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (head[5:-7], decoded) if decoded else None


def _image(image_url: Any, where: str) -> str:
    """Checks an `image_url` part as OpenAI does; returns the image's media type."""
    if not isinstance(image_url, dict):
        raise _InvalidPart(
            f"Invalid type for '{where}.image_url': expected an object, but got "
            f"{_json_kind(image_url)} instead.",
            param=f"{where}.image_url",
            code="invalid_type",
        )
    url = image_url.get("url")
    if not isinstance(url, str) or not url:
        raise _InvalidPart(
            f"Missing required parameter: '{where}.image_url.url'.",
            param=f"{where}.image_url.url",
            code="missing_required_parameter",
        )
    if not url.startswith("data:"):
        return mimetypes.guess_type(url.partition("?")[0])[0] or "image/*"
    parsed = _data_url(url)
    if parsed is None:
        raise _InvalidPart(
            "You uploaded an unsupported image. Please make sure your image is valid.",
            param=None,
            code="image_parse_error",
        )
    if parsed[0] not in _IMAGE_TYPES:
        raise _InvalidPart(
            "You uploaded an unsupported image. Please make sure your image has of one the "
            "following formats: ['png', 'jpeg', 'gif', 'webp'].",
            param=None,
            code="invalid_image_format",
        )
    return parsed[0]


def _file(file: Any, where: str) -> str:
    """Checks a `file` part as Chat Completions does (PDF only); returns its media type."""
    if not isinstance(file, dict):
        raise _InvalidPart(
            f"Invalid type for '{where}.file': expected an object, but got "
            f"{_json_kind(file)} instead.",
            param=f"{where}.file",
            code="invalid_type",
        )
    data = file.get("file_data")
    if data is None and isinstance(file.get("file_id"), str):
        return "application/pdf"
    param = f"{where}.file.file_data"
    expected = (
        f"Invalid file data: '{param}'. Expected a base64-encoded data URL with an "
        "application/pdf MIME type (e.g. 'data:application/pdf;base64,SGVsbG8sIFdvcmxkIQ==')"
    )
    if not isinstance(data, str) or not data.startswith("data:"):
        raise _InvalidPart(
            f"{expected}, but got a value without the 'data:' prefix.",
            param=param,
            code="invalid_value",
        )
    parsed = _data_url(data)
    if parsed is None or parsed[0] != "application/pdf":
        got = data.partition(";")[0][5:] or "none"
        raise _InvalidPart(
            f"{expected}, but got unsupported MIME type '{got}'.", param=param, code="invalid_value"
        )
    return parsed[0]


def _content(content: str | list[dict[str, Any]] | None, index: int, media: list[str]) -> str:
    """Returns a message's text, checking its parts and adding its attachments to `media`."""
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for position, part in enumerate(content):
        where = f"messages[{index}].content[{position}]"
        kind = part.get("type")
        if kind not in _PART_TYPES:
            raise _InvalidPart(
                f"Invalid value: {kind!r}. Supported values are: 'text', 'image_url', "
                "'input_audio', 'refusal', 'audio', and 'file'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise _InvalidPart(
                    f"Missing required parameter: '{where}.text'.",
                    param=f"{where}.text",
                    code="missing_required_parameter",
                )
            texts.append(text)
        elif kind == "image_url":
            media.append(_image(part.get("image_url"), where))
        elif kind == "file":
            media.append(_file(part.get("file"), where))
    return "".join(texts)


def _error(message: str, type_: str, code: str | None) -> bytes:
    return encode({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _usage(answer: Answer) -> dict[str, object]:
    prompt_details: dict[str, object] = {"cached_tokens": answer.cached_tokens, "audio_tokens": 0}
    if answer.cache_write_tokens:
        prompt_details["cache_write_tokens"] = answer.cache_write_tokens
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": answer.reasoning_tokens,
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
        media: list[str] = []
        messages = tuple(
            (m.role, _content(m.content, index, media)) for index, m in enumerate(request.messages)
        )
        tools, choice, allowed = read_tools(request.tools, request.tool_choice)
        check_history(request.messages)
        return AnswerRequest(
            vendor=self.name,
            model=request.model,
            messages=messages,
            json=json_wanted,
            max_tokens=request.max_completion_tokens or request.max_tokens,
            stream=request.stream,
            attachments=tuple(media),
            # The model thinks (reasoning tokens are reported), but its text never comes back.
            reasoning=request.reasoning_effort not in (None, "none"),
            cache_prefix="\n".join(text for _, text in messages[:-1]),
            tools=tools,
            tool_choice=choice,
            allowed_tools=allowed,
            parallel_tool_calls=request.parallel_tool_calls,
        )

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns OpenAI's 400 `invalid_request_error` (a malformed part's own error object)."""
        if message.startswith('{"message":'):
            body = b'{"error":' + message.encode() + b"}"
        else:
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
        """Returns a `chat.completion` object (content null when the answer is tool calls)."""
        message: dict[str, object] = {
            "role": "assistant",
            "content": answer.text if answer.text or not answer.calls else None,
        }
        if answer.calls:
            message["tool_calls"] = tool_calls(answer.calls)
        message |= {"refusal": None, "annotations": []}
        return encode(
            {
                "id": f"chatcmpl-{response_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
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
        """Returns role chunk, one chunk per word (or call fragment), finish, usage, `[DONE]`."""
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

        if answer.calls:
            head = chunk({"role": "assistant", "content": None})
            frames = stream_calls(answer.calls, chunk)
            texts: tuple[str, ...] | None = ("",) * len(frames)
        else:
            head = chunk({"role": "assistant", "content": "", "refusal": None})
            frames = [chunk({"content": piece}) for piece in answer.chunks]
            texts = None
        return StreamPlan(
            head=(head,),
            chunks=tuple(frames),
            texts=texts,
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
