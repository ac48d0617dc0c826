"""Gemini request content: parts (media, thoughts and signatures), their limits, thinkingConfig.

An image or document with bytes becomes `inlineData` (base64, which msgspec writes for bytes),
with a URL `fileData`; both need a media type Gemini accepts. Inline data is limited to 100 MB
per request (base64-encoded; raised from 20 MB in January 2026) and a PDF to 50 MB, checked
before anything is sent; the limits are read from the module at call time, so they stay data.
A ReasoningPart of this provider goes back as a thought part with its `thoughtSignature`; a
text-less one (how `decode` keeps a signature Gemini put on a text part) becomes the signature
of the part after it, or an empty text part when nothing follows, so an answer's parts sent
back round-trip exactly. Other providers' reasoning is dropped: Gemini cannot read it.

A ToolCall goes back as a `functionCall` part with its own `thoughtSignature` when it is this
provider's (Gemini 3 rejects a turn whose call lost it; another vendor's call has none to send).
A ToolResult becomes a `functionResponse` part whose `response` is `{"result": content}` or,
for an error, `{"error": content}` (the keys the official SDK's automatic function calling
sends); its name, when the result does not give one, is the matching call's from the history.
Ids generated for calls Gemini sent without one are not sent back (Gemini never made them);
any other id is, on the call and on its response.

Tools are `functionDeclarations` with `parametersJsonSchema`, which takes a JSON Schema (the
other field, `parameters`, takes Google's OpenAPI-subset Schema with upper-case types; the two
are mutually exclusive: python-genai `types.FunctionDeclaration`). Gemini has no strict flag and
no parallel-calls flag: `Tool.strict` and `parallel_tool_calls` send nothing. `tool_choice` is
`toolConfig.functionCallingConfig.mode`: "auto" is Gemini's default (AUTO) and sends nothing,
"none" is NONE, "required" ANY, and a tool's name ANY with `allowedFunctionNames` [that name].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ashford_llm.errors import InvalidRequestError
from ashford_llm.providers.google.decode import GENERATED_ID_PREFIX
from ashford_llm.types import (
    ChatMessage,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningConfig,
    ReasoningPart,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
)

__all__ = [
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "INLINE_LIMIT",
    "MIB",
    "PDF_INLINE_LIMIT",
    "THINKING_BUDGETS",
    "THINKING_LEVELS",
    "check_system",
    "encode_parts",
    "encode_tools",
    "thinking_config",
    "uses_thinking_levels",
]

MIB: Final = 1024 * 1024
INLINE_LIMIT: Final = 100 * MIB
"""Inline data per request, base64-encoded (raised from 20 MB in January 2026)."""
PDF_INLINE_LIMIT: Final = 50 * MIB
"""One PDF sent inline, in bytes."""
IMAGE_TYPES: Final = frozenset(
    ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
)
DOCUMENT_TYPES: Final = frozenset(
    (
        "application/pdf",
        "text/plain",
        "text/html",
        "text/css",
        "text/csv",
        "text/xml",
        "text/rtf",
        "text/md",
        "text/markdown",
        "text/javascript",
        "application/x-javascript",
        "text/x-python",
        "application/x-python",
    )
)
"""PDFs are read as pages; the text types as plain text (Gemini's document understanding)."""

THINKING_BUDGETS: Final[dict[str, int]] = {
    "none": 0,
    "minimal": 512,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
}
"""Effort -> thinkingBudget for the models that take a budget (Gemini 2.5 and older).

512 is Flash-Lite's smallest budget and 24576 Flash's largest; 2.5 Pro cannot turn thinking off
and answers "none" (budget 0) with a 400.
"""
THINKING_LEVELS: Final[dict[str, str]] = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
}
"""Effort -> thinkingLevel for Gemini 3 and later, which cannot turn thinking off: "none" asks
for the least. A level a model does not offer (3 Pro: LOW and HIGH only) is the vendor's 400."""
_BUDGET_MODELS = ("gemini-1", "gemini-2")


def uses_thinking_levels(model: str) -> bool:
    """True for models that take a thinkingLevel (Gemini 3 and later, and aliases)."""
    return not model.removeprefix("models/").startswith(_BUDGET_MODELS)


def _base64_size(size: int) -> int:
    """Returns the length of `size` bytes in base64."""
    return (size + 2) // 3 * 4


