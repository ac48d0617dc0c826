"""Writes a conversation as Converse `system` and `messages` content blocks.

Each block is a one-member object (the service model's unions): text is `{"text"}`, an image
`{"image": {format, source}}` and a document `{"document": {format, name, source}}` with the
bytes as base64 (an `s3://` URL becomes `source.s3Location`; other URLs are refused: Converse
fetches nothing from the web). A CachePoint is a `{"cachePoint": {"type": "default"}}` block
of its own after the block it closes. A ReasoningPart of this provider goes back as its
`reasoningContent` block (text and signature, or `redactedContent`); another vendor's is left
out, since the model cannot verify it. A ToolCall is a `toolUse` block; a `tool` message is
user content of `toolResult` blocks (`status: "error"` when `is_error`), placed before the
turn's other blocks. Consecutive messages of one role are sent as one turn.

Refused here, before a request is sent (InvalidRequestError):

- images other than png, jpeg, gif and webp, and documents other than the nine Converse
  formats (pdf, csv, doc, docx, xls, xlsx, html, txt, md);
- images and documents outside user messages;
- parts other than text and cache points in system messages;
- a CachePoint with nothing before it.

Document names may only hold letters, digits, single spaces, hyphens, parentheses and square
brackets: a name is cleaned to that (its extension dropped, other characters turned into
hyphens), and repeated names are numbered, so `report.pdf` is sent as `report`.
"""

from __future__ import annotations

import base64
import re
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

__all__ = ["DOCUMENT_FORMATS", "IMAGE_FORMATS", "EncodedMessages", "encode_messages"]

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
CACHE_POINT: dict[str, Any] = {"cachePoint": {"type": "default"}}
MAX_DOCUMENT_NAME = 200

_NAME_OFF = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")
_SPACES = re.compile(r"\s+")


class EncodedMessages(NamedTuple):
    """The encoded conversation: system blocks, turns, and whether it holds tool blocks."""

    system: list[dict[str, Any]]
    turns: list[dict[str, Any]]
    has_tool_blocks: bool


class _State:
    """What spans the whole conversation: document names used, tool blocks seen."""

    __slots__ = ("names", "tool_blocks")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.tool_blocks = False


def encode_messages(messages: Sequence[ChatMessage], *, provider: str) -> EncodedMessages:
    """Encodes the conversation; `provider` names whose ReasoningParts are sent back."""
    state = _State()
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            _system_blocks(system, message)
            continue
        role = "user" if message.role == "tool" else message.role
        if not turns or turns[-1]["role"] != role:
            turns.append({"role": role, "content": []})
        blocks: list[dict[str, Any]] = turns[-1]["content"]
        content = message.content
        if isinstance(content, str):
            if content:
                blocks.append({"text": content})
            continue
        for part in content:
            _append(blocks, part, message.role, provider, state, turns)
    return EncodedMessages(system, turns, state.tool_blocks)


def _system_blocks(system: list[dict[str, Any]], message: ChatMessage) -> None:
    """Appends a system message's text blocks and cache points."""
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                system.append({"text": part.text})
        elif isinstance(part, CachePoint):
            if not system:
                raise InvalidRequestError(
                    "a CachePoint marks the end of the part before it, and nothing comes "
                    "before this one"
                )
            system.append(dict(CACHE_POINT))
        else:
            raise InvalidRequestError(
                f"Bedrock takes text and cache points in system messages, not {type(part).__name__}"
            )


