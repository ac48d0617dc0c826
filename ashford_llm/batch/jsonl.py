"""The batch files of `ashford-llm batch`: requests in, outcomes out, one JSON object a line.

Input line: `{"custom_id": "mail-1", "request": {...}}`, the request a CompletionRequest as
JSON (`messages` of `{"role", "content"}`, content a string or a list of typed parts such
as `{"type": "image", "data": "<base64>", "media_type": "image/png"}`; any other field of
CompletionRequest; `tools` as `{"name", "description", "parameters", "strict"}`).
Output line: `{"custom_id", "ok": true, "content", "finish_reason", "input_tokens",
"output_tokens"}` (with `"tool_calls": [{"id", "name", "arguments"}]` when the model called
tools) or `{"custom_id", "ok": false, "error", "retryable", "message"}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from ashford_llm.errors import LLMError
from ashford_llm.types import CompletionRequest, CompletionResponse, Tool

__all__ = ["BatchFileError", "outcome_line", "read_requests"]


class BatchFileError(ValueError):
    """A batch input file is not what `read_requests` accepts (the line is named)."""


class _ToolLine(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    strict: bool = False


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    custom_id: str
    request: dict[str, Any]


_LINE = msgspec.json.Decoder(_Line)
_TOOLS = msgspec.json.Decoder(list[_ToolLine])


def read_requests(lines: Iterable[bytes | str]) -> dict[str, CompletionRequest]:
    """Reads an input file's lines into custom id -> request; blank lines are skipped.

    Raises BatchFileError naming the line for bad JSON, a bad request or a repeated id.
    """
    requests: dict[str, CompletionRequest] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            line = _LINE.decode(raw)
            fields = dict(line.request)
            tools = _TOOLS.decode(msgspec.json.encode(fields.pop("tools", [])))
            request = msgspec.convert(fields, CompletionRequest)
            if tools:
                built = [Tool(t.name, t.description, t.parameters, strict=t.strict) for t in tools]
                request = msgspec.structs.replace(request, tools=tuple(built))
        except (msgspec.DecodeError, ValueError, TypeError) as error:
            raise BatchFileError(f"line {number}: {error}") from None
        if line.custom_id in requests:
            raise BatchFileError(f"line {number}: custom_id {line.custom_id!r} is repeated")
        requests[line.custom_id] = request
    if not requests:
        raise BatchFileError("the file holds no requests")
    return requests


def outcome_line(custom_id: str, outcome: CompletionResponse | LLMError) -> bytes:
    """Returns one output line (without its newline) for an item's outcome."""
    if isinstance(outcome, CompletionResponse):
        data: dict[str, Any] = {
            "custom_id": custom_id,
            "ok": True,
            "content": outcome.content,
            "finish_reason": outcome.finish_reason,
            "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens,
        }
        if outcome.tool_calls:
            data["tool_calls"] = [
                {"id": call.id, "name": call.name, "arguments": call.arguments}
                for call in outcome.tool_calls
            ]
    else:
        data = {
            "custom_id": custom_id,
            "ok": False,
            "error": type(outcome).__name__,
            "retryable": outcome.retryable,
            "message": outcome.message,
        }
    return msgspec.json.encode(data)
