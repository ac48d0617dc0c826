"""Runs one tool call for ToolLoop: checks its arguments, calls its handler, traces it.

Whatever goes wrong in the tool (an unknown name, invalid arguments, the handler's exception
or timeout, a result that cannot be encoded) becomes an error result the model can read and
react to; an LLMError from a handler and a cancellation propagate.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import msgspec
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ashford_llm.errors import LLMError, redact
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import format_option
from ashford_llm.middleware.tool_loop.schema import schema_errors
from ashford_llm.middleware.tracing.call import error_type
from ashford_llm.types import ChatMessage, Tool, ToolCall

__all__ = ["ToolHandler", "ToolRunner"]

ToolHandler: TypeAlias = Callable[[Any], Any]
"""A tool's implementation: a sync or async function of the call's decoded arguments."""

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()


class _InvalidArgumentsError(Exception):
    """A call's arguments do not fit its tool's parameters."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What running a call gave: the result's text, or why it failed (`error_type` set)."""

    content: str
    error_type: str | None = None
    exception: BaseException | None = None


@dataclass(frozen=True, kw_only=True)
class ToolRunner:
    """Runs calls with ToolLoop's handlers, each bounded by `timeout` and in its own span."""

    handlers: Mapping[str, ToolHandler]
    timeout: float | None
    tracer: trace.Tracer
    capture_content: bool = False

    async def run(self, call: ToolCall, tools: Mapping[str, Tool]) -> ChatMessage:
        """Runs one call in an `execute_tool {name}` span; returns the tool message to send."""
        tool = tools.get(call.name)
        attributes: dict[str, str] = {
            sc.OPERATION_NAME: sc.OPERATION_EXECUTE_TOOL,
            sc.TOOL_NAME: call.name,
            sc.TOOL_CALL_ID: call.id,
            sc.TOOL_TYPE: sc.TOOL_TYPE_FUNCTION,
        }
        if tool is not None and tool.description:
            attributes[sc.TOOL_DESCRIPTION] = tool.description
        if self.capture_content:
            attributes[sc.TOOL_CALL_ARGUMENTS] = redact(_ENCODER.encode(call.arguments).decode())
        with self.tracer.start_as_current_span(
            f"{sc.OPERATION_EXECUTE_TOOL} {call.name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                outcome = await self._execute(call, tool, tools)
            except BaseException as error:
                cancelled = isinstance(error, asyncio.CancelledError)
                kind = sc.ERROR_TYPE_CANCELLED if cancelled else error_type(error)
                _record_failure(
                    span, _Outcome(str(error) or kind, kind, None if cancelled else error)
                )
                raise
            if self.capture_content:
                span.set_attribute(sc.TOOL_CALL_RESULT, redact(outcome.content))
            if outcome.error_type is not None:
                _record_failure(span, outcome)
        return ChatMessage.tool_result(
            call.id, outcome.content, is_error=outcome.error_type is not None, name=call.name
        )

    async def _execute(
        self, call: ToolCall, tool: Tool | None, tools: Mapping[str, Tool]
    ) -> _Outcome:
        """Checks the call, runs its handler within the timeout, and encodes the result."""
        if tool is None:
            offered = ", ".join(tools) or "none"
            return _Outcome(
                f"unknown tool {call.name!r}; the tools offered are: {offered}", "unknown_tool"
            )
        try:
            arguments = _arguments(call, tool)
        except _InvalidArgumentsError as error:
            return _Outcome(f"invalid arguments for {call.name}: {error}", "invalid_arguments")
        scope = asyncio.timeout(self.timeout)
        try:
            async with scope:
                result = await _call(self.handlers[call.name], arguments)
        except LLMError:
            raise
        except TimeoutError as error:
            if not scope.expired():
                return _failed(error)
            seconds = format_option(self.timeout)
            return _Outcome(f"tool {call.name} timed out after {seconds} s", "timeout")
        except Exception as error:  # the handler's failure goes to the model, not the caller
            return _failed(error)
        if isinstance(result, str):
            return _Outcome(result)
        try:
            return _Outcome(_ENCODER.encode(result).decode())
        except (TypeError, ValueError, msgspec.EncodeError) as error:
            return _failed(error, f"the result of {call.name} cannot be encoded as JSON: ")


def _arguments(call: ToolCall, tool: Tool) -> Any:
    """Returns the call's arguments decoded into the tool's type, or a checked copy of them."""
    if tool.type is not None:
        try:
            return tool.parse(call)
        except msgspec.ValidationError as error:
            raise _InvalidArgumentsError(str(error)) from None
    errors = schema_errors(call.arguments, tool.schema)
    if errors:
        raise _InvalidArgumentsError("; ".join(errors))
    # A copy: the call's own dict is sent back to the model in the assistant turn.
    return _DECODER.decode(_ENCODER.encode(call.arguments))


async def _call(handler: ToolHandler, arguments: Any) -> Any:
    """Awaits an async handler; runs a sync one in a worker thread (awaiting what it returns)."""
    if inspect.iscoroutinefunction(handler):
        result = await handler(arguments)
    else:
        result = await asyncio.to_thread(handler, arguments)
    if inspect.isawaitable(result):
        result = await result
    return result


def _failed(error: BaseException, prefix: str = "") -> _Outcome:
    """Returns the outcome of a handler's exception: its type and (redacted) text."""
    return _Outcome(redact(f"{prefix}{type(error).__name__}: {error}"), error_type(error), error)


def _record_failure(span: trace.Span, outcome: _Outcome) -> None:
    """Sets error.type and the error status, and records the exception when there is one."""
    kind = outcome.error_type or "_OTHER"
    span.set_attribute(sc.ERROR_TYPE, kind)
    message = redact(outcome.content)
    span.set_status(Status(StatusCode.ERROR, message))
    error = outcome.exception
    if error is not None:
        span.record_exception(
            error,
            attributes={
                "exception.message": message,
                "exception.stacktrace": redact("".join(traceback.format_exception(error))),
            },
        )
