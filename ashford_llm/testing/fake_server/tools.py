"""The fake model's tool rule: when it calls a tool, which one, with what arguments and ids.

The rule (docs/testing.md has it with examples):

- A request that offers tools gets calls instead of text unless `tool_choice` is "none", or
  it is "auto" and the last message is a tool result (then the answer function speaks; the
  default `echo` says "The tool said: <content>"). A forced choice ("required" or a tool's
  name) calls every time, as the real models do, so a loop that never stops can be tested.
- The call is of the first offered tool (of the allowed ones, when the choice lists some), or
  of the named tool. When the last user text contains `[parallel]` and parallel calls are not
  switched off, there is one call per offered tool instead, in order.
- Arguments fill the schema's required properties: strings take the capitalised words of the
  last user text (not its first word) in order, then `fake-<property>`; numbers take the
  numbers of that text in order, then the minimum (or 1); booleans true; an enum or const its
  first value; an array one item; an object its own required properties.
- Ids have the vendor's shape, derived from the response id: OpenAI `call_` + 24 characters,
  Anthropic `toolu_01` + 22, Gemini 3 an 8-character id (older Gemini models send none).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ashford_llm.testing.fake_server.answers import AnswerRequest

__all__ = [
    "PARALLEL_MARK",
    "PlannedCall",
    "ToolSpec",
    "argument_pieces",
    "build_arguments",
    "call_tokens",
    "plan_calls",
    "result_text",
    "tool_tokens",
]

PARALLEL_MARK = "[parallel]"
"""The user text that asks the fake model for one call per offered tool."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LOWER = "0123456789abcdefghijklmnopqrstuvwxyz"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_WORD = re.compile(r"\b[A-Z][\w'-]*")
_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 8
_PIECE = 6


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One tool the request offers: its name, description and JSON Schema (vendor-neutral)."""

    name: str
    description: str = ""
    schema: dict[str, Any] = {}


class PlannedCall(msgspec.Struct, frozen=True, kw_only=True):
    """A call the fake model makes: `arguments` is the JSON text sent (as OpenAI writes it)."""

    id: str
    name: str
    arguments: str

    @property
    def input(self) -> dict[str, Any]:
        """The arguments as a JSON object (Anthropic's `input`, Gemini's `args`)."""
        value: dict[str, Any] = json.loads(self.arguments)
        return value


def plan_calls(request: AnswerRequest, response_id: str) -> tuple[PlannedCall, ...]:
    """Returns the calls the fake model makes for this request (none: it answers with text)."""
    choice = request.tool_choice
    if not request.tools or choice == "none":
        return ()
    last_role = request.messages[-1][0] if request.messages else ""
    if choice == "auto" and last_role == "tool":
        return ()
    named = choice not in ("auto", "required")
    allowed = (choice,) if named else request.allowed_tools
    offered = [tool for tool in request.tools if not allowed or tool.name in allowed]
    if not offered:
        return ()
    text = request.last_user_text
    parallel = PARALLEL_MARK in text and request.parallel_tool_calls is not False and not named
    chosen = offered if parallel else offered[:1]
    return tuple(
        PlannedCall(
            id=_call_id(request.vendor, request.model, f"{response_id}/{index}"),
            name=tool.name,
            arguments=json.dumps(build_arguments(tool.schema, text), ensure_ascii=False),
        )
        for index, tool in enumerate(chosen)
    )


def _call_id(vendor: str, model: str, seed: str) -> str:
    """Returns a call id in the vendor's shape, the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    if vendor == "openai":
        return "call_" + "".join(_ALPHABET[byte % 62] for byte in digest[:24])
    if vendor == "anthropic":
        return "toolu_01" + "".join(_ALPHABET[byte % 62] for byte in digest[:22])
    if "gemini-3" in model:
        return "".join(_LOWER[byte % 36] for byte in digest[:8])
    return ""  # older Gemini models send calls without ids


class _Filler:
    """Hands out the user text's capitalised words and numbers, in order, as values."""

    def __init__(self, text: str) -> None:
        rest = text.strip().partition(" ")[2]
        self.words = [word.rstrip("'-") for word in _WORD.findall(rest)]
        self.numbers = [float(number) for number in _NUMBER.findall(text)]

    def word(self) -> str | None:
        return self.words.pop(0) if self.words else None

    def number(self) -> float | None:
        return self.numbers.pop(0) if self.numbers else None


def build_arguments(schema: Mapping[str, Any], text: str) -> dict[str, Any]:
    """Returns arguments that fit the tool's schema, filled from the user text (see module)."""
    value = _value(schema, schema, "", _Filler(text), 0)
    return value if isinstance(value, dict) else {}


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follows a local `$ref` (`#/$defs/X` or `#/definitions/X`) to its schema."""
    for _ in range(_MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, Mapping) else {}
        schema = target if isinstance(target, Mapping) else {}
    return schema


def _type(schema: Mapping[str, Any]) -> str:
    """Returns the schema's type in lower case (Gemini writes "STRING"), null last."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k).lower() for k in kind if str(k).lower() != "null"]
        return kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind.lower()
    return "object" if "properties" in schema else "string"


def _value(
    schema: Mapping[str, Any], root: Mapping[str, Any], name: str, filler: _Filler, depth: int
) -> Any:
    """Returns one value of `schema` (the property is called `name`)."""
    schema = _resolve(schema, root)
    if depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, Mapping) and _type(o) != "null"]
            return _value(usable[0] if usable else options[0], root, name, filler, depth + 1)
    kind = _type(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        return {
            key: _value(properties.get(key, {}), root, key, filler, depth + 1)
            for key in required
            if isinstance(key, str)
        }
    if kind == "array":
        items = schema.get("items")
        return [_value(items, root, name, filler, depth + 1)] if isinstance(items, Mapping) else []
    if kind in ("integer", "number"):
        return _number(schema, filler.number(), integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    return filler.word() or f"fake-{name or 'value'}"


def _number(schema: Mapping[str, Any], found: float | None, *, integer: bool) -> int | float:
    """Returns the number found in the text, or the schema's minimum, or 1; within bounds."""
    low, high = schema.get("minimum"), schema.get("maximum")
    value = found if found is not None else (low if isinstance(low, int | float) else 1)
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(high, int | float) and value > high:
        value = high
    return int(value) if integer or float(value).is_integer() else value


def argument_pieces(arguments: str) -> list[str]:
    """Splits a call's JSON text into the fragments a stream sends (6 characters each)."""
    return [arguments[start : start + _PIECE] for start in range(0, len(arguments), _PIECE)]


def call_tokens(calls: Sequence[PlannedCall]) -> int:
    """Counts the output tokens of calls the fake way: the words of each name and JSON text."""
    return sum(len(call.name.split()) + len(call.arguments.split()) for call in calls)


def tool_tokens(tools: Sequence[ToolSpec]) -> int:
    """Counts the input tokens of the tool definitions: words of name, description and schema."""
    return sum(
        len(f"{tool.name} {tool.description} {json.dumps(tool.schema)}".split()) for tool in tools
    )


def result_text(value: Any) -> str:
    """Returns a tool result's content as text (JSON for anything that is not a string)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
