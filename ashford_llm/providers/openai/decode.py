"""Reads OpenAI Chat Completions answers: completions and stream chunks.

Only the fields ashford_llm uses are decoded, all optional, so new vendor fields and nulls
never break parsing (OpenAI-compatible servers omit many of them). Such servers may send no
usage at all; the response then reports 0 input and output tokens, and only then. Error
objects are read in `errors`.

Chat Completions returns no reasoning text, only `completion_tokens_details.reasoning_tokens`,
so `reasoning_text` stays None. An answer cut at the budget with no text but reasoning tokens
raises an EmptyResponseError that says the budget went to reasoning.

Tool calls (`message.tool_calls`, streamed as `delta.tool_calls` fragments keyed by `index`)
become ToolCall parts after the answer's text, their JSON argument strings decoded by
`decode_arguments`. An answer holding calls finishes with "tool_calls" whatever OpenAI said
(it says "stop" when `tool_choice` forced a function) and needs no text. Calls of other types
(`custom` tools, which the library does not offer) are skipped. A call without an id (some
OpenAI-compatible servers) gets a generated `call_...` id so a result can name it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec

from ashford_llm.errors import (
    ContentFilterError,
    EmptyResponseError,
    ResponseDecodeError,
    redact,
)
from ashford_llm.providers._http import (
    DECODE_FAILURES,
    decode_arguments,
    decode_json,
    excerpt,
    require_text,
)
from ashford_llm.providers.dialect import NO_DELTAS, Delta
from ashford_llm.providers.openai.errors import ErrorBody, error_from_object
from ashford_llm.types import (
    CompletionResponse,
    FinishReason,
    Part,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)

__all__ = ["OpenAIStreamDecoder", "parse_completion"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    id: str | None = None
    type: str | None = None
    function: _Function | None = None


class _Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    finish_reason: str | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


class _Completion(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: ErrorBody | str | None = None


class _ToolCallFragment(msgspec.Struct):
    index: int = 0
    id: str | None = None
    type: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCallFragment] | None = None


class _ChunkChoice(msgspec.Struct):
    index: int = 0
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[_ChunkChoice] | None = None
    usage: _Usage | None = None
    error: ErrorBody | str | None = None


class _StreamedCall:
    """One streamed call's id, name and argument pieces, as its fragments arrive."""

    __slots__ = ("arguments", "id", "name", "skipped")

    def __init__(self, call_id: str | None, name: str | None) -> None:
        self.id = call_id
        self.name = name
        self.arguments: list[str] = []
        self.skipped = False


_COMPLETION = msgspec.json.Decoder(_Completion)
_CHUNK = msgspec.json.Decoder(_Chunk)


def _finish_reason(value: str | None) -> FinishReason:
    """Normalises OpenAI's finish_reason."""
    return _FINISH.get(value or "", "other")


def _call_id(call_id: str | None) -> str:
    """Returns the vendor's call id, or a generated one where it sent none."""
    return call_id or f"call_{uuid.uuid4().hex[:24]}"


def _tool_calls(calls: list[_ToolCall]) -> list[ToolCall]:
    """Decodes a message's function calls, skipping other call types (custom tools)."""
    decoded = []
    for call in calls:
        function = call.function
        if function is None or (call.type is not None and call.type != "function"):
            continue
        decoded.append(_tool_call(call.id, function.name, function.arguments or ""))
    return decoded


def _tool_call(call_id: str | None, name: str | None, arguments: str) -> ToolCall:
    """Builds one call, decoding its JSON arguments; a call without a name cannot be run."""
    if not name:
        raise ResponseDecodeError(
            f"a tool call without a function name (arguments {excerpt(arguments)!r})",
            body_excerpt=excerpt(arguments),
        )
    return ToolCall(_call_id(call_id), name, decode_arguments(arguments, tool=name))


def _with_calls(content: str, calls: Sequence[ToolCall]) -> tuple[Part, ...]:
    """Returns the answer's parts: its text, then its calls (Chat Completions' order)."""
    text: tuple[Part, ...] = (TextPart(content),) if content else ()
    return text + tuple(calls)


def _response(
    *,
    content: str,
    model: str,
    provider: str,
    latency_ms: float,
    finish: FinishReason,
    response_id: str | None,
    request_id: str | None,
    usage: _Usage | None,
    calls: Sequence[ToolCall] = (),
) -> CompletionResponse:
    """Builds the response; a server that sent no usage reports 0 tokens."""
    prompt = usage.prompt_tokens_details if usage else None
    completion = usage.completion_tokens_details if usage else None
    return CompletionResponse(
        content=content,
        parts=_with_calls(content, calls) if calls else (),
        model=model,
        input_tokens=(usage.prompt_tokens or 0) if usage else 0,
        output_tokens=(usage.completion_tokens or 0) if usage else 0,
        latency_ms=latency_ms,
        finish_reason=finish,
        provider=provider,
        response_id=response_id,
        request_id=request_id,
        cached_input_tokens=prompt.cached_tokens if prompt else None,
        cache_write_tokens=prompt.cache_write_tokens if prompt else None,
        reasoning_tokens=completion.reasoning_tokens if completion else None,
    )


def _require_text(
    content: str,
    finish: FinishReason,
    usage: _Usage | None,
    *,
    provider: str,
    request_id: str | None,
) -> None:
    """Raises for an answer without text, saying so when reasoning used up the budget.

    A reasoning model that spends all of `max_completion_tokens` thinking ends with
    finish_reason "length", no content and reasoning tokens: repeating cannot help.
    """
    if content:
        return
    details = usage.completion_tokens_details if usage else None
    reasoning = details.reasoning_tokens if details else None
    if finish == "length" and reasoning:
        raise EmptyResponseError(
            f"the model spent the whole output budget on reasoning ({reasoning} reasoning "
            "tokens, finish reason 'length') and wrote no answer: raise max_tokens or lower "
            "the reasoning effort",
            provider=provider,
            request_id=request_id,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
        )
    require_text(content, finish, provider=provider, request_id=request_id)


