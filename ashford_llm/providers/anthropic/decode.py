"""Reads the Anthropic Messages API's answers: Message bodies and stream events.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls
never break parsing. Text and thinking blocks become the answer's parts in order: a
`thinking` block a ReasoningPart with its signature, a `redacted_thinking` block one with no
text, its `data` as the signature and `redacted` set, a `tool_use` block a ToolCall (its
`input` object as the arguments; streamed, the `input_json_delta` pieces joined and decoded at
the end). An answer with calls finishes with "tool_calls" and needs no text. Usage is
normalised: input counts cache writes and reads, output counts thinking. An answer cut at
max_tokens with thinking but no text is an EmptyResponseError that says so. Error objects are
read in `errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ashford_llm.errors import EmptyResponseError, ResponseDecodeError
from ashford_llm.providers._http import (
    DECODE_FAILURES,
    decode_arguments,
    decode_json,
    require_text,
)
from ashford_llm.providers.anthropic.errors import ErrorDetail, error_from_detail
from ashford_llm.providers.dialect import NO_DELTAS, Delta
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

__all__ = ["AnthropicStreamDecoder", "parse_message"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: dict[str, Any] | None = None


class _Block(msgspec.Struct, gc=False):
    type: str = ""
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None


class _Message(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    model: str | None = None
    content: list[_Block] | None = None
    stop_reason: str | None = None
    usage: _Usage | None = None
    error: ErrorDetail | None = None
    request_id: str | None = None


class _Delta(msgspec.Struct, gc=False):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None


class _Event(msgspec.Struct, gc=False):
    type: str = ""
    message: _Message | None = None
    content_block: _Block | None = None
    delta: _Delta | None = None
    usage: _Usage | None = None
    error: ErrorDetail | None = None
    request_id: str | None = None


_TEXT, _THINKING, _REDACTED, _TOOL = "text", "thinking", "redacted", "tool_use"
_PART_BLOCKS = frozenset(("thinking", "redacted_thinking", "tool_use"))
_MESSAGE_DECODER = msgspec.json.Decoder(_Message)
_ENCODER = msgspec.json.Encoder()
_EVENT_DECODER = msgspec.json.Decoder(_Event)


def _finish_reason(stop_reason: str | None) -> FinishReason:
    """Normalises Anthropic's stop_reason; pause_turn and unknown values are "other"."""
    return _FINISH_REASONS.get(stop_reason or "", "other")


