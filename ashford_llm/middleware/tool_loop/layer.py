"""ToolLoop: runs the tool calls a model asks for and asks again, until it answers.

Where it belongs: outside Retry (a retry then repeats one model turn, never the tools, which
may have side effects) and inside Tracing (the call's span is current while the tools run,
so each `execute_tool` span is its child). Microsoft.Extensions.AI's
FunctionInvokingChatClient is the model: an ordinary layer, so a stack that runs tools is
still a provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing

import msgspec
from opentelemetry import trace

from ashford_llm.errors import InvalidRequestError, ToolStepsExceededError
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import Middleware, check_seconds
from ashford_llm.middleware.tool_loop.execute import ToolHandler, ToolRunner
from ashford_llm.middleware.tool_loop.usage import Usage
from ashford_llm.middleware.tracing.content import resolve_capture_mode
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import (
    ChatMessage,
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
    Tool,
    ToolCall,
    ToolCallDelta,
)

__all__ = ["ToolLoop"]


class ToolLoop(Middleware):
    """Runs the model's tool calls with `handlers` and sends the results back, until it answers.

    A request that offers no tools passes through. Otherwise each model turn that ends with
    calls is followed by running every call (several concurrently), appending the model's turn
    and one tool result per call, and asking again; the first answer without calls is
    returned, with the usage of every turn added up. `max_steps` bounds the model turns:
    one more turn with calls raises ToolStepsExceededError.

    A call's arguments are checked before its handler runs: decoded into the tool's type when
    the Tool was built from one, else checked against its JSON Schema (`schema.py` lists the
    keywords). Invalid arguments, an unknown tool, a handler's exception (not an LLMError,
    which propagates) and a handler that runs past `handler_timeout` go back to the model as
    error results. A handler's `str` result is sent as it is; any other result is encoded
    as JSON with msgspec.

    Args:
        inner: the handler to call for each model turn.
        handlers: a tool's name -> its function, sync or async, taking the decoded arguments
            (the tool's type, or a dict). Sync ones run in a worker thread. Handlers of tools
            a request does not offer are ignored; a request offering a tool without a
            handler is refused with InvalidRequestError before anything is sent.
        max_steps: model turns per call, at least 1.
        handler_timeout: seconds one handler may run; None for no limit. A sync handler's
            thread cannot be stopped: the loop stops waiting for it and reports the timeout.
        tracer_provider: where the `execute_tool` spans go; None uses the global one.
        capture_content: record each call's arguments and result on its span (opt-in, as
            Tracing's option: True or a mode putting content on spans; None reads
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT).
    """

    repr_options = ("max_steps",)

    def __init__(
        self,
        inner: LLMProvider,
        *,
        handlers: Mapping[str, ToolHandler],
        max_steps: int = 8,
        handler_timeout: float | None = 60.0,
        tracer_provider: trace.TracerProvider | None = None,
        capture_content: bool | str | None = None,
    ) -> None:
        super().__init__(inner)
        if not isinstance(handlers, Mapping) or not handlers:
            raise ValueError("handlers must be a non-empty mapping of tool names to functions")
        for name, handler in handlers.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"a handler's tool name must be a non-empty string, got {name!r}")
            if not callable(handler):
                raise TypeError(f"the handler of {name!r} must be callable, got {handler!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        self.handlers = dict(handlers)
        self.max_steps = max_steps
        self.handler_timeout = check_seconds(
            "handler_timeout", handler_timeout, positive=True, allow_none=True
        )
        self._runner = ToolRunner(
            handlers=self.handlers,
            timeout=self.handler_timeout,
            tracer=trace.get_tracer(sc.SCOPE_NAME, tracer_provider=tracer_provider),
            capture_content=resolve_capture_mode(capture_content).on_span,
        )

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Asks, runs the calls, and asks again until an answer holds no calls."""
        if not request.tools:
            return await self.inner.complete(request)
        tools = self._offered(request)
        usage = Usage()
        for step in range(1, self.max_steps + 1):
            response = await self.inner.complete(request)
            usage.add(response)
            if not response.tool_calls:
                return usage.total(response)
            self._check_step(step, response, usage)
            request = await self._next_request(request, response, tools)
        raise AssertionError("unreachable: the last step returns or raises")

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams every turn's deltas as they come, and one StreamEnd after the last turn.

        The StreamEnd of a turn with calls is kept back: its calls run and the next turn
        streams. ToolCallDelta indices count the calls of the whole stream, so each index is
        one call even across turns. The final StreamEnd holds the last turn's answer with the
        usage of every turn added up.
        """
        if not request.tools:
            async with aclosing(_forward(self.inner.stream(request), 0)) as events:
                async for event in events:
                    yield event
            return
        tools = self._offered(request)
        usage = Usage()
        calls_so_far = 0
        for step in range(1, self.max_steps + 1):
            end: CompletionResponse | None = None
            async with aclosing(_forward(self.inner.stream(request), calls_so_far)) as events:
                async for event in events:
                    if isinstance(event, StreamEnd):
                        end = event.response
                    else:
                        yield event
            if end is None:
                return  # the inner stream ended without an answer: nothing to act on
            usage.add(end)
            if not end.tool_calls:
                yield StreamEnd(usage.total(end))
                return
            self._check_step(step, end, usage)
            calls_so_far += len(end.tool_calls)
            request = await self._next_request(request, end, tools)

    def _offered(self, request: CompletionRequest) -> dict[str, Tool]:
        """Returns the offered tools by name; refuses a request offering one without handler."""
        missing = [tool.name for tool in request.tools if tool.name not in self.handlers]
        if missing:
            raise InvalidRequestError(
                f"ToolLoop has no handler for the offered tools {missing}; "
                f"it has handlers for {sorted(self.handlers)}",
                provider=self.name,
                error_type="missing_tool_handler",
            )
        return {tool.name: tool for tool in request.tools}

    def _check_step(self, step: int, response: CompletionResponse, usage: Usage) -> None:
        """Raises ToolStepsExceededError when the last allowed turn still asked for tools."""
        if step < self.max_steps:
            return
        names = ", ".join(call.name for call in response.tool_calls)
        raise ToolStepsExceededError(
            f"the model still asked for tools ({names}) after {self.max_steps} model turns "
            f"(max_steps={self.max_steps})",
            provider=response.provider or self.name,
            request_id=response.request_id,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )

    async def _next_request(
        self, request: CompletionRequest, response: CompletionResponse, tools: Mapping[str, Tool]
    ) -> CompletionRequest:
        """Runs the answer's calls and returns the request with the turn and results added."""
        results = await self._run_calls(response.tool_calls, tools)
        messages = (*request.messages, ChatMessage.assistant(*response.parts), *results)
        # A forcing choice ("required", a tool's name) holds for the first turn only, or the
        # model could never answer without a call (FunctionInvokingChatClient does the same).
        choice = request.tool_choice
        if choice == "required" or choice in tools:
            choice = "auto"
        return msgspec.structs.replace(request, messages=messages, tool_choice=choice)

    async def _run_calls(
        self, calls: Sequence[ToolCall], tools: Mapping[str, Tool]
    ) -> list[ChatMessage]:
        """Runs the calls concurrently; the first LLMError cancels the others and propagates."""
        if len(calls) == 1:
            return [await self._runner.run(calls[0], tools)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._runner.run(call, tools)) for call in calls]
        except BaseExceptionGroup as grouped:
            raise grouped.exceptions[0] from None
        return [task.result() for task in tasks]


async def _forward(
    events: AsyncGenerator[StreamEvent, None], call_offset: int
) -> AsyncGenerator[StreamEvent, None]:
    """Yields a turn's events, ToolCallDelta indices shifted by the calls of earlier turns;
    closes the inner stream however the turn ends."""
    try:
        async for event in events:
            if call_offset and isinstance(event, ToolCallDelta):
                event = msgspec.structs.replace(event, index=event.index + call_offset)
            yield event
    finally:
        await events.aclose()
