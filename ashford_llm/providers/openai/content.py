"""Encodes message parts as Chat Completions content, and checks OpenAI's input limits first.

A user message's parts become a content array: text parts, `image_url` parts (a URL or a
`data:` URL with the base64 bytes) and `file` parts (a PDF as a `data:` URL). System and
assistant messages take text only: their text parts are joined into the `content` string,
reasoning parts dropped (Chat Completions has no reasoning input). `CachePoint` is ignored:
OpenAI caches prompt prefixes automatically. With `breakpoints` (the dialect's
`cache_breakpoints` option, for GPT-5.6 and later) a CachePoint instead marks the part before
it with `"prompt_cache_breakpoint": {"mode": "explicit"}` in user and system messages (a
system message then keeps its text parts as an array); assistant turns never carry one.

What OpenAI documents it refuses is refused here, before anything is sent, as an
InvalidRequestError naming the limit (the library never downloads a URL to find out more):

- images: PNG, JPEG, WEBP or GIF; at most 1,500 per request and 512 MB of request payload
  (the images-vision guide; older versions said 500 images and 50 MB, and 20 MB per image,
  which the current guide no longer states);
- documents: PDF only, by bytes only (Chat Completions takes no file URL), each under 50 MB
  and 50 MB for all files of a request (the file-inputs guide);
- images and documents only in user messages (the SDK's system, developer and assistant
  message types take text parts only).

MB is counted as 2**20 bytes, the lenient reading.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from ashford_llm.errors import InvalidRequestError
from ashford_llm.types import (
    CachePoint,
    ChatMessage,
    DocumentPart,
    ImagePart,
    Part,
    TextPart,
)

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "MAX_FILE_BYTES",
    "MAX_IMAGES",
    "MAX_PAYLOAD_BYTES",
    "MediaTally",
    "check_payload",
    "encode_parts",
]

IMAGE_MEDIA_TYPES = frozenset(("image/png", "image/jpeg", "image/webp", "image/gif"))
"""The image media types OpenAI accepts (non-animated GIF only)."""
MAX_IMAGES = 1500
"""Images per request (images-vision guide)."""
MAX_PAYLOAD_BYTES = 512 * 2**20
"""The request payload with images (images-vision guide: 512 MB)."""
MAX_FILE_BYTES = 50 * 2**20
"""One PDF, and all PDFs of a request together (file-inputs guide: 50 MB)."""

_PDF = "application/pdf"


class MediaTally:
    """Counts the images and PDF bytes of one request, to check the per-request limits."""

    __slots__ = ("file_bytes", "images")

    def __init__(self) -> None:
        self.images = 0
        self.file_bytes = 0


def _refuse(message: str) -> InvalidRequestError:
    """Builds the error for a part OpenAI would refuse, before anything is sent."""
    return InvalidRequestError(f"OpenAI Chat Completions: {message}")


def _data_url(media_type: str, data: bytes) -> str:
    """Returns `data:<media type>;base64,<data>`."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _image(part: ImagePart, where: str, tally: MediaTally) -> dict[str, Any]:
    """Encodes an image part, checking its media type and the image count."""
    media_type = part.media_type
    if media_type is not None and media_type not in IMAGE_MEDIA_TYPES:
        raise _refuse(
            f"{where} is {media_type}; OpenAI takes PNG, JPEG, WEBP or non-animated GIF images"
        )
    tally.images += 1
    if tally.images > MAX_IMAGES:
        raise _refuse(f"more than {MAX_IMAGES} images in one request (OpenAI's limit)")
    if part.data is None:
        return {"type": "image_url", "image_url": {"url": part.url}}
    if media_type is None:
        raise _refuse(
            f"cannot tell the media type of the image bytes in {where}: pass media_type "
            "(OpenAI takes PNG, JPEG, WEBP or GIF)"
        )
    return {"type": "image_url", "image_url": {"url": _data_url(media_type, part.data)}}


def _document(part: DocumentPart, where: str, tally: MediaTally) -> dict[str, Any]:
    """Encodes a PDF as a `file` part, checking its type, source and size."""
    if part.media_type != _PDF:
        raise _refuse(f"{where} is {part.media_type}; file parts take PDF documents only")
    if part.data is None:
        raise _refuse(
            f"{where} is given by URL, which Chat Completions does not take (only the "
            "Responses API does); pass the PDF's bytes (the library never downloads URLs)"
        )
    size = len(part.data)
    if size >= MAX_FILE_BYTES:
        raise _refuse(f"{where} is {size} bytes; each PDF must be under 50 MB")
    tally.file_bytes += size
    if tally.file_bytes > MAX_FILE_BYTES:
        raise _refuse("the PDFs of one request exceed 50 MB together (OpenAI's limit)")
    return {
        "type": "file",
        "file": {"filename": part.name or "document.pdf", "file_data": _data_url(_PDF, part.data)},
    }


def encode_parts(
    message: ChatMessage,
    parts: Sequence[Part],
    index: int,
    tally: MediaTally,
    *,
    breakpoints: bool = False,
) -> str | list[dict[str, Any]]:
    """Encodes a message's parts: a user message's as a content array, others' as text."""
    if message.role != "user":
        for position, part in enumerate(parts):
            if isinstance(part, ImagePart | DocumentPart):
                raise _refuse(
                    f"messages[{index}].content[{position}] is an attachment in a "
                    f"{message.role} message; images and documents go in user messages only"
                )
        if message.role == "system" and breakpoints and any(type(p) is CachePoint for p in parts):
            return _marked([p for p in parts if type(p) is TextPart or type(p) is CachePoint])
        return message.text
    content: list[dict[str, Any]] = []
    for position, part in enumerate(parts):
        if type(part) is TextPart:
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append(_image(part, f"messages[{index}].content[{position}]", tally))
        elif isinstance(part, DocumentPart):
            content.append(_document(part, f"messages[{index}].content[{position}]", tally))
        elif breakpoints and type(part) is CachePoint and content:
            content[-1]["prompt_cache_breakpoint"] = {"mode": "explicit"}
        # Otherwise a CachePoint is left to OpenAI's automatic caching.
    return content


def _marked(parts: Sequence[Part]) -> list[dict[str, Any]]:
    """Encodes a system message's text parts with a breakpoint after each CachePoint's part."""
    content: list[dict[str, Any]] = []
    for part in parts:
        if type(part) is TextPart:
            content.append({"type": "text", "text": part.text})
        elif content:
            content[-1]["prompt_cache_breakpoint"] = {"mode": "explicit"}
    return content


def check_payload(body: bytes) -> None:
    """Refuses a request body with attachments over OpenAI's payload limit."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise _refuse(
            f"the request is {len(body)} bytes with its attachments; OpenAI takes at most "
            "512 MB per request"
        )
