"""Reads Converse answers and ConverseStream events into the normalised response.

Content blocks become parts in order: `text` a TextPart, `reasoningContent` a ReasoningPart
(its `reasoningText.signature` kept; a `redactedContent` block one with no text, the data as
its signature and `redacted` set), `toolUse` a ToolCall. Streamed, a text or reasoning block
begins with its first delta, a tool call with its `contentBlockStart`, and its `input`
arrives as JSON text pieces decoded at the end. `stopReason` maps to the finish reason
(`STOP_REASONS`); usage is normalised: input counts cache reads and writes (Bedrock's
`inputTokens` does not), output counts thinking. The `metadata` event with the usage comes
after `messageStop`, so a stream is read to its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ashford_llm.errors import EmptyResponseError, ResponseDecodeError
from ashford_llm.providers._http import DECODE_FAILURES, decode_arguments, decode_json, require_text
from ashford_llm.providers.bedrock.errors import stream_exception
from ashford_llm.providers.bedrock.eventstream import EXCEPTION as _EXCEPTION
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

__all__ = ["STOP_REASONS", "BedrockStreamDecoder", "parse_converse"]

STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
"""Converse `stopReason` -> finish reason; others (malformed_model_output, ...) are "other"."""


class _Usage(msgspec.Struct):
    inputTokens: int | None = None
    outputTokens: int | None = None
    cacheReadInputTokens: int | None = None
    cacheWriteInputTokens: int | None = None


class _ReasoningText(msgspec.Struct):
    text: str = ""
    signature: str | None = None


class _Reasoning(msgspec.Struct):
    reasoningText: _ReasoningText | None = None
    redactedContent: str | None = None


class _ToolUse(msgspec.Struct):
    toolUseId: str | None = None
    name: str | None = None
    input: Any = None


class _Block(msgspec.Struct):
    text: str | None = None
    reasoningContent: _Reasoning | None = None
    toolUse: _ToolUse | None = None


class _Message(msgspec.Struct):
    content: list[_Block] | None = None


class _Output(msgspec.Struct):
    message: _Message | None = None


class _Response(msgspec.Struct):
    output: _Output | None = None
    stopReason: str | None = None
    usage: _Usage | None = None


class _ReasoningDelta(msgspec.Struct):
    text: str | None = None
    signature: str | None = None
    redactedContent: str | None = None


class _ToolInput(msgspec.Struct):
    input: str | None = None


class _Delta(msgspec.Struct):
    text: str | None = None
    reasoningContent: _ReasoningDelta | None = None
    toolUse: _ToolInput | None = None


class _Start(msgspec.Struct):
    toolUse: _ToolUse | None = None


class _Event(msgspec.Struct):
    contentBlockIndex: int | None = None
    delta: _Delta | None = None
    start: _Start | None = None
    stopReason: str | None = None
    usage: _Usage | None = None


_RESPONSE = msgspec.json.Decoder(_Response)
_EVENT = msgspec.json.Decoder(_Event)
_TEXT, _THINKING, _REDACTED, _TOOL = "text", "thinking", "redacted", "tool"
_BLOCK_EVENTS = frozenset(("contentBlockStart", "contentBlockDelta", "contentBlockStop"))


def _finish(stop_reason: str | None) -> FinishReason:
    return STOP_REASONS.get(stop_reason or "", "other")


def _tool_call(call_id: str | None, name: str | None, arguments: Any, provider: str) -> ToolCall:
    """Returns a call, or raises ResponseDecodeError for a toolUse without id or name."""
    if not call_id or not name:
        raise ResponseDecodeError(
            f"a toolUse block came without its id or name (id {call_id!r}, name {name!r})",
            provider=provider,
        )
    if not isinstance(arguments, dict):
        raise ResponseDecodeError(
            f"the input of a call of tool {name!r} is not a JSON object", provider=provider
        )
    return ToolCall(call_id, name, arguments)


def _check_text(
    content: str,
    finish: FinishReason,
    parts: Sequence[Part],
    *,
    provider: str,
    request_id: str | None,
) -> FinishReason:
    """Returns the finish reason; raises for an answer with no text and no calls."""
    if any(type(part) is ToolCall for part in parts):
        return "tool_calls"
    if not content and finish == "length" and any(type(p) is ReasoningPart for p in parts):
        raise EmptyResponseError(
            "the model spent its whole output budget (max_tokens) on thinking and returned no "
            "text: raise max_tokens, or lower the thinking budget or effort",
            provider=provider,
            request_id=request_id,
        )
    require_text(content, finish, provider=provider, request_id=request_id)
    return finish


def _build(
    parts: tuple[Part, ...],
    finish: FinishReason,
    usage: _Usage,
    *,
    model: str,
    provider: str,
    latency_ms: float,
    request_id: str | None,
) -> CompletionResponse:
    """Builds the response; input tokens include cache reads and writes."""
    plain = len(parts) == 1 and type(parts[0]) is TextPart
    return CompletionResponse(
        parts=() if plain else parts,
        content=parts[0].text if plain and isinstance(parts[0], TextPart) else "",
        model=model,
        input_tokens=(usage.inputTokens or 0)
        + (usage.cacheReadInputTokens or 0)
        + (usage.cacheWriteInputTokens or 0),
        output_tokens=usage.outputTokens or 0,
        latency_ms=latency_ms,
        finish_reason=finish,
        provider=provider,
        request_id=request_id,
        cached_input_tokens=usage.cacheReadInputTokens,
        cache_write_tokens=usage.cacheWriteInputTokens,
    )


def parse_converse(
    body: bytes, *, provider: str, model: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a ConverseResponse: text, reasoning and toolUse blocks as parts, in order."""
    response = decode_json(_RESPONSE, body, provider=provider, what="a Converse response")
    message = response.output.message if response.output is not None else None
    parts: list[Part] = []
    for block in (message.content if message is not None else None) or ():
        if block.text:
            parts.append(TextPart(block.text))
        elif block.reasoningContent is not None:
            parts.append(_reasoning_part(block.reasoningContent, provider))
        elif block.toolUse is not None:
            use = block.toolUse
            arguments = {} if use.input is None else use.input
            parts.append(_tool_call(use.toolUseId, use.name, arguments, provider))
    content = "".join(part.text for part in parts if type(part) is TextPart)
    finish = _check_text(
        content, _finish(response.stopReason), parts, provider=provider, request_id=request_id
    )
    return _build(
        tuple(parts),
        finish,
        response.usage or _Usage(),
        model=model,
        provider=provider,
        latency_ms=latency_ms,
        request_id=request_id,
    )


