"""Writes message parts as Anthropic content blocks, checking the documented limits first.

Text becomes `text` blocks, images `image` blocks and documents `document` blocks (base64 or
URL sources); a ReasoningPart of this provider goes back as its `thinking` (or
`redacted_thinking`) block, and one from another vendor is left out, since Anthropic cannot
verify it. A CachePoint puts `cache_control: {"type": "ephemeral"}` on the block before it.
A ToolCall of an assistant message becomes its `tool_use` block (after the turn's thinking, as
the parts come); a `tool` message becomes user content of `tool_result` blocks (`is_error` when
set), merged with the neighbouring tool and user messages into one user turn that begins with
the results, since Anthropic wants every result of an assistant turn at the start of the next
message.
Anything Anthropic would refuse is an InvalidRequestError here, before a request is sent:

- image media types other than image/jpeg, image/png, image/gif, image/webp;
- an image over 5 MB of base64 (5,242,880 characters, the API's per-image limit);
- more than 100 images in one request: the limit of models with a 200k-token window (the
  others take 600; the smaller number is used for every model, so no model rejects it);
- documents other than application/pdf (base64 or URL) and text/plain (inline);
- images and documents outside user messages (a document in an assistant turn is a 400);
- more than 4 cache breakpoints, or a CachePoint with no block before it.

The 32 MB request limit is checked on the encoded body by the dialect.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, NamedTuple

from ashford_llm.errors import InvalidRequestError
from ashford_llm.types import (
    CachePoint,
    ChatMessage,
    DocumentPart,
    ImagePart,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
)

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "MAX_CACHE_POINTS",
    "MAX_IMAGES",
    "MAX_IMAGE_BASE64",
    "MAX_REQUEST_BYTES",
    "EncodedMessages",
    "encode_messages",
]

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGES = 100
MAX_IMAGE_BASE64 = 5 * 1024 * 1024
MAX_REQUEST_BYTES = 32_000_000
MAX_CACHE_POINTS = 4

_EPHEMERAL = {"type": "ephemeral"}


class EncodedMessages(NamedTuple):
    """The encoded conversation: system text blocks, whether one is a breakpoint, turns."""

    system: list[dict[str, Any]]
    system_cached: bool
    turns: list[dict[str, Any]]


class _Tally:
    """Counts what the request-wide limits are about: images and cache breakpoints."""

    __slots__ = ("breakpoints", "images")

    def __init__(self) -> None:
        self.images = 0
        self.breakpoints = 0


def encode_messages(messages: Sequence[ChatMessage], *, provider: str) -> EncodedMessages:
    """Encodes messages whose content may be parts; consecutive same-role turns are merged.

    `provider` is the dialect's name: only ReasoningParts carrying it are sent back.
    """
    tally = _Tally()
    system: list[dict[str, Any]] = []
    system_cached = False
    turns: list[dict[str, Any]] = []
    for message in messages:
        content = message.content
        if message.role == "system":
            if isinstance(content, str):
                system.append({"type": "text", "text": content})
            elif any(type(part) is CachePoint for part in content):
                _append_parts(system, content, "system", provider, tally)
                system_cached = True
            elif all(type(part) is TextPart for part in content):
                system.append({"type": "text", "text": message.text})
            else:
                _append_parts([], content, "system", provider, tally)  # raises for media
            continue
        role = "user" if message.role == "tool" else message.role
        if turns and turns[-1]["role"] == role:
            blocks = _blocks_of(turns[-1])
        elif type(content) is str:
            turns.append({"role": role, "content": content})
            continue
        else:
            blocks = []
            turns.append({"role": role, "content": blocks})
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        else:
            _append_parts(blocks, content, message.role, provider, tally, turns=turns)
    return EncodedMessages(system, system_cached, turns)


def _blocks_of(turn: dict[str, Any]) -> list[dict[str, Any]]:
    """Returns a turn's content as a list of blocks, turning a string into one text block."""
    content = turn["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
        turn["content"] = content
    blocks: list[dict[str, Any]] = content
    return blocks


def _append_parts(
    blocks: list[dict[str, Any]],
    parts: Sequence[Part],
    role: str,
    provider: str,
    tally: _Tally,
    *,
    turns: list[dict[str, Any]] | None = None,
) -> None:
    """Appends the blocks of one message's parts; `turns` lets a CachePoint mark a turn before."""
    for part in parts:
        if isinstance(part, TextPart):
            blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, CachePoint):
            _mark(blocks, turns, tally)
        elif isinstance(part, ReasoningPart):
            block = _thinking(part, provider)
            if block is not None:
                blocks.append(block)
        elif isinstance(part, ToolCall):
            blocks.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
            )
        elif isinstance(part, ToolResult):
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.tool_call_id,
                "content": part.content,
            }
            if part.is_error:
                result["is_error"] = True
            blocks.insert(_results_end(blocks), result)
        elif role != "user":
            raise InvalidRequestError(
                f"Anthropic takes images and documents in user messages only, not in {role} ones"
            )
        elif isinstance(part, ImagePart):
            tally.images += 1
            if tally.images > MAX_IMAGES:
                raise InvalidRequestError(
                    f"Anthropic takes at most {MAX_IMAGES} images per request (the limit of "
                    "models with a 200k-token window)"
                )
            blocks.append(_image(part))
        elif isinstance(part, DocumentPart):
            blocks.append(_document(part))