def thinking_config(reasoning: ReasoningConfig, *, levels: bool) -> dict[str, Any]:
    """Maps a ReasoningConfig to Gemini's thinkingConfig (empty when it asks for nothing)."""
    config: dict[str, Any] = {}
    if reasoning.include_text:
        config["includeThoughts"] = True
    if reasoning.budget_tokens is not None:
        config["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort is not None:
        if levels:
            config["thinkingLevel"] = THINKING_LEVELS[reasoning.effort]
        else:
            config["thinkingBudget"] = THINKING_BUDGETS[reasoning.effort]
    return config


def encode_parts(
    message: ChatMessage, *, provider: str, inline: list[int], names: dict[str, str]
) -> list[dict[str, Any]]:
    """Encodes a user, model or tool turn's parts; `inline` counts the base64 bytes sent so far.

    `provider` is the dialect's name: only ReasoningParts and signatures of that provider are
    sent back. `names` maps the ids of the calls seen so far to their names (calls add to it,
    results read it).
    """
    parts: list[dict[str, Any]] = []
    signature: str | None = None  # a text-less ReasoningPart's, for the next part
    for part in message.parts:
        if type(part) is TextPart:
            item: dict[str, Any] = {"text": part.text}
        elif type(part) is ImagePart or type(part) is DocumentPart:
            item = _media(part, inline)
        elif type(part) is ReasoningPart:
            if part.provider != provider:
                continue  # another vendor's thinking: Gemini cannot read it
            if not part.text:
                if signature is not None:
                    parts.append({"text": "", "thoughtSignature": signature})
                signature = part.signature
                continue
            item = {"text": part.text, "thought": True}
            if part.signature is not None:
                if signature is not None:
                    parts.append({"text": "", "thoughtSignature": signature})
                    signature = None
                item["thoughtSignature"] = part.signature
        elif type(part) is ToolCall:
            names[part.id] = part.name
            item = {"functionCall": _function_call(part)}
            if part.signature is not None and part.provider == provider:
                if signature is not None:
                    parts.append({"text": "", "thoughtSignature": signature})
                    signature = None
                item["thoughtSignature"] = part.signature
        elif type(part) is ToolResult:
            item = {"functionResponse": _function_response(part, names)}
        else:  # CachePoint: Gemini caches implicitly
            continue
        if signature is not None:
            item["thoughtSignature"] = signature
            signature = None
        parts.append(item)
    if signature is not None:
        parts.append({"text": "", "thoughtSignature": signature})
    return parts


def _function_call(call: ToolCall) -> dict[str, Any]:
    """Encodes a call as Gemini's functionCall, with its id unless this library made it."""
    encoded: dict[str, Any] = {"name": call.name, "args": call.arguments}
    if not call.id.startswith(GENERATED_ID_PREFIX):
        encoded["id"] = call.id
    return encoded


def _function_response(result: ToolResult, names: dict[str, str]) -> dict[str, Any]:
    """Encodes a result as Gemini's functionResponse, naming the function it answers."""
    name = result.name or names.get(result.tool_call_id)
    if name is None:
        raise InvalidRequestError(
            f"Gemini needs the function name of tool result {result.tool_call_id!r}: no call "
            "with that id precedes it in the conversation; give ToolResult name"
        )
    key = "error" if result.is_error else "result"
    encoded: dict[str, Any] = {"name": name, "response": {key: result.content}}
    if not result.tool_call_id.startswith(GENERATED_ID_PREFIX):
        encoded["id"] = result.tool_call_id
    return encoded


_TOOL_MODES: Final = {"none": "NONE", "required": "ANY"}


def encode_tools(tools: Sequence[Tool], choice: str) -> dict[str, Any]:
    """Returns the body's `tools` and `toolConfig` for a request's tools and tool choice."""
    declarations: list[dict[str, Any]] = []
    for tool in tools:
        if not (tool.name[0].isalpha() or tool.name[0] == "_"):
            raise InvalidRequestError(
                f"Gemini function names must start with a letter or '_', got {tool.name!r}"
            )
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        declaration["parametersJsonSchema"] = tool.schema
        declarations.append(declaration)
    body: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if choice != "auto":
        mode = _TOOL_MODES.get(choice)
        config: dict[str, Any] = (
            {"mode": mode} if mode else {"mode": "ANY", "allowedFunctionNames": [choice]}
        )
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


def check_system(parts: tuple[Part, ...]) -> None:
    """Refuses images and documents in a system message (Gemini takes text there only)."""
    for part in parts:
        if type(part) is ImagePart or type(part) is DocumentPart:
            raise InvalidRequestError(
                "Gemini takes only text in system instructions: put images and documents "
                "in a user message"
            )


def _media(part: ImagePart | DocumentPart, inline: list[int]) -> dict[str, Any]:
    """Encodes an image or document as inlineData or fileData, checking type and size."""
    kind = "image" if type(part) is ImagePart else "document"
    media_type = part.media_type
    if media_type is None:
        raise InvalidRequestError(
            f"Gemini needs the media type of every {kind}: give media_type "
            f"(one of {', '.join(sorted(IMAGE_TYPES))})"
        )
    accepted = IMAGE_TYPES if kind == "image" else DOCUMENT_TYPES
    if media_type not in accepted:
        raise InvalidRequestError(
            f"Gemini does not take {kind}s of type {media_type!r}; "
            f"it takes {', '.join(sorted(accepted))}"
        )
    if part.data is None:
        return {"fileData": {"mimeType": media_type, "fileUri": part.url}}
    size = len(part.data)
    if media_type == "application/pdf" and size > PDF_INLINE_LIMIT:
        raise InvalidRequestError(
            f"Gemini takes PDFs of at most {PDF_INLINE_LIMIT // MIB} MB inline, this one has "
            f"{size:,} bytes: pass it by URL instead"
        )
    inline[0] += _base64_size(size)
    if inline[0] > INLINE_LIMIT:
        raise InvalidRequestError(
            f"Gemini takes at most {INLINE_LIMIT // MIB} MB of inline data per request "
            f"(base64-encoded), this request has {inline[0]:,} bytes of it: pass large "
            "files by URL instead"
        )
    # msgspec encodes bytes as standard base64, which is what inlineData.data holds.
    return {"inlineData": {"mimeType": media_type, "data": part.data}}
