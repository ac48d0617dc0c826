"""Encodes tools, the tool choice and a tool-calling history for Chat Completions.

- A Tool becomes `{"type": "function", "function": {"name", "description", "parameters",
  "strict"}}` (description and strict only when set).
- `tool_choice` "auto", "none" and "required" are sent as those strings, a tool's name as
  `{"type": "function", "function": {"name": ...}}`; "auto" is OpenAI's default with tools
  and is not sent. `tool_choice` and `parallel_tool_calls` are sent only with tools (OpenAI
  refuses them without).
- An assistant message with ToolCall parts replays the model's turn: its text as `content`
  (null when it has none), its calls as `tool_calls` with the arguments as a JSON string.
- Each ToolResult of a `tool` message becomes its own `{"role": "tool", "tool_call_id",
  "content"}` message. Chat Completions has no error flag on a result (its docs and the SDK's
  ChatCompletionToolMessageParam have none), so a result with `is_error` is sent as
  "Error: <content>", which tells the model the call failed.

Strict tools: OpenAI's strict mode takes a schema whose every object sets
`additionalProperties: false` and lists every property in `required` (optional ones are
written as nullable). Objects without `additionalProperties` are closed here, as the SDK's
strict-schema helper does; an object with a property left out of `required` is refused
before sending (the SDK would make it required, which changes what the tool means): list it
and make it nullable, or send the tool with `strict=False`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ashford_llm.errors import InvalidRequestError
from ashford_llm.types import Tool, ToolCall, ToolResult

__all__ = ["encode_tool_choice", "encode_tools", "strict_schema", "tool_calls", "tool_messages"]

_ERROR_PREFIX = "Error: "


def encode_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """Encodes the tools as Chat Completions function tools."""
    encoded = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        if tool.strict:
            function["parameters"] = strict_schema(tool.schema, tool=tool.name)
            function["strict"] = True
        else:
            function["parameters"] = tool.schema
        encoded.append({"type": "function", "function": function})
    return encoded


def encode_tool_choice(choice: str) -> str | dict[str, Any]:
    """Encodes the tool choice: a mode as itself, a tool's name as a named function."""
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def tool_calls(parts: Sequence[Any]) -> list[dict[str, Any]]:
    """Encodes an assistant turn's ToolCall parts as `tool_calls` (arguments as JSON text)."""
    return [
        {
            "id": part.id,
            "type": "function",
            "function": {
                "name": part.name,
                "arguments": msgspec.json.encode(part.arguments).decode(),
            },
        }
        for part in parts
        if type(part) is ToolCall
    ]


def tool_messages(parts: Sequence[Any]) -> list[dict[str, Any]]:
    """Encodes a tool message's results, one `tool` message each; errors say so in the text."""
    messages = []
    for part in parts:
        if type(part) is ToolResult:
            content = _ERROR_PREFIX + part.content if part.is_error else part.content
            messages.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": content})
    return messages


def strict_schema(schema: dict[str, Any], *, tool: str) -> dict[str, Any]:
    """Returns a copy of a strict tool's schema with every object closed.

    Raises InvalidRequestError for an object with a property missing from `required`.
    """
    closed: dict[str, Any] = _closed(schema, tool, "parameters")
    return closed


def _closed(schema: Any, tool: str, path: str) -> Any:
    """Closes the objects of a schema, recursively, checking that all properties are required."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    properties = out.get("properties")
    if isinstance(properties, dict):
        required = out.get("required") or []
        optional = [name for name in properties if name not in required]
        if optional:
            raise InvalidRequestError(
                f"OpenAI Chat Completions: tool {tool!r} is strict, and strict mode needs every "
                f"property in 'required'; {path} leaves out {optional}: list them (nullable "
                "where optional) or set strict=False"
            )
        out["properties"] = {
            name: _closed(sub, tool, f"{path}.{name}") for name, sub in properties.items()
        }
    for key in ("$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {
                name: _closed(sub, tool, f"{path}.{key}.{name}") for name, sub in out[key].items()
            }
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [_closed(sub, tool, f"{path}.{key}[{i}]") for i, sub in enumerate(out[key])]
    if isinstance(out.get("items"), dict):
        out["items"] = _closed(out["items"], tool, f"{path}.items")
    kind = out.get("type")
    if (kind == "object" or (isinstance(kind, list) and "object" in kind)) and (
        "additionalProperties" not in out
    ):
        out["additionalProperties"] = False
    return out