def _refused(refusal: str, provider: str, request_id: str | None) -> ContentFilterError:
    """Builds the error for a model's refusal, keeping its text."""
    return ContentFilterError(
        f"the model refused: {redact(refusal)}", provider=provider, request_id=request_id
    )


class OpenAIStreamDecoder:
    """Collects one Chat Completions stream: text and call deltas, finish reason, usage, `[DONE]`.

    Call fragments are kept per `index` (id, name, argument pieces); each becomes one
    ToolCallDelta, the id and name only on the first delta of its call.
    """

    __slots__ = (
        "_calls",
        "_finish",
        "_id",
        "_model",
        "_parts",
        "_provider",
        "_refusal",
        "_usage",
        "done",
    )

    def __init__(self, model: str, provider: str) -> None:
        self._model = model
        self._provider = provider
        self._parts: list[str] = []
        self._refusal: list[str] = []
        self._finish: str | None = None
        self._id: str | None = None
        self._usage: _Usage | None = None
        self._calls: dict[int, _StreamedCall] = {}
        self.done = False

    @property
    def complete(self) -> bool:
        """True once `[DONE]` arrived: the server ended the stream, it was not cut."""
        return self.done

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens of the usage chunk, if one arrived."""
        if self._usage is None:
            return None, None
        return self._usage.prompt_tokens, self._usage.completion_tokens

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one chunk; returns its text delta, or raises for an error chunk."""
        if data == "[DONE]":
            self.done = True
            return NO_DELTAS
        try:
            chunk = _CHUNK.decode(data)
        except DECODE_FAILURES:
            # Off the per-chunk path: decode again for the shared typed error.
            chunk = decode_json(_CHUNK, data, provider=self._provider, what="stream chunk")
        if chunk.error is not None:
            raise error_from_object(chunk.error)
        if not self._id:  # Azure's first chunk (prompt annotations) has an empty id
            self._id = chunk.id or None
        if chunk.model:
            self._model = chunk.model
        if chunk.usage is not None:
            self._usage = chunk.usage
        deltas: Sequence[Delta] = NO_DELTAS
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
            delta = choice.delta
            if delta is not None:
                if delta.refusal:
                    self._refusal.append(delta.refusal)
                if delta.content:
                    self._parts.append(delta.content)
                    deltas = (TextDelta(delta.content),)
                if delta.tool_calls:
                    deltas = [*deltas, *self._call_deltas(delta.tool_calls)]
        return deltas

    def _call_deltas(self, fragments: list[_ToolCallFragment]) -> list[ToolCallDelta]:
        """Keeps each call fragment and returns its delta; id and name come once per call."""
        deltas = []
        for fragment in fragments:
            function = fragment.function
            arguments = (function.arguments if function else None) or ""
            name = function.name if function else None
            call = self._calls.get(fragment.index)
            if call is None:
                call = self._calls[fragment.index] = _StreamedCall(fragment.id, name)
                if fragment.type is not None and fragment.type != "function":
                    call.skipped = True  # a custom tool's call: its later fragments too
                    continue
                deltas.append(ToolCallDelta(fragment.index, call.id, call.name, arguments))
            elif call.skipped:
                continue
            else:
                # Later fragments carry only arguments; a server that repeats the id or name
                # fills a gap at most.
                call.id = call.id or fragment.id
                call.name = call.name or name
                deltas.append(ToolCallDelta(fragment.index, arguments_delta=arguments))
            if arguments:
                call.arguments.append(arguments)
        return deltas

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response, raising a typed error for a refusal or no text."""
        content = "".join(self._parts)
        calls = [
            _tool_call(call.id, call.name, "".join(call.arguments))
            for _, call in sorted(self._calls.items())
            if not call.skipped
        ]
        finish = "tool_calls" if calls else _finish_reason(self._finish)
        if not calls:
            if not content and self._refusal:
                raise _refused("".join(self._refusal), self._provider, request_id)
            _require_text(
                content, finish, self._usage, provider=self._provider, request_id=request_id
            )
        return _response(
            content=content,
            model=self._model,
            provider=self._provider,
            latency_ms=latency_ms,
            finish=finish,
            response_id=self._id,
            request_id=request_id,
            usage=self._usage,
            calls=calls,
        )


def parse_completion(
    body: bytes, *, model: str, provider: str, latency_ms: float, request_id: str | None
) -> CompletionResponse:
    """Parses a completion; a refusal, a filtered or an empty answer raises."""
    parsed = decode_json(_COMPLETION, body, provider=provider, what="completion")
    if parsed.error is not None and not parsed.choices:
        raise error_from_object(parsed.error)
    if not parsed.choices:
        raise ResponseDecodeError(
            f"cannot parse a completion without choices: {excerpt(body)!r}",
            body_excerpt=excerpt(body),
        )
    choice = parsed.choices[0]
    message = choice.message or _Message()
    content = message.content or ""
    calls = _tool_calls(message.tool_calls) if message.tool_calls else []
    finish = "tool_calls" if calls else _finish_reason(choice.finish_reason)
    if not calls:
        if not content and message.refusal:
            raise _refused(message.refusal, provider, request_id)
        _require_text(content, finish, parsed.usage, provider=provider, request_id=request_id)
    return _response(
        content=content,
        model=parsed.model or model,
        provider=provider,
        latency_ms=latency_ms,
        finish=finish,
        response_id=parsed.id,
        request_id=request_id,
        usage=parsed.usage,
        calls=calls,
    )
