"""Anthropic Messages tools as the fake server reads and writes them.

Read: `tools` (custom tools; server tools such as web search are accepted and never called),
`tool_choice` (`auto`, `any`, `tool` with a name, `none`; `disable_parallel_tool_use`), and
`tool_use` / `tool_result` blocks in the history: each result becomes a "tool" message of the
neutral view. A tool name outside `^[a-zA-Z0-9_-]{1,128}$` and a `tool_use` whose results are
not in the next message get the real API's 400 messages; a missing field gets its
"Field required" message as for other blocks. Written: `tool_use` blocks (stop reason
`tool_use`) and, streamed, per call a `content_block_start` with `input: {}`, an empty
`input_json_delta` and one per 6-character piece of the arguments, then `content_block_stop`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ashford_llm.testing.fake_server.tools import (
    PlannedCall,
    ToolSpec,
    argument_pieces,
    result_text,
)
from ashford_llm.testing.fake_server.wire import BadRequest, sse

__all__ = ["read_tools", "stream_calls", "tool_use_blocks", "turns"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _tool(tool: Any, where: str) -> ToolSpec | None:
    """Checks one custom tool; returns None for a server tool (a `type` other than custom)."""
    if not isinstance(tool, dict):
        raise BadRequest(f"{where}: Input should be a valid dictionary")
    if tool.get("type", "custom") != "custom":
        return None
    where = f"{where}.custom"
    name = tool.get("name")
    if not isinstance(name, str):
        raise BadRequest(f"{where}.name: Field required")
    if not _NAME.match(name):
        raise BadRequest(f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise BadRequest(f"{where}.input_schema: Field required")
    if schema.get("type") != "object":
        raise BadRequest(f"{where}.input_schema.type: Input should be 'object'")
    description = tool.get("description")
    return ToolSpec(
        name=name, description=description if isinstance(description, str) else "", schema=schema
    )


def read_tools(
    tools: list[Any] | None, choice: dict[str, Any] | None
) -> tuple[tuple[ToolSpec, ...], str, bool | None]:
    """Reads `tools` and `tool_choice`: (tools, choice, False when parallel use is off)."""
    specs = tuple(
        spec for index, tool in enumerate(tools or []) if (spec := _tool(tool, f"tools.{index}"))
    )
    if choice is None:
        return specs, "auto", None
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind in _CHOICES:
        return specs, _CHOICES[kind], parallel
    if kind != "tool":
        raise BadRequest(
            f"tool_choice: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'auto', 'any', 'tool', 'none'"
        )
    name = choice.get("name")
    if not isinstance(name, str):
        raise BadRequest("tool_choice.tool.name: Field required")
    if name not in {spec.name for spec in specs}:
        raise BadRequest(f"Tool '{name}' not found in tools")
    return specs, name, parallel


def _result_content(content: Any) -> str:
    """Returns a tool_result's text: the string, or its text blocks joined."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return result_text(content)


def turns(messages: Sequence[Any]) -> list[tuple[str, str]]:
    """Returns each turn as (role, text), a user turn's tool results first as "tool" turns.

    Checks that every `tool_use` is answered by a `tool_result` in the next message.
    """
    out: list[tuple[str, str]] = []
    pending: tuple[int, list[str]] | None = None
    for index, message in enumerate(messages):
        content = message.content
        blocks = [] if isinstance(content, str) else content
        answered = {block.tool_use_id for block in blocks if block.type == "tool_result"}
        if pending is not None:
            missing = [call_id for call_id in pending[1] if call_id not in answered]
            if missing:
                raise BadRequest(
                    f"messages.{pending[0]}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block "
                    "must have a corresponding `tool_result` block in the next message."
                )
        calls: list[str] = []
        texts: list[str] = []
        for number, block in enumerate(blocks):
            where = f"messages.{index}.content.{number}.{block.type}"
            if block.type == "tool_use":
                for field in ("id", "name", "input"):
                    if getattr(block, field) is None:
                        raise BadRequest(f"{where}.{field}: Field required")
                calls.append(block.id)
            elif block.type == "tool_result":
                if block.tool_use_id is None:
                    raise BadRequest(f"{where}.tool_use_id: Field required")
                out.append(("tool", _result_content(block.content)))
            elif block.type == "text":
                texts.append(block.text)
        if isinstance(content, str) or texts or not answered:
            out.append((message.role, content if isinstance(content, str) else "".join(texts)))
        pending = (index, calls) if calls else None
    return out


def tool_use_blocks(calls: tuple[PlannedCall, ...]) -> list[dict[str, object]]:
    """Returns the answer's `tool_use` blocks."""
    return [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}
        for call in calls
    ]


def stream_calls(calls: tuple[PlannedCall, ...], first_index: int) -> list[bytes]:
    """Returns each call's block events, the blocks numbered from `first_index`."""
    frames: list[bytes] = []
    for offset, call in enumerate(calls):
        index = first_index + offset
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        frames.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": block},
                event="content_block_start",
            )
        )
        for piece in ["", *argument_pieces(call.arguments)]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            frames.append(
                sse(
                    {"type": "content_block_delta", "index": index, "delta": delta},
                    event="content_block_delta",
                )
            )
        frames.append(
            sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
        )
    return frames