def _append(
    blocks: list[dict[str, Any]],
    part: Part,
    role: str,
    provider: str,
    state: _State,
    turns: list[dict[str, Any]],
) -> None:
    """Appends the block of one part to its turn's blocks."""
    if isinstance(part, TextPart):
        if part.text:
            blocks.append({"text": part.text})
    elif isinstance(part, CachePoint):
        _cache_point(blocks, turns)
    elif isinstance(part, ReasoningPart):
        block = _reasoning(part, provider)
        if block is not None:
            blocks.append(block)
    elif isinstance(part, ToolCall):
        state.tool_blocks = True
        blocks.append(
            {"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.arguments}}
        )
    elif isinstance(part, ToolResult):
        state.tool_blocks = True
        result: dict[str, Any] = {
            "toolUseId": part.tool_call_id,
            "content": [{"text": part.content}],
        }
        if part.is_error:
            result["status"] = "error"
        end = 0
        while end < len(blocks) and "toolResult" in blocks[end]:
            end += 1
        blocks.insert(end, {"toolResult": result})
    elif role != "user":
        raise InvalidRequestError(
            f"Bedrock takes images and documents in user messages only, not in {role} ones"
        )
    elif isinstance(part, ImagePart):
        blocks.append(_image(part))
    elif isinstance(part, DocumentPart):
        blocks.append(_document(part, state))


def _cache_point(blocks: list[dict[str, Any]], turns: list[dict[str, Any]]) -> None:
    """Closes the block before with a cache point (the previous turn's, at a turn's start)."""
    if not blocks:
        earlier = turns[-2]["content"] if len(turns) > 1 else []
        if not earlier:
            raise InvalidRequestError(
                "a CachePoint marks the end of the part before it, and nothing comes before "
                "this one"
            )
        earlier.append(dict(CACHE_POINT))
        return
    if "cachePoint" not in blocks[-1]:
        blocks.append(dict(CACHE_POINT))


def _reasoning(part: ReasoningPart, provider: str) -> dict[str, Any] | None:
    """Returns the reasoningContent block to send back, or None for another vendor's."""
    if part.provider != provider:
        return None
    if part.redacted:
        if part.signature is None:
            raise InvalidRequestError("a redacted ReasoningPart needs the data it came with")
        return {"reasoningContent": {"redactedContent": part.signature}}
    text: dict[str, Any] = {"text": part.text}
    if part.signature is not None:
        text["signature"] = part.signature
    return {"reasoningContent": {"reasoningText": text}}


def _source(data: bytes | None, url: str | None, kind: str) -> dict[str, Any]:
    """Returns a bytes (base64) or S3 source; other URLs are refused."""
    if data is not None:
        return {"bytes": base64.b64encode(data).decode("ascii")}
    if url is not None and url.startswith("s3://"):
        return {"s3Location": {"uri": url}}
    raise InvalidRequestError(
        f"Bedrock takes {kind}s as bytes or an s3:// URL, not {url!r}: it fetches nothing "
        "from the web"
    )


def _image(part: ImagePart) -> dict[str, Any]:
    """Returns an image block; the format comes from the media type."""
    image_format = IMAGE_FORMATS.get(part.media_type or "")
    if image_format is None:
        raise InvalidRequestError(
            f"Bedrock takes images as {', '.join(IMAGE_FORMATS)}, got {part.media_type!r}"
            + (" (give ImagePart a media_type)" if part.media_type is None else "")
        )
    return {"image": {"format": image_format, "source": _source(part.data, part.url, "image")}}


def _document(part: DocumentPart, state: _State) -> dict[str, Any]:
    """Returns a document block with a name Converse accepts, unique in the request."""
    document_format = DOCUMENT_FORMATS.get(part.media_type)
    if document_format is None:
        raise InvalidRequestError(
            f"Bedrock takes documents as {', '.join(DOCUMENT_FORMATS)}, got {part.media_type!r}"
        )
    name = document_name(part.name, document_format, len(state.names) + 1)
    unique, number = name, 2
    while unique in state.names:
        unique = f"{name[: MAX_DOCUMENT_NAME - 6]} ({number})"
        number += 1
    state.names.add(unique)
    source = _source(part.data, part.url, "document")
    return {"document": {"format": document_format, "name": unique, "source": source}}


def document_name(name: str | None, document_format: str, number: int) -> str:
    """Cleans a document name to the characters Converse allows; "document-N" when none is left."""
    if name is not None:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and extension.lower() in (document_format, *DOCUMENT_FORMATS.values()):
            name = stem
        name = _SPACES.sub(" ", _NAME_OFF.sub("-", name)).strip(" -")[:MAX_DOCUMENT_NAME]
    return name or f"document-{number}"
