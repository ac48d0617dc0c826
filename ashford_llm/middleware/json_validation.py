"""JsonValidation: checks that JSON was answered when JSON was asked for, and decodes it.

Where it belongs: inside Retry, just above the terminal (or above RateLimit/Timeout), so a
JsonValidationError (retryable) costs one more fresh attempt; or give it `repair_attempts` to
ask the model to correct itself instead. Put Tracing and Recorder outside it to see the
decoded calls, or below it to see each raw answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import msgspec

from ashford_llm.errors import JsonValidationError
from ashford_llm.middleware._base import Middleware
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    schema_of,
)

__all__ = ["JsonValidation"]

# One fence around the whole answer, optionally tagged json; nothing looser.
_FENCE = re.compile(r"\A```(?:json)?[ \t]*\n?(.*?)\s*```\Z", re.DOTALL | re.IGNORECASE)
_EXCERPT_CHARS = 200
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}
_ANY_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_REPAIR_PROMPT = (
    "Your previous answer was not valid JSON of the requested shape. The error was: {error}\n"
    "Reply with only the corrected JSON, no explanation and no code fence."
)


class JsonValidation(Middleware):
    """Validates and decodes JSON answers into `response.parsed`, optionally repairing them.

    Which requests it checks: with a `schema`, every request (the layer's schema is the ask,
    and a request without its own `json_schema` gets `msgspec.json.schema(schema)` filled in
    so vendors use native structured output); without one, only requests that want JSON
    (`json_mode` or `json_schema`). Other requests pass through untouched.

    How it checks: one surrounding ```json (or bare ```) fence and whitespace are stripped,
    nothing more; the text is decoded into `schema`, or, without one, into any JSON value,
    which must then match the request's `json_schema` in a small subset: the top-level
    "type" and the top-level "required" keys of an object. Failure raises
    JsonValidationError (retryable) with the decode error and an excerpt of the output.

    Repair: with `repair_attempts=N`, a failed `complete` asks the model again up to N times,
    appending its invalid answer and the error to the conversation. The returned response is
    the last one, with input/output tokens and latency summed over every call, so cost
    accounting stays honest. Streams are validated at StreamEnd (which then carries `parsed`)
    and never repaired: their text has already reached the caller, so a failure raises.

    Args:
        inner: the handler to call.
        schema: a msgspec Struct or any type msgspec can decode into; None accepts any JSON.
        repair_attempts: how many times to ask the model to correct invalid JSON (0 = never).
    """

    def __init__(self, inner: LLMProvider, *, schema: Any = None, repair_attempts: int = 0) -> None:
        super().__init__(inner)
        if isinstance(repair_attempts, bool) or not isinstance(repair_attempts, int):
            raise TypeError(f"repair_attempts must be an int, got {repair_attempts!r}")
        if repair_attempts < 0:
            raise ValueError(f"repair_attempts must be 0 or more, got {repair_attempts}")
        self.schema = schema
        self.repair_attempts = repair_attempts
        self._decoder: msgspec.json.Decoder[Any] = _ANY_DECODER
        self._json_schema: dict[str, Any] | None = None
        if schema is not None:
            try:
                self._decoder = msgspec.json.Decoder(schema)
                self._json_schema = schema_of(schema)
            except TypeError as error:
                raise TypeError(f"JsonValidation cannot decode into {schema!r}: {error}") from None

    def describe(self) -> str:
        """Returns this layer alone, e.g. `JsonValidation(schema=Label, repair_attempts=1)`."""
        options = []
        if self.schema is not None:
            name = self.schema.__qualname__ if isinstance(self.schema, type) else repr(self.schema)
            options.append(f"schema={name}")
        if self.repair_attempts:
            options.append(f"repair_attempts={self.repair_attempts}")
        return f"JsonValidation({', '.join(options)})" if options else "JsonValidation"

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the answer with `parsed` set, repairing invalid JSON when allowed."""
        if not self._applies(request):
            return await self.inner.complete(request)
        request = self._prepare(request)
        if not self.repair_attempts:
            return self._parsed(request, await self.inner.complete(request))
        responses = [await self.inner.complete(request)]
        for _ in range(self.repair_attempts):
            _, problem = self._decode(request, responses[-1].content)
            if problem is None:
                break
            request = msgspec.structs.replace(
                request,
                messages=(
                    *request.messages,
                    ChatMessage.assistant(responses[-1].content),
                    ChatMessage.user(_REPAIR_PROMPT.format(error=problem)),
                ),
            )
            responses.append(await self.inner.complete(request))
        return self._parsed(request, _with_total_usage(responses))

    def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Passes text through and validates the whole answer at StreamEnd.

        A request whose answer need not be JSON gets the inner stream itself: this layer has
        nothing to do on its chunks, so it adds no generator step per chunk.
        """
        if not self._applies(request):
            return self.inner.stream(request)
        return self._validated_stream(self._prepare(request))

    async def _validated_stream(
        self, request: CompletionRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yields the inner events, the StreamEnd's response validated."""
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, StreamEnd):
                    event = StreamEnd(self._parsed(request, event.response))
                yield event
        finally:
            await events.aclose()

    def _applies(self, request: CompletionRequest) -> bool:
        """Says whether this request's answer must be JSON."""
        return self.schema is not None or request.wants_json

    def _prepare(self, request: CompletionRequest) -> CompletionRequest:
        """Fills in the layer's JSON Schema when the request carries none."""
        if self._json_schema is None or request.json_schema is not None:
            return request
        return msgspec.structs.replace(request, json_schema=self._json_schema)

    def _parsed(
        self, request: CompletionRequest, response: CompletionResponse
    ) -> CompletionResponse:
        """Returns the response with `parsed` set, or raises JsonValidationError.

        An answer holding tool calls is the model's turn to call them, not the JSON asked for:
        it passes unchanged (`parsed` None), and the final answer is checked.
        """
        if response.tool_calls:
            return response
        value, problem = self._decode(request, response.content)
        if problem is not None:
            raise _invalid(problem, response)
        return msgspec.structs.replace(response, parsed=value)

    def _decode(self, request: CompletionRequest, text: str) -> tuple[Any, str | None]:
        """Decodes an answer: the value, or what is wrong with it."""
        text = text.strip()
        fenced = _FENCE.match(text) if text.startswith("```") else None
        if fenced is not None:
            text = fenced.group(1)
        try:
            value = self._decoder.decode(text)
        except msgspec.ValidationError as error:
            return None, f"does not match the schema: {error}"
        except msgspec.DecodeError as error:
            return None, f"is not valid JSON: {error}"
        if self.schema is None and request.json_schema is not None:
            problem = _schema_problem(value, request.json_schema)
            if problem is not None:
                return None, f"does not match the schema: {problem}"
        return value, None


