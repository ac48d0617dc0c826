"""Gemini tools as the fake server reads and writes them.

Read: `tools[].functionDeclarations` (`parameters`, Google's upper-case Schema, or
`parametersJsonSchema`; other tools such as code execution are accepted and never called),
`toolConfig.functionCallingConfig` (mode AUTO, ANY, NONE or VALIDATED, `allowedFunctionNames`)
and `functionCall` / `functionResponse` parts: each response becomes a "tool" message of the
neutral view (its `result`, `output` or `error` value, or the whole object as JSON). An invalid
function name and a nameless functionResponse get the real API's 400 messages; a Gemini 3
model refuses a call of the current turn sent back without its `thoughtSignature`, as Gemini 3
does. Written: one `functionCall` part per call, with an `id` where the model is Gemini 3 and a
`thoughtSignature` on the first call where the model thinks (Gemini 2.5 and 3); a stream sends
each call part whole in its own chunk, as the Developer API does.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from ashford_llm.testing.fake_server.tools import PlannedCall, ToolSpec, result_text
from ashford_llm.testing.fake_server.wire import BadRequest

__all__ = ["call_parts", "read_tools", "turns"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
_THINKING_MODELS = ("gemini-2.5", "gemini-3")


def _declaration(declaration: Any, where: str) -> ToolSpec:
    """Checks one function declaration."""
    if not isinstance(declaration, dict):
        declaration = {}
    name = declaration.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadRequest(
            "The GenerateContentRequest proto is invalid:\n"
            f"  * {where}.name: [FIELD_INVALID] Invalid function name. Must start with a letter "
            "or an underscore. Must be a-z, A-Z, 0-9, or contain underscores (_), dots (.), "
            "colons (:), or dashes (-), with a maximum length of 64."
        )
    schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
    description = declaration.get("description")
    return ToolSpec(
        name=name,
        description=description if isinstance(description, str) else "",
        schema=schema if isinstance(schema, dict) else {},
    )


def read_tools(
    tools: list[dict[str, Any]] | None, config: dict[str, Any] | None
) -> tuple[tuple[ToolSpec, ...], str, tuple[str, ...]]:
    """Reads the declarations and the calling config: (tools, choice, allowed names)."""
    specs = tuple(
        _declaration(declaration, f"tools[{i}].function_declarations[{j}]")
        for i, tool in enumerate(tools or [])
        for j, declaration in enumerate(tool.get("functionDeclarations") or [])
    )
    calling = (config or {}).get("functionCallingConfig") or {}
    choice = _MODES.get(str(calling.get("mode", "AUTO")).upper(), "auto")
    allowed = tuple(calling.get("allowedFunctionNames") or ())
    if choice == "required" and len(allowed) == 1:
        return specs, allowed[0], ()  # ANY with one name: that function
    return specs, choice, allowed


def _response_text(response: Any) -> str:
    """Returns a functionResponse's content: its result, output or error, or all of it."""
    if isinstance(response, dict) and len(response) == 1:
        key, value = next(iter(response.items()))
        if key in ("result", "output", "error"):
            return result_text(value)
    return result_text(response)


def turns(contents: Sequence[Any], model: str) -> list[tuple[str, str]]:
    """Returns each content as (role, text), its functionResponses first as "tool" turns."""
    out: list[tuple[str, str]] = []
    current_turn = 0  # the index of the last user content with text: the current turn's start
    for index, content in enumerate(contents):
        responses = [part.functionResponse for part in content.parts if part.functionResponse]
        if content.role == "user" and len(responses) < len(content.parts):
            current_turn = index
        for number, response in enumerate(responses):
            if not isinstance(response, dict) or not response.get("name"):
                raise BadRequest(
                    f"* GenerateContentRequest.contents[{index}].parts[{number}]"
                    ".function_response.name: Name cannot be empty.\n"
                )
            out.append(("tool", _response_text(response.get("response"))))
        text = "".join(part.text for part in content.parts if not part.thought)
        if text or not responses:
            out.append(("assistant" if content.role == "model" else content.role, text))
    if "gemini-3" in model:
        _check_signatures(contents, current_turn)
    return out


def _check_signatures(contents: Sequence[Any], start: int) -> None:
    """Refuses a model turn of the current turn whose first call lost its thoughtSignature."""
    for index in range(start, len(contents)):
        calls = [part for part in contents[index].parts if part.functionCall is not None]
        if calls and calls[0].thoughtSignature is None:
            name = calls[0].functionCall.get("name", "")
            raise BadRequest(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead "
                f"to degraded model performance. Additional data, function call "
                f"`default_api:{name}` , position {index + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )


def call_parts(calls: tuple[PlannedCall, ...], model: str) -> list[dict[str, object]]:
    """Returns the calls' `functionCall` parts, the first signed where the model thinks."""
    parts: list[dict[str, object]] = []
    for call in calls:
        function: dict[str, object] = {"name": call.name, "args": call.input}
        if call.id:
            function["id"] = call.id
        parts.append({"functionCall": function})
    if parts and model.startswith(_THINKING_MODELS):
        digest = hashlib.sha256(b"".join(call.arguments.encode() for call in calls)).digest()
        parts[0]["thoughtSignature"] = base64.b64encode(digest).decode()
    return parts
