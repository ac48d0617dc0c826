"""Reads the Gemini API's answers: GenerateContentResponse bodies and stream chunks.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls never
break parsing. Usage is normalised: input is `promptTokenCount` (cached content included),
output is candidates plus thoughts. An error object found in an answer is raised through
`errors`; a blocked prompt is a ContentFilterError naming the block reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ashford_llm.errors import ContentFilterError
from ashford_llm.providers._http import decode_json, require_text
from ashford_llm.providers.dialect import NO_DELTAS, Delta
from ashford_llm.providers.google.errors import Status, error_from_status
from ashford_llm.types import CompletionResponse, FinishReason, TextDelta

__all__ = ["GoogleStreamDecoder", "parse_response"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}


class _Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None


class _Content(msgspec.Struct, rename="camel"):
    parts: list[_Part] | None = None


class _Candidate(msgspec.Struct, rename="camel"):
    content: _Content | None = None
    finish_reason: str | None = None


class _PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None
    block_reason_message: str | None = None


class _Usage(msgspec.Struct, rename="camel"):
    prompt_token_count: int | None = None
    candidates_token_count: int | None = None
    thoughts_token_count: int | None = None
    cached_content_token_count: int | None = None


class _Response(msgspec.Struct, rename="camel"):
    candidates: list[_Candidate] | None = None
    prompt_feedback: _PromptFeedback | None = None
    usage_metadata: _Usage | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: Status | None = None


_RESPONSE_DECODER = msgspec.json.Decoder(_Response)


def _finish_reason(reason: str | None) -> FinishReason:
    """Normalises Gemini's finishReason; unknown and missing values are "other"."""
    return _FINISH_REASONS.get(reason or "", "other")


def _text(candidate: _Candidate) -> str:
    """Joins a candidate's text parts, skipping thought summaries."""
    if candidate.content is None or not candidate.content.parts:
        return ""
    return "".join(p.text for p in candidate.content.parts if p.text and not p.thought)


def _blocked(feedback: _PromptFeedback | None, provider: str) -> ContentFilterError | None:
    """Returns the error for a prompt the safety filter blocked, if it was."""
    if feedback is None or not feedback.block_reason:
        return None
    detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
    return ContentFilterError(
        f"Gemini blocked the prompt ({feedback.block_reason}){detail}",
        provider=provider,
        error_code=feedback.block_reason,
    )


def _build(
    content: str,
    finish: FinishReason,
    usage: _Usage,
    *,
    model: str,
    provider: str,
    response_id: str | None,
    latency_ms: float,
    request_id: str | None,
) -> CompletionResponse:
    """Normalises usage: input includes cached content; output includes thoughts."""
    thoughts = usage.thoughts_token_count
    return CompletionResponse(
        content=content,
        model=model,
        input_tokens=usage.prompt_token_count or 0,
        output_tokens=(usage.candidates_token_count or 0) + (thoughts or 0),
        latency_ms=latency_ms,
        finish_reason=finish,
        provider=provider,
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=usage.cached_content_token_count,
        reasoning_tokens=thoughts,
    )


def parse_response(
    body: bytes, *, provider: str, model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a GenerateContentResponse: the first candidate's text, usage, ids."""
    parsed = decode_json(_RESPONSE_DECODER, body, provider=provider, what="a Gemini response")
    if parsed.error is not None:
        raise error_from_status(parsed.error, None)
    if not parsed.candidates:
        blocked = _blocked(parsed.prompt_feedback, provider)
        if blocked is not None:
            blocked.request_id = request_id
            raise blocked
    candidate = parsed.candidates[0] if parsed.candidates else _Candidate()
    content = _text(candidate)
    finish = _finish_reason(candidate.finish_reason)
    require_text(content, finish, provider=provider, request_id=request_id)
    return _build(
        content,
        finish,
        parsed.usage_metadata or _Usage(),
        model=parsed.model_version or model,
        provider=provider,
        response_id=parsed.response_id,
        latency_ms=latency_ms,
        request_id=request_id,
    )


class GoogleStreamDecoder:
    """Reads Gemini's SSE chunks; the stream is complete once a finishReason arrived."""

    __slots__ = ("_parts", "_usage", "finish", "model", "provider", "response_id")

    done = False  # Gemini has no terminal event: read to the end of the body.

    def __init__(self, model: str, provider: str) -> None:
        self.model = model
        self.provider = provider
        self.response_id: str | None = None
        self.finish: str | None = None
        self._parts: list[str] = []
        self._usage = _Usage()

    @property
    def complete(self) -> bool:
        """True once a chunk carried a finishReason."""
        return self.finish is not None

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens of the last usage seen; output includes thoughts."""
        usage = self._usage
        known = [
            count
            for count in (usage.candidates_token_count, usage.thoughts_token_count)
            if count is not None
        ]
        return usage.prompt_token_count, (sum(known) if known else None)

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one chunk; returns its delta, or raises for an error or a blocked prompt."""
        chunk = decode_json(_RESPONSE_DECODER, data, provider=self.provider, what="a stream chunk")
        if chunk.error is not None:
            raise error_from_status(chunk.error, None)
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        self.model = chunk.model_version or self.model
        self.response_id = chunk.response_id or self.response_id
        if not chunk.candidates:
            blocked = _blocked(chunk.prompt_feedback, self.provider)
            if blocked is not None:
                raise blocked
            return NO_DELTAS
        candidate = chunk.candidates[0]
        if candidate.finish_reason:
            self.finish = candidate.finish_reason
        text = _text(candidate)
        if not text:
            return NO_DELTAS
        self._parts.append(text)
        return (TextDelta(text),)

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from the streamed text and the last usage seen."""
        content = "".join(self._parts)
        finish = _finish_reason(self.finish)
        require_text(content, finish, provider=self.provider, request_id=request_id)
        return _build(
            content,
            finish,
            self._usage,
            model=self.model,
            provider=self.provider,
            response_id=self.response_id,
            latency_ms=latency_ms,
            request_id=request_id,
        )