def _reasoning_part(reasoning: _Reasoning, provider: str) -> ReasoningPart:
    """Returns a reasoning block's part: text and signature, or the redacted data."""
    if reasoning.reasoningText is not None:
        text = reasoning.reasoningText
        return ReasoningPart(text.text, signature=text.signature, provider=provider)
    return ReasoningPart("", signature=reasoning.redactedContent, provider=provider, redacted=True)


class _StreamBlock:
    """One content block of a stream, as its pieces arrive."""

    __slots__ = ("call", "id", "kind", "name", "pieces", "signature")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.pieces: list[str] = []
        self.signature: str | None = None
        self.id: str | None = None
        self.name: str | None = None
        self.call = -1


class BedrockStreamDecoder:
    """Reads ConverseStream events: text, reasoning and tool-input deltas, stop, usage, errors.

    Blocks are kept by `contentBlockIndex` and rebuilt in that order at the end. The stream is
    `done` once `metadata` (the usage) follows `messageStop`, and `complete` once
    `messageStart` and `messageStop` both arrived. An exception frame raises its error.
    """

    __slots__ = (
        "_blocks",
        "_calls",
        "_started",
        "_stop",
        "_stopped",
        "_usage",
        "done",
        "model",
        "provider",
    )

    def __init__(self, model: str, provider: str) -> None:
        self.model = model
        self.provider = provider
        self.done = False
        self._started = False
        self._stopped = False
        self._stop: str | None = None
        self._blocks: dict[int, _StreamBlock] = {}
        self._calls = 0
        self._usage = _Usage()

    @property
    def complete(self) -> bool:
        """True once both messageStart and messageStop arrived."""
        return self._started and self._stopped

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens reported so far (only `metadata` reports them)."""
        usage = self._usage
        inputs = [
            count
            for count in (
                usage.inputTokens,
                usage.cacheReadInputTokens,
                usage.cacheWriteInputTokens,
            )
            if count is not None
        ]
        return (sum(inputs) if inputs else None), usage.outputTokens

    def _block(self, index: int, kind: str) -> _StreamBlock:
        """Returns the block at `index`, opening it as `kind` when it is new.

        A piece of another kind for an open block is a ResponseDecodeError: the block's text
        would otherwise be split between the answer and its reasoning.
        """
        block = self._blocks.get(index)
        if block is None:
            block = self._blocks[index] = _StreamBlock(kind)
        elif block.kind != kind:
            raise ResponseDecodeError(
                f"a {kind} piece arrived for content block {index}, a {block.kind} block",
                provider=self.provider,
            )
        return block

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one event; returns its deltas, or raises for an exception frame."""
        if event.startswith(_EXCEPTION):
            raise stream_exception(event[len(_EXCEPTION) :], data)
        try:
            parsed = _EVENT.decode(data)
        except DECODE_FAILURES:
            parsed = decode_json(_EVENT, data, provider=self.provider, what="a stream event")
        index = parsed.contentBlockIndex
        if event in _BLOCK_EVENTS and index is None:
            raise ResponseDecodeError(
                f"a {event} event came without its contentBlockIndex", provider=self.provider
            )
        if event == "contentBlockDelta" and parsed.delta is not None and index is not None:
            return self._delta(index, parsed.delta)
        if event == "contentBlockStart" and parsed.start is not None and index is not None:
            use = parsed.start.toolUse
            if use is not None:
                if index in self._blocks:
                    raise ResponseDecodeError(
                        f"content block {index} started twice", provider=self.provider
                    )
                block = self._block(index, _TOOL)
                block.id, block.name, block.call = use.toolUseId, use.name, self._calls
                self._calls += 1
                return (ToolCallDelta(block.call, id=use.toolUseId, name=use.name),)
        elif event == "messageStart":
            self._started = True
        elif event == "messageStop":
            self._stopped = True
            self._stop = parsed.stopReason
        elif event == "metadata":
            if parsed.usage is not None:
                self._usage = parsed.usage
            self.done = self._stopped
        return NO_DELTAS

    def _delta(self, index: int, delta: _Delta) -> Sequence[Delta]:
        """Adds one delta's piece to its block."""
        if delta.text is not None:
            if not delta.text:
                return NO_DELTAS
            self._block(index, _TEXT).pieces.append(delta.text)
            return (TextDelta(delta.text),)
        if delta.toolUse is not None:
            block = self._blocks.get(index)
            piece = delta.toolUse.input
            if block is None or block.kind != _TOOL or not piece:
                return NO_DELTAS
            block.pieces.append(piece)
            return (ToolCallDelta(block.call, arguments_delta=piece),)
        reasoning = delta.reasoningContent
        if reasoning is None:
            return NO_DELTAS
        if reasoning.redactedContent is not None:
            self._block(index, _REDACTED).signature = reasoning.redactedContent
            return NO_DELTAS
        block = self._block(index, _THINKING)
        if reasoning.signature is not None:
            block.signature = reasoning.signature
        if reasoning.text:
            block.pieces.append(reasoning.text)
            return (ReasoningDelta(reasoning.text),)
        return NO_DELTAS

    def _parts(self) -> list[Part]:
        """Rebuilds the answer's parts in block order."""
        parts: list[Part] = []
        for index in sorted(self._blocks):
            block = self._blocks[index]
            text = "".join(block.pieces)
            if block.kind == _TEXT:
                parts.append(TextPart(text))
            elif block.kind == _THINKING:
                parts.append(ReasoningPart(text, signature=block.signature, provider=self.provider))
            elif block.kind == _REDACTED:
                parts.append(
                    ReasoningPart(
                        "", signature=block.signature, provider=self.provider, redacted=True
                    )
                )
            else:
                arguments = decode_arguments(text, tool=block.name or "")
                parts.append(_tool_call(block.id, block.name, arguments, self.provider))
        return parts

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from the streamed blocks and the usage."""
        parts = self._parts()
        content = "".join(part.text for part in parts if type(part) is TextPart)
        finish = _check_text(
            content, _finish(self._stop), parts, provider=self.provider, request_id=request_id
        )
        return _build(
            tuple(parts),
            finish,
            self._usage,
            model=self.model,
            provider=self.provider,
            latency_ms=latency_ms,
            request_id=request_id,
        )
