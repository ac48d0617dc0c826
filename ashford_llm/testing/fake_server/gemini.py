"""Gemini generateContent as the fake server speaks it: bodies, SSE chunks, google.rpc errors.

Requests may carry text, `inlineData` (base64, checked as the API checks it), `fileData` and
thought parts; a malformed part is the API's 400 INVALID_ARGUMENT with its real message.
Gemini caches implicitly: the cacheable prefix is the system instruction and every turn before
the last. Thought summaries (when `includeThoughts` asked for them) come before the text.
Tools, the calling config and function calls are read and written by `gemini_tools`.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault
from ashford_llm.testing.fake_server.gemini_tools import call_parts, read_tools, turns
from ashford_llm.testing.fake_server.wire import BadRequest, Reply, StreamPlan, encode, sse

__all__ = ["FORMAT", "GeminiFormat"]

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_JSON = "application/json; charset=UTF-8"
_TYPE = "type.googleapis.com/google.rpc."


_IMAGE_TYPES = frozenset(("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"))
_MEDIA_PREFIXES = ("text/", "audio/", "video/")


# Field names are the vendor's (camelCase).
class _Blob(msgspec.Struct):
    mimeType: str = ""
    data: str = ""


class _FileData(msgspec.Struct):
    mimeType: str = ""
    fileUri: str = ""


class _Part(msgspec.Struct):
    text: str = ""
    thought: bool = False
    inlineData: _Blob | None = None
    fileData: _FileData | None = None
    thoughtSignature: str | None = None
    functionCall: dict[str, Any] | None = None
    functionResponse: dict[str, Any] | None = None


class _Content(msgspec.Struct):
    parts: list[_Part]
    role: str = "user"


class _ThinkingConfig(msgspec.Struct):
    includeThoughts: bool = False
    include_thoughts: bool = False  # the API takes the proto's snake_case names too


class _GenerationConfig(msgspec.Struct):
    maxOutputTokens: int | None = None
    responseMimeType: str | None = None
    thinkingConfig: _ThinkingConfig | None = None


class _Request(msgspec.Struct):
    contents: list[_Content]
    systemInstruction: _Content | None = None
    generationConfig: _GenerationConfig | None = None
    tools: list[dict[str, Any]] | None = None
    toolConfig: dict[str, Any] | None = None


_decoder = msgspec.json.Decoder(_Request)


def _text(content: _Content) -> str:
    return "".join(part.text for part in content.parts if not part.thought)


def _supported(media_type: str) -> bool:
    return (
        media_type in _IMAGE_TYPES
        or media_type == "application/pdf"
        or media_type.startswith(_MEDIA_PREFIXES)
    )


def _check_base64(data: str, where: str) -> None:
    """Raises the API's TYPE_BYTES error for data that is not base64 (standard or URL-safe)."""
    padded = data.replace("-", "+").replace("_", "/") + "=" * (-len(data) % 4)
    try:
        binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        shown = data if len(data) <= 40 else data[:40] + "..."
        raise BadRequest(
            f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for \"{shown}\""
        ) from None


def _attachments(contents: list[_Content]) -> list[str]:
    """Checks every media part as the API does; returns their media types in order."""
    media: list[str] = []
    for i, content in enumerate(contents):
        for j, part in enumerate(content.parts):
            blob = part.inlineData
            file = part.fileData
            if blob is not None:
                if not blob.data or not blob.mimeType:
                    raise BadRequest(
                        "Unable to submit request because it has an empty inlineData "
                        "parameter. Add a value to the parameter and try again."
                    )
                _check_base64(blob.data, f"contents[{i}].parts[{j}].inline_data.data")
                media_type = blob.mimeType
            elif file is not None:
                if not file.fileUri or not file.mimeType:
                    raise BadRequest(
                        "Unable to submit request because it has an empty fileData "
                        "parameter. Add a value to the parameter and try again."
                    )
                media_type = file.mimeType
            else:
                continue
            if not _supported(media_type):
                raise BadRequest(f"Unsupported MIME type: {media_type}")
            media.append(media_type)
    return media


def _status(code: int, status: str, message: str, *details: Mapping[str, object]) -> Reply:
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return Reply(status=code, body=encode({"error": error}), content_type=_JSON)


def _quota_failure(model: str, quota_id: str) -> dict[str, object]:
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": model},
        "quotaValue": "10",
    }
    return {"@type": _TYPE + "QuotaFailure", "violations": [violation]}


def _usage(answer: Answer, *, final: bool) -> dict[str, object]:
    """usageMetadata: promptTokenCount includes cached tokens; thoughts count apart."""
    output = answer.output_tokens if final else 0
    usage: dict[str, object] = {
        "promptTokenCount": answer.input_tokens,
        "totalTokenCount": answer.input_tokens + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.input_tokens}],
    }
    if answer.cached_tokens:
        usage["cachedContentTokenCount"] = answer.cached_tokens
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer.cached_tokens}]
    if final:
        usage["candidatesTokenCount"] = output - answer.reasoning_tokens
        if answer.reasoning_tokens:
            usage["thoughtsTokenCount"] = answer.reasoning_tokens
    return usage


