"""Reads the Gemini API's answers: GenerateContentResponse bodies and stream chunks.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls never
break parsing. Usage is normalised: input is `promptTokenCount` (cached content included),
output is candidates plus thoughts. An error object found in an answer is raised through
`errors`; a blocked prompt is a ContentFilterError naming the block reason.

Parts keep their order. A `thought: true` part is a ReasoningPart (its text is a thought
summary, left out of `content`); a `thoughtSignature` is kept so the turn can be sent back:
on a thought part as that part's signature, on any other part (Gemini 3 signs text parts) as
a text-less ReasoningPart placed just before the part it belongs to, which the dialect turns
back into a signature on the next part. A stream joins consecutive pieces of one kind into one
part; a signature arriving on an empty closing chunk stays a text-less ReasoningPart at the end.

A `functionCall` part is a ToolCall in answer order, its `thoughtSignature` (Gemini 3 signs the
first call of a turn and requires it back) kept on the call itself. `args` is read as raw JSON
and decoded by `decode_arguments` (absent: `{}`). Gemini's `id` is optional and usually absent:
a missing one is generated as `gemini-<responseId>-<n>` (`n` the call's position among the
answer's calls; the name stands in for a missing responseId), stable for the conversation
because it is derived from the answer, and recognisable by its prefix so the dialect does not
send it back as if Gemini had made it. Gemini streams each call whole in one chunk: one
ToolCallDelta carries its id, name and complete JSON arguments. An answer with calls finishes
with "tool_calls" (Gemini says STOP) and needs no text.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ashford_llm.errors import ContentFilterError, EmptyResponseError, ResponseDecodeError
from ashford_llm.providers._http import decode_arguments, decode_json, require_text
from ashford_llm.providers.dialect import NO_DELTAS, Delta
from ashford_llm.providers.google.errors import Status, error_from_status
from ashford_llm.types import (
    CompletionResponse,
    FinishReason,
    Part,
    ReasoningDelta,
    ReasoningPart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)

__all__ = ["GENERATED_ID_PREFIX", "GoogleStreamDecoder", "parse_response"]

GENERATED_ID_PREFIX = "gemini-"
"""Starts the ids generated for calls Gemini sent without one."""

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


class _FunctionCall(msgspec.Struct):
    name: str | None = None
    args: msgspec.Raw = msgspec.Raw()
    id: str | None = None


class _Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    function_call: _FunctionCall | None = None


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


class _Run(msgspec.Struct):
    """One answer part being assembled: thought or text pieces, and a signature."""

    thought: bool
    pieces: list[str]
    signature: str | None = None


class _Parts:
    """Assembles an answer's parts in order; `merge` joins a stream's consecutive pieces."""

    __slots__ = ("calls", "merge", "provider", "response_id", "runs")

    def __init__(self, provider: str, *, merge: bool) -> None:
        self.provider = provider
        self.merge = merge
        self.runs: list[_Run | ToolCall] = []
        self.calls = 0
        self.response_id: str | None = None

    def add(self, part: _Part, deltas: list[Delta] | None) -> None:
        """Adds one vendor part; appends its delta (if it has text or a call) to `deltas`."""
        if part.function_call is not None:
            self._call(part.function_call, part.thought_signature, deltas)
            return
        text = part.text or ""
        signature = part.thought_signature
        runs = self.runs
        last = runs[-1] if runs and type(runs[-1]) is _Run else None
        if part.thought:
            # A thought run stays open until a signed part closes it.
            if self.merge and last is not None and last.thought and last.signature is None:
                last.pieces.append(text)
                last.signature = signature
            else:
                runs.append(_Run(True, [text], signature))
            if text and deltas is not None:
                deltas.append(ReasoningDelta(text))
            return
        if signature is not None:
            runs.append(_Run(True, [], signature))
            last = None
        if not text:
            return
        if self.merge and last is not None and not last.thought:
            last.pieces.append(text)
        else:
            runs.append(_Run(False, [text]))
        if deltas is not None:
            deltas.append(TextDelta(text))

    def _call(self, call: _FunctionCall, signature: str | None, deltas: list[Delta] | None) -> None:
        """Adds a functionCall as a ToolCall (an id generated when Gemini sent none)."""
        name = call.name
        if not name:
            raise ResponseDecodeError("Gemini sent a functionCall without a name")
        raw = bytes(call.args)
        arguments = {} if raw == b"null" else decode_arguments(raw, tool=name)
        index = self.calls
        self.calls += 1
        call_id = call.id or f"{GENERATED_ID_PREFIX}{self.response_id or name}-{index}"
        self.runs.append(
            ToolCall(call_id, name, arguments, signature=signature, provider=self.provider)
        )
        if deltas is not None:
            text = "" if raw == b"null" else raw.decode()
            deltas.append(ToolCallDelta(index, call_id, name, text))

    def build(self) -> tuple[str, tuple[Part, ...], str | None]:
        """Returns the text, the parts (empty for plain text) and the reasoning text."""
        runs = self.runs
        if not runs:
            return "", (), None
        first = runs[0]
        if len(runs) == 1 and type(first) is _Run and not first.thought:
            return "".join(first.pieces), (), None
        parts: list[Part] = []
        texts: list[str] = []
        thoughts: list[str] = []
        for run in runs:
            if isinstance(run, ToolCall):
                parts.append(run)
                continue
            joined = "".join(run.pieces)
            if run.thought:
                thoughts.append(joined)
                parts.append(ReasoningPart(joined, signature=run.signature, provider=self.provider))
            else:
                texts.append(joined)
                parts.append(TextPart(joined))
        return "".join(texts), tuple(parts), "".join(thoughts) or None


def _finish_reason(reason: str | None) -> FinishReason:
    """Normalises Gemini's finishReason; unknown and missing values are "other"."""
    return _FINISH_REASONS.get(reason or "", "other")


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