class AnthropicStreamDecoder:
    """Reads Anthropic's named stream events: text, thinking and tool deltas, usage, stop, errors.

    Text and thinking pieces are kept in two lists; each content block records where its
    pieces start, so the final parts are rebuilt in block order only when there was thinking
    or a tool call. A tool call is [id, name, argument pieces]; its ToolCallDelta index is its
    position among the answer's calls.
    """

    __slots__ = (
        "_blocks",
        "_calls",
        "_kind",
        "_reasoning",
        "_started",
        "_texts",
        "_thoughts",
        "_usage",
        "done",
        "model",
        "provider",
        "response_id",
        "stop",
    )

    def __init__(self, model: str, provider: str) -> None:
        self.model = model
        self.provider = provider
        self.response_id: str | None = None
        self.stop: str | None = None
        self.done = False
        self._started = False
        self._texts: list[str] = []
        self._thoughts: list[str] = []
        # Each block as [kind, index of its first piece, signature]; kind of the open block.
        self._blocks: list[list[Any]] = []
        self._kind = ""
        self._reasoning = False
        self._calls: list[tuple[str, str, list[str]]] = []
        self._usage = _Usage()

    @property
    def complete(self) -> bool:
        """True once both message_start and message_stop arrived."""
        return self._started and self.done

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens so far, normalised as in the final response."""
        usage = self._usage
        inputs = (
            usage.input_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
        )
        known = [count for count in inputs if count is not None]
        return (sum(known) if known else None), usage.output_tokens

    def _merge_usage(self, usage: _Usage | None) -> None:
        """Overwrites usage with the fields an event carries (Anthropic's counts are totals)."""
        if usage is None:
            return
        for field in _Usage.__struct_fields__:
            value = getattr(usage, field)
            if value is not None:
                setattr(self._usage, field, value)

    def _open(self, kind: str, signature: str | None = None) -> None:
        """Starts a content block of `kind` ("text", "thinking" or "redacted")."""
        self._kind = kind
        start = len(self._texts) if kind == _TEXT else len(self._thoughts)
        self._blocks.append([kind, start, signature])
        if kind != _TEXT:
            self._reasoning = True

    def _text(self, text: str) -> Sequence[Delta]:
        if self._kind != _TEXT:
            self._open(_TEXT)
        self._texts.append(text)
        return (TextDelta(text),)

    def _thought(self, text: str) -> Sequence[Delta]:
        if self._kind != _THINKING:
            self._open(_THINKING)
        self._thoughts.append(text)
        return (ReasoningDelta(text),)

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one event; returns its text or thinking delta, or raises for `error`."""
        if event == "ping":
            return NO_DELTAS
        try:
            parsed = _EVENT_DECODER.decode(data)
        except DECODE_FAILURES:
            # Off the per-chunk path: decode again for the shared typed error.
            parsed = decode_json(
                _EVENT_DECODER, data, provider=self.provider, what="a stream event"
            )
        kind = parsed.type or event
        if kind == "content_block_delta":
            delta = parsed.delta
            if delta is None:
                return NO_DELTAS
            if delta.type == "text_delta":
                text = delta.text
                if not text:
                    return NO_DELTAS
                if self._kind is not _TEXT:
                    self._open(_TEXT)
                self._texts.append(text)
                return (TextDelta(text),)
            if delta.type == "thinking_delta":
                return self._thought(delta.thinking) if delta.thinking else NO_DELTAS
            if delta.type == "signature_delta":
                if self._kind != _THINKING:
                    self._open(_THINKING)
                self._blocks[-1][2] = delta.signature
            elif delta.type == "input_json_delta":
                return self._arguments(delta.partial_json)
        elif kind == "content_block_start" and parsed.content_block is not None:
            return self._start(parsed.content_block)
        elif kind == "message_start" and parsed.message is not None:
            self._started = True
            self.response_id = parsed.message.id
            self.model = parsed.message.model or self.model
            self._merge_usage(parsed.message.usage)
        elif kind == "message_delta":
            if parsed.delta is not None and parsed.delta.stop_reason is not None:
                self.stop = parsed.delta.stop_reason
            self._merge_usage(parsed.usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            detail = parsed.error or ErrorDetail()
            raise error_from_detail(detail, None, waits=True, request_id=parsed.request_id)
        return NO_DELTAS

    def _start(self, block: _Block) -> Sequence[Delta]:
        """Opens a block; text or thinking it already carries is its first delta."""
        if block.type == "text":
            self._open(_TEXT)
            return self._text(block.text) if block.text else NO_DELTAS
        if block.type == "thinking":
            self._open(_THINKING, block.signature or None)
            return self._thought(block.thinking) if block.thinking else NO_DELTAS
        if block.type == "redacted_thinking":
            self._open(_REDACTED, block.data)
        elif block.type == _TOOL:
            return self._call(block)
        else:
            self._kind = block.type  # a server tool block: the next text is a new block
        return NO_DELTAS

    def _call(self, block: _Block) -> Sequence[Delta]:
        """Opens a tool call: its first delta names it (with any input the start carries)."""
        index = len(self._calls)
        self._kind = _TOOL
        self._blocks.append([_TOOL, index, None])
        pieces = [_ENCODER.encode(block.input).decode()] if block.input else []
        call_id, name = block.id or "", block.name or ""
        self._calls.append((call_id, name, pieces))
        first = pieces[0] if pieces else ""
        return (ToolCallDelta(index, id=call_id, name=name, arguments_delta=first),)

    def _arguments(self, piece: str | None) -> Sequence[Delta]:
        """Adds a piece of the open tool call's JSON input (ignored outside a tool block)."""
        if not piece or self._kind != _TOOL:
            return NO_DELTAS
        self._calls[-1][2].append(piece)
        return (ToolCallDelta(len(self._calls) - 1, arguments_delta=piece),)

    def _parts(self) -> tuple[Part, ...]:
        """Rebuilds the answer's parts in block order from the two piece lists."""
        parts: list[Part] = []
        text_end, thought_end = len(self._texts), len(self._thoughts)
        for kind, start, signature in reversed(self._blocks):
            if kind == _TEXT:
                text = "".join(self._texts[start:text_end])
                text_end = start
                if text:
                    parts.append(TextPart(text))
            elif kind == _THINKING:
                thought = "".join(self._thoughts[start:thought_end])
                thought_end = start
                parts.append(ReasoningPart(thought, signature=signature, provider=self.provider))
            elif kind == _TOOL:
                call_id, name, pieces = self._calls[start]
                arguments = decode_arguments("".join(pieces), tool=name)
                parts.append(_tool_call(call_id, name, arguments, self.provider))
            else:
                parts.append(
                    ReasoningPart("", signature=signature, provider=self.provider, redacted=True)
                )
        parts.reverse()
        return tuple(parts)

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from the streamed pieces and the merged usage."""
        content = "".join(self._texts)
        finish = _finish_reason(self.stop)
        if self._calls:
            finish = "tool_calls"
        else:
            _require_text(
                content, finish, self._reasoning, provider=self.provider, request_id=request_id
            )
        return _build_response(
            content,
            self._parts() if self._reasoning or self._calls else (),
            "".join(self._thoughts) or None,
            finish,
            self._usage,
            model=self.model,
            provider=self.provider,
            response_id=self.response_id,
            latency_ms=latency_ms,
            request_id=request_id,
        )


def _require_text(
    content: str,
    finish: FinishReason,
    reasoned: bool,
    *,
    provider: str,
    request_id: str | None,
) -> None:
    """Raises for an answer without text, saying so when thinking used the whole budget."""
    if not content and reasoned and finish == "length":
        raise EmptyResponseError(
            "the model spent its whole output budget (max_tokens) on thinking and returned no "
            "text: raise max_tokens, or lower the thinking budget or effort",
            provider=provider,
            request_id=request_id,
        )
    require_text(content, finish, provider=provider, request_id=request_id)


def _build_response(
    content: str,
    parts: tuple[Part, ...],
    reasoning_text: str | None,
    finish: FinishReason,
    usage: _Usage,
    *,
    model: str,
    provider: str,
    response_id: str | None,
    latency_ms: float,
    request_id: str | None,
) -> CompletionResponse:
    """Normalises usage: input includes cache writes and reads; output includes thinking."""
    details = usage.output_tokens_details
    thinking = details.get("thinking_tokens") if details else None
    return CompletionResponse(
        content=content,
        parts=parts,
        reasoning_text=reasoning_text,
        model=model,
        input_tokens=(usage.input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0),
        output_tokens=usage.output_tokens or 0,
        latency_ms=latency_ms,
        finish_reason=finish,
        provider=provider,
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        reasoning_tokens=thinking if isinstance(thinking, int) else None,
    )


def _tool_call(
    call_id: str | None, name: str | None, arguments: dict[str, Any], provider: str
) -> ToolCall:
    """Returns a call, or raises ResponseDecodeError for a tool_use block without id or name."""
    if not call_id or not name:
        raise ResponseDecodeError(
            f"a tool_use block came without its id or name (id {call_id!r}, name {name!r})",
            provider=provider,
        )
    return ToolCall(call_id, name, arguments)


def _message_parts(blocks: Sequence[_Block], provider: str) -> tuple[Part, ...]:
    """Returns a Message's text, thinking and tool_use blocks as parts, in order."""
    parts: list[Part] = []
    for block in blocks:
        if block.type == "text" and block.text:
            parts.append(TextPart(block.text))
        elif block.type == "thinking":
            parts.append(
                ReasoningPart(block.thinking or "", signature=block.signature, provider=provider)
            )
        elif block.type == "redacted_thinking":
            parts.append(ReasoningPart("", signature=block.data, provider=provider, redacted=True))
        elif block.type == _TOOL:
            parts.append(_tool_call(block.id, block.name, block.input or {}, provider))
    return tuple(parts)


def parse_message(
    body: bytes, *, provider: str, model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a Message: text blocks joined, thinking blocks as reasoning, tool_use as calls."""
    message = decode_json(_MESSAGE_DECODER, body, provider=provider, what="a Message")
    if message.type == "error" and message.error is not None:
        raise error_from_detail(
            message.error, None, waits=True, request_id=message.request_id or request_id
        )
    blocks = message.content or ()
    content = "".join(block.text for block in blocks if block.type == "text" and block.text)
    structured = not (len(blocks) == 1 and blocks[0].type == "text") and any(
        block.type in _PART_BLOCKS for block in blocks
    )
    finish = _finish_reason(message.stop_reason)
    parts = _message_parts(blocks, provider) if structured else ()
    reasoning_text = None
    if parts and any(type(part) is ToolCall for part in parts):
        finish = "tool_calls"  # an answer with calls needs no text
    else:
        reasoned = bool(parts) and any(type(part) is ReasoningPart for part in parts)
        _require_text(content, finish, reasoned, provider=provider, request_id=request_id)
    if parts:
        reasoning_text = "".join(
            block.thinking for block in blocks if block.type == "thinking" and block.thinking
        )
    return _build_response(
        content,
        parts,
        reasoning_text or None,
        finish,
        message.usage or _Usage(),
        model=message.model or model,
        provider=provider,
        response_id=message.id,
        latency_ms=latency_ms,
        request_id=request_id,
    )