class GeminiFormat:
    """The Gemini `models/{model}:generateContent` / `:streamGenerateContent?alt=sse` format."""

    name = "gemini"

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Checks `x-goog-api-key` (or `?key=`); a wrong key is Gemini's 400 API_KEY_INVALID."""
        key = headers.get("x-goog-api-key") or query.get("key", "")
        if not key:
            message = (
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API."
            )
            return _status(403, "PERMISSION_DENIED", message)
        if api_key is not None and key != api_key:
            message = "API key not valid. Please pass a valid API key."
            info = {
                "@type": _TYPE + "ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
            localized = {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": message}
            return _status(400, "INVALID_ARGUMENT", message, info, localized)
        return None

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads a generateContent request; the model and streaming come from the path."""
        try:
            request = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"Invalid JSON payload received. {exc}") from exc
        attachments = _attachments(request.contents)
        messages = turns(request.contents, model or "")
        tools, choice, allowed = read_tools(request.tools, request.toolConfig)
        if request.systemInstruction is not None:
            messages.insert(0, ("system", _text(request.systemInstruction)))
        config = request.generationConfig or _GenerationConfig()
        thinking = config.thinkingConfig
        # Implicit caching: everything before the last turn, system instruction first.
        prefix = "\n".join(text for _, text in messages[: len(messages) - 1])
        return AnswerRequest(
            vendor=self.name,
            model=model or "",
            messages=tuple(messages),
            json=config.responseMimeType == "application/json",
            max_tokens=config.maxOutputTokens,
            stream=stream,
            attachments=tuple(attachments),
            reasoning=thinking is not None
            and (thinking.includeThoughts or thinking.include_thoughts),
            cache_prefix=prefix,
            tools=tools,
            tool_choice=choice,
            allowed_tools=allowed,
        )

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns Gemini's 400 INVALID_ARGUMENT."""
        return _status(400, "INVALID_ARGUMENT", message)

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns no rate-limit headers (the real API sends none), only server timing."""
        return {"server-timing": "gfet4t7; dur=12"}

    def _response(
        self,
        text: str,
        answer: Answer,
        request: AnswerRequest,
        response_id: str,
        *,
        final: bool,
        thought: str = "",
        calls: list[dict[str, object]] | None = None,
    ) -> dict[str, object]:
        parts: list[dict[str, object]] = [{"text": thought, "thought": True}] if thought else []
        if calls:
            parts += calls
        elif text or not thought:
            parts.append({"text": text})
        candidate: dict[str, object] = {
            "content": {"parts": parts, "role": "model"},
            "index": 0,
        }
        if final:
            candidate["finishReason"] = _FINISH[answer.finish]
            if calls:
                candidate["finishMessage"] = "Model generated function call(s)."
        return {
            "candidates": [candidate],
            "usageMetadata": _usage(answer, final=final),
            "modelVersion": request.model,
            "responseId": response_id,
        }

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns a GenerateContentResponse, thought summary first when one was asked for."""
        calls = call_parts(answer.calls, request.model)
        return encode(
            self._response(
                answer.text,
                answer,
                request,
                response_id,
                final=True,
                thought=answer.reasoning,
                calls=calls,
            )
        )

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns any thought chunk, a chunk per word (or call), then finishReason and usage."""
        thought = answer.reasoning
        if answer.calls:
            frames = tuple(
                sse(self._response("", answer, request, response_id, final=False, calls=[part]))
                for part in call_parts(answer.calls, request.model)
            )
        else:
            frames = tuple(
                sse(self._response(piece, answer, request, response_id, final=False))
                for piece in answer.chunks
            )
        return StreamPlan(
            head=(
                (
                    sse(
                        self._response(
                            "", answer, request, response_id, final=False, thought=thought
                        )
                    ),
                )
                if thought
                else ()
            ),
            chunks=frames,
            tail=(sse(self._response("", answer, request, response_id, final=True)),),
            texts=("",) * len(frames) if answer.calls else None,
        )

    def stream_error(self) -> bytes:
        """Returns a bare JSON error object in the stream body (as the API sends after a 200)."""
        error = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
        return encode({"error": error}) + b"\n"

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns Gemini's google.rpc.Status reply for a status fault."""
        if fault is Fault.rate_limit:
            retry = {"@type": _TYPE + "RetryInfo", "retryDelay": f"{retry_after:g}s"}
            return _status(
                429,
                "RESOURCE_EXHAUSTED",
                f"You exceeded your current quota. Please retry in {retry_after:g}s.",
                _quota_failure(model, "GenerateRequestsPerMinutePerProjectPerModel"),
                retry,
            )
        if fault is Fault.quota_exhausted:
            return _status(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                _quota_failure(model, "GenerateRequestsPerDayPerProjectPerModel"),
            )
        if fault is Fault.server_error:
            return _status(500, "INTERNAL", "An internal error has occurred.")
        return _status(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


FORMAT = GeminiFormat()
