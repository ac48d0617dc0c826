"""Gemini request content: parts (media, thoughts and signatures), their limits, thinkingConfig.

An image or document with bytes becomes `inlineData` (base64, which msgspec writes for bytes),
with a URL `fileData`; both need a media type Gemini accepts. Inline data is limited to 100 MB
per request (base64-encoded; raised from 20 MB in January 2026) and a PDF to 50 MB, checked
before anything is sent; the limits are read from the module at call time, so they stay data.
A ReasoningPart of this provider goes back as a thought part with its `thoughtSignature`; a
text-less one (how `decode` keeps a signature Gemini put on a text part) becomes the signature
of the part after it, or an empty text part when nothing follows, so an answer's parts sent
back round-trip exactly. Other providers' reasoning is dropped: Gemini cannot read it.
"""

from __future__ import annotations

from typing import Any, Final

from ashford_llm.errors import InvalidRequestError
from ashford_llm.types import (
    ChatMessage,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningConfig,
    ReasoningPart,
    TextPart,
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


def encode_parts(message: ChatMessage, *, provider: str, inline: list[int]) -> list[dict[str, Any]]:
    """Encodes a user or model turn's parts; `inline` counts the base64 bytes sent so far.

    `provider` is the dialect's name: only ReasoningParts of that provider are sent back.
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
        else:  # CachePoint: Gemini caches implicitly
            continue
        if signature is not None:
            item["thoughtSignature"] = signature
            signature = None
        parts.append(item)
    if signature is not None:
        parts.append({"text": "", "thoughtSignature": signature})
    return parts


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