def _results_end(blocks: list[dict[str, Any]]) -> int:
    """Where the next tool_result goes: after the turn's leading results, before its text.

    Anthropic wants a turn after tool calls to begin with their results.
    """
    end = 0
    while end < len(blocks) and blocks[end]["type"] == "tool_result":
        end += 1
    return end


def _mark(blocks: list[dict[str, Any]], turns: list[dict[str, Any]] | None, tally: _Tally) -> None:
    """Puts cache_control on the block before a CachePoint (the previous turn's, at a start)."""
    if blocks:
        target = blocks[-1]
    else:
        earlier = turns[-2] if turns is not None and len(turns) > 1 else None
        earlier_blocks = _blocks_of(earlier) if earlier is not None else []
        if not earlier_blocks:
            raise InvalidRequestError(
                "a CachePoint marks the end of the part before it, and nothing comes before "
                "this one"
            )
        target = earlier_blocks[-1]
    if target["type"] in ("thinking", "redacted_thinking"):
        raise InvalidRequestError(
            "a CachePoint cannot follow a ReasoningPart: Anthropic takes no cache_control on "
            "thinking blocks"
        )
    if "cache_control" in target:
        return
    tally.breakpoints += 1
    if tally.breakpoints > MAX_CACHE_POINTS:
        raise InvalidRequestError(
            f"Anthropic takes at most {MAX_CACHE_POINTS} cache breakpoints (CachePoint) per "
            f"request, got {tally.breakpoints}"
        )
    target["cache_control"] = dict(_EPHEMERAL)


def _thinking(part: ReasoningPart, provider: str) -> dict[str, Any] | None:
    """Returns the thinking block to send back, or None for another vendor's reasoning."""
    if part.provider != provider:
        return None
    if part.signature is None:
        raise InvalidRequestError(
            "a ReasoningPart sent back to Anthropic needs the signature it came with"
        )
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.signature}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def _image(part: ImagePart) -> dict[str, Any]:
    """Returns an image block with a base64 or URL source."""
    media_type = part.media_type
    if media_type is not None and media_type not in IMAGE_MEDIA_TYPES:
        raise InvalidRequestError(
            f"Anthropic takes images as {', '.join(IMAGE_MEDIA_TYPES)}, got {media_type!r}"
        )
    if part.data is None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    if media_type is None:
        raise InvalidRequestError(
            "the image's media type could not be told from its bytes; give ImagePart a "
            f"media_type (Anthropic takes {', '.join(IMAGE_MEDIA_TYPES)})"
        )
    size = 4 * ((len(part.data) + 2) // 3)
    if size > MAX_IMAGE_BASE64:
        raise InvalidRequestError(
            f"an image is {size} bytes in base64, over Anthropic's 5 MB limit per image "
            f"({MAX_IMAGE_BASE64} bytes)"
        )
    data = base64.b64encode(part.data).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document(part: DocumentPart) -> dict[str, Any]:
    """Returns a document block: a PDF (base64 or URL) or plain text, titled by its name."""
    media_type = part.media_type
    source: dict[str, Any]
    if media_type == "application/pdf":
        if part.data is None:
            source = {"type": "url", "url": part.url}
        else:
            data = base64.b64encode(part.data).decode("ascii")
            source = {"type": "base64", "media_type": media_type, "data": data}
    elif media_type == "text/plain":
        if part.data is None:
            raise InvalidRequestError(
                "Anthropic takes text/plain documents inline only, not by URL"
            )
        try:
            text = part.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError("a text/plain document must be UTF-8 text") from exc
        source = {"type": "text", "media_type": media_type, "data": text}
    else:
        raise InvalidRequestError(
            f"Anthropic takes documents as application/pdf or text/plain, got {media_type!r}"
        )
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.name is not None:
        block["title"] = part.name
    return block
