"""OpenAI Chat Completions tools as the fake server reads and writes them.

Read: `tools` (function tools; custom tools are accepted and never called), `tool_choice`
("none", "auto", "required", a named function, or `allowed_tools`), `parallel_tool_calls`.
A malformed definition gets OpenAI's 400 error object: a missing or ill-formed function name,
a `tool_choice` without tools and a history whose tool calls lack their `tool` messages (or
the reverse) use the messages of real answers; the other messages follow OpenAI's wording
for the same kind of error. Written: `message.tool_calls` (arguments as JSON
text) and, streamed, a `delta.tool_calls` chunk with the call's id and name (arguments "")
followed by one chunk per 6-character piece of its arguments, as OpenAI streams them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ashford_llm.testing.fake_server.tools import PlannedCall, ToolSpec, argument_pieces
from ashford_llm.testing.fake_server.wire import BadRequest, encode

__all__ = [
    "InvalidParam",
    "ToolOptions",
    "check_history",
    "read_tools",
    "stream_calls",
    "tool_calls",
]

_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_MAX_NAME = 64
_MODES = ("none", "auto", "required")


class InvalidParam(BadRequest):
    """A malformed parameter: its message travels as OpenAI's whole error object.

    The shared BadRequest carries a message only; OpenAI's 400 names the parameter and a
    code too, so the object is the message and `bad_request` sends it as it is.
    """

    def __init__(self, message: str, *, param: str | None, code: str | None) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
        super().__init__(encode(error).decode())


ToolOptions = tuple[tuple[ToolSpec, ...], str, tuple[str, ...]]
"""The tools offered, the tool choice ("auto", "none", "required" or a name), the allowed names."""


def _function(tool: Any, where: str) -> ToolSpec | None:
    """Checks one `tools` entry; returns its function (None for a custom tool)."""
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind == "custom":
        return None
    if kind != "function":
        raise InvalidParam(
            f"Invalid value: {kind!r}. Supported values are: 'function' and 'custom'.",
            param=f"{where}.type",
            code="invalid_value",
        )
    function = tool.get("function")
    if not isinstance(function, dict):
        raise InvalidParam(
            f"Missing required parameter: '{where}.function'.",
            param=f"{where}.function",
            code="missing_required_parameter",
        )
    name = function.get("name")
    if not isinstance(name, str):
        raise InvalidParam(
            f"Missing required parameter: '{where}.function.name'.",
            param=f"{where}.function.name",
            code="missing_required_parameter",
        )
    if len(name) > _MAX_NAME:
        raise InvalidParam(
            f"Invalid '{where}.function.name': string too long. Expected a string with maximum "
            f"length {_MAX_NAME}, but got a string with length {len(name)} instead.",
            param=f"{where}.function.name",
            code="string_above_max_length",
        )
    if not _NAME.match(name):
        raise InvalidParam(
            f"Invalid '{where}.function.name': string does not match pattern. Expected a "
            "string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            param=f"{where}.function.name",
            code="invalid_value",
        )
    parameters = function.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidParam(
            f"Invalid type for '{where}.function.parameters': expected an object, but got "
            "another type instead.",
            param=f"{where}.function.parameters",
            code="invalid_type",
        )
    description = function.get("description")
    return ToolSpec(
        name=name,
        description=description if isinstance(description, str) else "",
        schema=parameters,
    )


def _choice(choice: Any, names: set[str]) -> tuple[str, tuple[str, ...]]:
    """Reads `tool_choice` into (choice, allowed names)."""
    if choice is None:
        return "auto", ()
    if isinstance(choice, str):
        if choice not in _MODES:
            raise InvalidParam(
                f"Invalid value: {choice!r}. Supported values are: 'none', 'auto', and 'required'.",
                param="tool_choice",
                code="invalid_value",
            )
        return choice, ()
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "custom":
        return "none", ()  # a custom tool is forced: the fake model never calls one
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        mode = allowed.get("mode", "auto")
        listed = tuple(
            tool["function"]["name"]
            for tool in allowed.get("tools") or []
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        )
        return ("required" if mode == "required" else "auto"), listed
    function = choice.get("function") if kind == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidParam(
            "Missing required parameter: 'tool_choice.function.name'.",
            param="tool_choice.function.name",
            code="missing_required_parameter",
        )
    if name not in names:
        raise InvalidParam(
            f"Invalid value for 'tool_choice': function '{name}' is not one of the functions "
            "in 'tools'.",
            param="tool_choice",
            code="invalid_value",
        )
    return name, ()


def read_tools(tools: list[Any] | None, choice: Any) -> ToolOptions:
    """Reads and checks `tools` and `tool_choice`, as Chat Completions does."""
    if not tools:
        if choice is not None:
            raise InvalidParam(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
                code=None,
            )
        return (), "auto", ()
    specs = tuple(
        spec
        for index, tool in enumerate(tools)
        if (spec := _function(tool, f"tools[{index}]")) is not None
    )
    mode, allowed = _choice(choice, {spec.name for spec in specs})
    return specs, mode, allowed


def check_history(messages: Sequence[Any]) -> None:
    """Checks that each assistant turn's calls are answered by the `tool` messages after it."""
    pending: list[str] = []
    for index, message in enumerate(messages):
        if message.role == "tool":
            if message.tool_call_id not in pending:
                raise InvalidParam(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",  # sic: OpenAI's spelling
                    param=f"messages.[{index}].role",
                    code=None,
                )
            pending.remove(message.tool_call_id)
            continue
        if pending:
            raise InvalidParam(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                param=f"messages.[{index}].role",
                code=None,
            )
        pending = [str(call.get("id")) for call in message.tool_calls or ()]


def tool_calls(calls: tuple[PlannedCall, ...]) -> list[dict[str, object]]:
    """Returns a message's `tool_calls`."""
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in calls
    ]


def stream_calls(
    calls: tuple[PlannedCall, ...], chunk: Callable[[dict[str, object]], bytes]
) -> list[bytes]:
    """Returns the chunks of the calls: id and name first, then the argument pieces."""
    frames: list[bytes] = []
    for index, call in enumerate(calls):
        start = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(chunk({"tool_calls": [start]}))
        frames.extend(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in argument_pieces(call.arguments)
        )
    return frames