def _require_text(
    content: str,
    finish: FinishReason,
    usage: _Usage,
    reasoning: str | None,
    *,
    provider: str,
    request_id: str | None,
) -> None:
    """Raises for an answer without text, saying so when reasoning used the whole budget."""
    if not content and finish == "length" and (usage.thoughts_token_count or reasoning):
        raise EmptyResponseError(
            "the model spent its whole output budget on reasoning and returned no text "
            f"({usage.thoughts_token_count or 0} thinking tokens, finish reason MAX_TOKENS): "
            "raise max_tokens or lower the reasoning effort or budget",
            provider=provider,
            request_id=request_id,
        )
    require_text(content, finish, provider=provider, request_id=request_id)


def _build(
    built: tuple[str, tuple[Part, ...], str | None],
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
    content, parts, reasoning = built
    if parts and any(type(part) is ToolCall for part in parts):
        finish = "tool_calls"  # Gemini says STOP: it has no tool-specific reason
    else:
        _require_text(content, finish, usage, reasoning, provider=provider, request_id=request_id)
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
        parts=parts,
        reasoning_text=reasoning,
    )


def parse_response(
    body: bytes, *, provider: str, model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a GenerateContentResponse: the first candidate's parts, usage, ids."""
    parsed = decode_json(_RESPONSE_DECODER, body, provider=provider, what="a Gemini response")
    if parsed.error is not None:
        raise error_from_status(parsed.error, None)
    if not parsed.candidates:
        blocked = _blocked(parsed.prompt_feedback, provider)
        if blocked is not None:
            blocked.request_id = request_id
            raise blocked
    candidate = parsed.candidates[0] if parsed.candidates else _Candidate()
    parts = candidate.content.parts if candidate.content is not None else None
    first = parts[0] if parts and len(parts) == 1 else None
    if (
        first is not None
        and not first.thought
        and not first.thought_signature
        and first.function_call is None
    ):  # plain text: the fast path
        built: tuple[str, tuple[Part, ...], str | None] = (first.text or "", (), None)
    else:  # thoughts, signatures, calls or several parts: keep each part
        assembled = _Parts(provider, merge=False)
        assembled.response_id = parsed.response_id
        for part in parts or ():
            assembled.add(part, None)
        built = assembled.build()
    return _build(
        built,
        _finish_reason(candidate.finish_reason),
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
        self._parts = _Parts(provider, merge=True)
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
        """Consumes one chunk; returns its deltas in order, or raises for an error or a block."""
        chunk = decode_json(_RESPONSE_DECODER, data, provider=self.provider, what="a stream chunk")
        if chunk.error is not None:
            raise error_from_status(chunk.error, None)
        if chunk.usage_metadata is not None:
            self._usage = chunk.usage_metadata
        self.model = chunk.model_version or self.model
        self.response_id = chunk.response_id or self.response_id
        self._parts.response_id = self.response_id
        if not chunk.candidates:
            blocked = _blocked(chunk.prompt_feedback, self.provider)
            if blocked is not None:
                raise blocked
            return NO_DELTAS
        candidate = chunk.candidates[0]
        if candidate.finish_reason:
            self.finish = candidate.finish_reason
        if candidate.content is None or not candidate.content.parts:
            return NO_DELTAS
        deltas: list[Delta] = []
        for part in candidate.content.parts:
            self._parts.add(part, deltas)
        return deltas

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from the streamed parts and the last usage seen."""
        return _build(
            self._parts.build(),
            _finish_reason(self.finish),
            self._usage,
            model=self.model,
            provider=self.provider,
            response_id=self.response_id,
            latency_ms=latency_ms,
            request_id=request_id,
        )
