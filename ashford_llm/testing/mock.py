"""MockProvider: a terminal handler that answers from a script, for tests."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import msgspec

from ashford_llm.protocol import AsyncCloseable, ProviderInfo
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    Part,
    ReasoningDelta,
    ReasoningPart,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallDelta,
)

__all__ = ["MockProvider", "MockStream", "ScriptExhaustedError", "ScriptItem"]


@dataclass(frozen=True, kw_only=True)
class MockStream:
    """A scripted stream: `reasoning` chunks as ReasoningDeltas, then these text chunks in
    order, then `error` raised (or a normal end, whose response has a ReasoningPart with the
    reasoning joined before the text).

    `first_delay` and `chunk_delay` are seconds slept before the first and each later chunk.
    """

    chunks: Sequence[str]
    error: BaseException | None = None
    first_delay: float = 0.0
    chunk_delay: float = 0.0
    finish_reason: str = "stop"
    reasoning: Sequence[str] = ()


ScriptItem: TypeAlias = CompletionResponse | str | MockStream | BaseException
Script: TypeAlias = (
    Iterable[ScriptItem]
    | Callable[[CompletionRequest], ScriptItem]
    | Callable[[CompletionRequest], Awaitable[ScriptItem]]
)


class ScriptExhaustedError(AssertionError):
    """The MockProvider was called more times than its script has answers."""


_WORDS = re.compile(r"\S+\s*|\s+")


class MockProvider(AsyncCloseable):
    """Answers from a script and records every request it receives.

    Args:
        script: a sequence of answers used in order (CompletionResponses, strings taken as
            the response text, MockStreams, and exceptions to raise), or a sync or async
            function of the request returning one such answer. Streamed, a response's
            reasoning parts come as ReasoningDeltas before its text's word deltas.
        name: the provider name reported in responses.
        model: the model name reported in responses.
        info: the description layers read (vendor, server, default output budget), for
            testing a layer against a vendor-like terminal; default: `name` and `model`.
    """

    def __init__(
        self,
        script: Script,
        *,
        name: str = "mock",
        model: str = "mock-model",
        info: ProviderInfo | None = None,
    ) -> None:
        self._name = name
        self.model = model
        self._info = info or ProviderInfo(name=name, model=model)
        self._function: Callable[[CompletionRequest], ScriptItem | Awaitable[ScriptItem]] | None = (
            None
        )
        self._script: list[ScriptItem] = []
        if callable(script):
            self._function = script
        elif isinstance(script, str | CompletionResponse | MockStream | BaseException):
            raise TypeError("MockProvider script must be a sequence of answers or a function")
        else:
            self._script = list(script)
        self._position = 0
        self.requests: list[CompletionRequest] = []
        self.closed = False

    @property
    def name(self) -> str:
        """The provider name reported in responses."""
        return self._name

    @property
    def info(self) -> ProviderInfo:
        """The mock's description: by default its name and model, no vendor or server."""
        return self._info

    @property
    def remaining(self) -> int:
        """How many scripted answers are left (0 for a function script)."""
        return len(self._script) - self._position

    async def _next(self, request: CompletionRequest) -> ScriptItem:
        """Records the request and returns the next scripted answer."""
        self.requests.append(request)
        if self._function is not None:
            item = self._function(request)
            if inspect.isawaitable(item):
                item = await item
            return item
        if self._position >= len(self._script):
            raise ScriptExhaustedError(
                f"MockProvider script exhausted: call {len(self.requests)} but only "
                f"{len(self._script)} answers were scripted"
            )
        item = self._script[self._position]
        self._position += 1
        return item

    def _response(
        self, request: CompletionRequest, text: str, finish: str, reasoning: str = ""
    ) -> CompletionResponse:
        """Builds a response with word-count usage (reasoning words count as output)."""
        prompt_words = sum(len(m.text.split()) for m in request.messages)
        thought = len(reasoning.split())
        parts: tuple[Part, ...] = (ReasoningPart(reasoning), TextPart(text)) if reasoning else ()
        return CompletionResponse(
            content=text,
            parts=parts,
            model=self.model,
            input_tokens=prompt_words,
            output_tokens=len(text.split()) + thought,
            reasoning_tokens=thought if reasoning else None,
            latency_ms=0.0,
            finish_reason=finish,  # type: ignore[arg-type]
            provider=self._name,
        )

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the next scripted answer, or raises the scripted exception."""
        item = await self._next(request)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, CompletionResponse):
            return item
        if isinstance(item, MockStream):
            await asyncio.sleep(item.first_delay)
            if item.error is not None:
                raise item.error
            return self._response(
                request, "".join(item.chunks), item.finish_reason, "".join(item.reasoning)
            )
        if isinstance(item, str):
            return self._response(request, item, "stop")
        raise TypeError(f"MockProvider cannot answer with {type(item).__name__}")

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams the next scripted answer as word deltas, then a StreamEnd."""
        item = await self._next(request)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, MockStream):
            deltas: list[StreamEvent] = [ReasoningDelta(chunk) for chunk in item.reasoning]
            deltas += [TextDelta(chunk) for chunk in item.chunks]
            for index, delta in enumerate(deltas):
                await asyncio.sleep(item.first_delay if index == 0 else item.chunk_delay)
                yield delta
            if item.error is not None:
                raise item.error
            yield StreamEnd(
                self._response(
                    request, "".join(item.chunks), item.finish_reason, "".join(item.reasoning)
                )
            )
            return
        if isinstance(item, str):
            response = self._response(request, item, "stop")
        elif isinstance(item, CompletionResponse):
            response = item
        else:
            raise TypeError(f"MockProvider cannot answer with {type(item).__name__}")
        for part in response.parts:
            if type(part) is ReasoningPart:
                for piece in _WORDS.findall(part.text):
                    yield ReasoningDelta(piece)
        for piece in _WORDS.findall(response.content):
            yield TextDelta(piece)
        for index, call in enumerate(response.tool_calls):
            arguments = msgspec.json.encode(call.arguments).decode()
            yield ToolCallDelta(index, call.id, call.name, arguments)
        yield StreamEnd(response)

    async def aclose(self) -> None:
        """Marks the mock closed, so tests can check that stacks close their terminal."""
        self.closed = True

    def __repr__(self) -> str:
        return f"MockProvider(name={self._name!r}, model={self.model!r})"