def _invalid(problem: str, response: CompletionResponse) -> JsonValidationError:
    """Builds the error for an invalid answer, with an excerpt of the output."""
    excerpt = response.content[:_EXCERPT_CHARS]
    more = "..." if len(response.content) > _EXCERPT_CHARS else ""
    return JsonValidationError(
        f"output of model {response.model!r} {problem}; output: {excerpt!r}{more}",
        output=response.content,
        provider=response.provider,
        request_id=response.request_id,
    )


def _schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Checks the documented subset of a JSON Schema: top-level "type" and "required"."""
    expected = schema.get("type")
    names = [expected] if isinstance(expected, str) else expected
    if isinstance(names, list) and names:
        kinds = tuple(_JSON_TYPES[name] for name in names if name in _JSON_TYPES)
        is_bool = isinstance(value, bool)
        if kinds and (not isinstance(value, kinds) or (is_bool and "boolean" not in names)):
            return f"expected {' or '.join(names)}, got {type(value).__name__}"
    required = schema.get("required")
    if isinstance(value, dict) and isinstance(required, list):
        missing = [key for key in required if key not in value]
        if missing:
            return f"object is missing required keys {missing}"
    return None


def _with_total_usage(responses: list[CompletionResponse]) -> CompletionResponse:
    """Returns the last response carrying the usage and latency of every call made for it."""
    last = responses[-1]
    if len(responses) == 1:
        return last
    return msgspec.structs.replace(
        last,
        input_tokens=sum(r.input_tokens for r in responses),
        output_tokens=sum(r.output_tokens for r in responses),
        latency_ms=sum(r.latency_ms for r in responses),
        cached_input_tokens=_total(r.cached_input_tokens for r in responses),
        cache_write_tokens=_total(r.cache_write_tokens for r in responses),
        reasoning_tokens=_total(r.reasoning_tokens for r in responses),
    )


def _total(counts: Iterable[int | None]) -> int | None:
    """Adds optional counts; None only when every one is unknown."""
    known = [count for count in counts if count is not None]
    return sum(known) if known else None
