"""Opt-in message content for Tracing: the capture mode and the conventions' message shapes.

Parts follow the GenAI input and output message schemas: text as `{"type": "text"}`, a
model's thinking as `{"type": "reasoning"}`, an image or document sent by URL as
`{"type": "uri"}`. An attachment sent as bytes becomes a `{"type": "blob"}` part whose
`content` is only a placeholder ("<N bytes>"): the conventions would carry the bytes as
base64, but a span is no place for an e-mail's attachments, so neither the bytes nor their
base64 ever reach a span or an event (a `data:` URL counts as bytes). A CachePoint is a
request option, not content, and is left out.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ashford_llm.middleware import _semconv as sc
from ashford_llm.types import (
    ChatMessage,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
)

__all__ = [
    "CaptureMode",
    "content_attributes",
    "input_content",
    "output_content",
    "resolve_capture_mode",
    "tool_definitions",
]

# Providers that send system messages apart from the chat history: for them the conventions
# put system text in gen_ai.system_instructions, not in gen_ai.input.messages.
_SEPARATE_SYSTEM = frozenset(("anthropic", "gcp.gemini"))

_ENCODER = msgspec.json.Encoder()


class CaptureMode(enum.Enum):
    """Where message content goes: nowhere, the span, the details event, or both."""

    NO_CONTENT = "no_content"
    SPAN_ONLY = "span_only"
    EVENT_ONLY = "event_only"
    SPAN_AND_EVENT = "span_and_event"

    @property
    def on_span(self) -> bool:
        """True when content is recorded as span attributes."""
        return self in (CaptureMode.SPAN_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        """True when content is emitted on the inference details event."""
        return self in (CaptureMode.EVENT_ONLY, CaptureMode.SPAN_AND_EVENT)


def resolve_capture_mode(
    option: bool | str | None, environ: Mapping[str, str] | None = None
) -> CaptureMode:
    """Returns the mode from the constructor option, else from the environment variable.

    The option takes True (span_only), False (off) or a mode name and rejects anything else;
    the variable takes a mode name or "true" (span_only), and anything else means off.
    """
    if isinstance(option, bool):
        return CaptureMode.SPAN_ONLY if option else CaptureMode.NO_CONTENT
    if isinstance(option, str):
        try:
            return CaptureMode(option.strip().lower())
        except ValueError:
            names = ", ".join(mode.value for mode in CaptureMode)
            raise ValueError(
                f"capture_content must be a bool or one of {names}, got {option!r}"
            ) from None
    if option is not None:
        raise TypeError(f"capture_content must be a bool, a mode name or None, got {option!r}")
    value = (os.environ if environ is None else environ).get(sc.CAPTURE_CONTENT_ENV, "")
    value = value.strip().lower()
    if value == "true":
        return CaptureMode.SPAN_ONLY
    try:
        return CaptureMode(value)
    except ValueError:
        return CaptureMode.NO_CONTENT


def _text_parts(text: str) -> list[dict[str, str]]:
    """Returns one text part in the conventions' shape."""
    return [{"type": "text", "content": text}]


def _parts(content: str | tuple[Part, ...]) -> list[dict[str, Any]]:
    """Returns a message's parts in the conventions' shape, attachments as placeholders."""
    if type(content) is str:
        return _text_parts(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "content": part.text})
        elif isinstance(part, ReasoningPart):
            parts.append({"type": "reasoning", "content": part.text})
        elif isinstance(part, ImagePart | DocumentPart):
            parts.append(_attachment(part))
        elif isinstance(part, ToolCall):
            parts.append(
                {"type": "tool_call", "id": part.id, "name": part.name, "arguments": part.arguments}
            )
        elif isinstance(part, ToolResult):
            parts.append(
                {"type": "tool_call_response", "id": part.tool_call_id, "response": part.content}
            )
    return parts


def _attachment(part: ImagePart | DocumentPart) -> dict[str, Any]:
    """Returns an attachment as a `uri` part, or a `blob` part with a size placeholder."""
    modality = "image" if isinstance(part, ImagePart) else "document"
    url = part.url
    if url is not None and not url.startswith("data:"):
        return {"type": "uri", "modality": modality, "mime_type": part.media_type, "uri": url}
    size = len(part.data) if part.data is not None else _data_url_size(url or "")
    return {
        "type": "blob",
        "modality": modality,
        "mime_type": part.media_type,
        "content": f"<{size} bytes>",
    }


def _data_url_size(url: str) -> int:
    """Returns the size of a `data:` URL's payload (decoded size when it is base64)."""
    header, _, payload = url.partition(",")
    if header.endswith(";base64"):
        payload = payload.rstrip("=")
        return len(payload) * 3 // 4
    return len(payload)


def input_content(
    messages: Sequence[ChatMessage], provider_name: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Returns gen_ai.input.messages (and gen_ai.system_instructions) as structured values."""
    separate = provider_name in _SEPARATE_SYSTEM
    chat = [
        {"role": m.role, "parts": _parts(m.content)}
        for m in messages
        if not (separate and m.role == "system")
    ]
    content: dict[str, list[dict[str, Any]]] = {sc.INPUT_MESSAGES: chat}
    if separate:
        system = [part for m in messages if m.role == "system" for part in _parts(m.content)]
        if system:
            content[sc.SYSTEM_INSTRUCTIONS] = system
    return content


def output_content(
    parts: Sequence[Part], finish_reason: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Returns gen_ai.output.messages for one assistant answer (its reasoning and text parts,
    in order: a response's `parts`, or what a stream delivered) as a structured value."""
    message: dict[str, Any] = {"role": "assistant", "parts": _parts(tuple(parts))}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return {sc.OUTPUT_MESSAGES: [message]}


def tool_definitions(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """Returns gen_ai.tool.definitions: each offered tool's type, name, description and
    parameters (the conventions' ToolDefinition)."""
    return [
        {
            "type": sc.TOOL_TYPE_FUNCTION,
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.schema,
        }
        for tool in tools
    ]


def content_attributes(structured: Mapping[str, Any]) -> dict[str, str]:
    """Serializes structured content to the JSON strings spans carry."""
    return {key: _ENCODER.encode(value).decode() for key, value in structured.items()}
