"""Input-token estimates for images and documents, by each vendor's documented counting.

RateLimit charges a request's input tokens before the call, so an attachment needs an
estimate that does not depend on the length of its bytes (a 1 MB PNG is not 350,000
tokens). The vendors document how they count; these are the figures used, all estimates:

| part                     | Anthropic       | OpenAI            | Gemini           |
| ------------------------ | --------------- | ----------------- | ---------------- |
| image of w x h px        | w*h/750 (1)     | 85 + 170/tile (2) | 258 per tile (3) |
| image of unknown size    | 1,600 (1)       | 1,445 (2)         | 1,032 (4)        |
| PDF page                 | 3,000 (5)       | 1,500 (6)         | 258 (7)          |
| PDF by URL               | 10 pages' worth | 10 pages' worth   | 10 pages' worth  |
| other document (text...) | 1 per 4 bytes   | 1 per 4 bytes     | 1 per 4 bytes    |

(1) Anthropic vision guide: tokens = w*h/750, after scaling the long edge down to 1568 px
    and the area to about 1.15 MP, so at most about 1,600; a URL or unreadable header is
    charged that cap.
(2) OpenAI images and vision guide, "calculating costs" (detail high): scale to fit
    2048 x 2048, then the short side down to 768 px; 85 + 170 per 512 px tile. At most 8
    tiles, so an image of unknown size is charged 1,445.
(3) Gemini token counting guide: 258 when both sides are <= 384 px, else 258 per
    768 x 768 tile.
(4) Our assumption: 4 tiles (a 1536 x 1536 image); Gemini has no documented cap.
(5) Anthropic PDF support guide: 1,500 to 3,000 text tokens per page plus the page as an
    image; we take the top of the range.
(6) OpenAI file inputs guide: each page's extracted text plus an image of it; our estimate
    (a 768 x 994 page image is 765 tokens at detail high, plus a page of text).
(7) Gemini document understanding guide: 258 per page.

Pages are counted without parsing: the `/Type /Page` objects in the file (capped at 1,000),
else its largest `/Count`, else one page (a PDF whose page tree sits in a compressed object
stream shows neither). Newer models count differently in places (Anthropic's newest bill
28 x 28 px patches, OpenAI's mini models 32 px patches with a multiplier, Gemini 3 a
`media_resolution` budget): the figures above are the documented baseline, and RateLimit
settles every charge against the vendor's real usage after the call. A terminal of no
known vendor is charged the largest of the three rules, so an estimate errs high.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Literal, TypeAlias

from ashford_llm.protocol import ProviderInfo
from ashford_llm.types import DocumentPart, ImagePart

__all__ = ["Vendor", "document_tokens", "image_size", "image_tokens", "pdf_pages", "vendor_of"]

Vendor: TypeAlias = Literal["anthropic", "openai", "gemini"]

_VENDORS: dict[str, Vendor] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "gcp.gemini": "gemini",
    "gcp.gen_ai": "gemini",
    "gcp.vertex_ai": "gemini",
    "google": "gemini",
    "gemini": "gemini",
}

# Anthropic: images are scaled to a 1568 px long edge and about 1.15 megapixels.
_ANTHROPIC_MAX_EDGE = 1568
_ANTHROPIC_MAX_PIXELS = 1_200_000  # 1600 tokens * 750 px per token
_ANTHROPIC_PX_PER_TOKEN = 750
# OpenAI, detail high.
_OPENAI_BASE = 85
_OPENAI_PER_TILE = 170
_OPENAI_FIT = 2048
_OPENAI_SHORT_SIDE = 768
_OPENAI_TILE = 512
# Gemini.
_GEMINI_PER_TILE = 258
_GEMINI_SMALL = 384
_GEMINI_TILE = 768

_UNKNOWN_IMAGE: dict[Vendor, int] = {"anthropic": 1600, "openai": 1445, "gemini": 1032}
_PER_PAGE: dict[Vendor, int] = {"anthropic": 3000, "openai": 1500, "gemini": 258}
_URL_DOCUMENT_PAGES = 10
_MAX_PAGES = 1000

_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_COUNT = re.compile(rb"/Count\s+(\d{1,7})")


def vendor_of(info: ProviderInfo) -> Vendor | None:
    """Returns the vendor whose counting rules apply to a terminal, None when unknown."""
    return _VENDORS.get(info.otel_provider_name or "") or _VENDORS.get(info.name)


def image_tokens(part: ImagePart, vendor: Vendor | None) -> int:
    """Estimates an image's input tokens from its pixel size, by the vendor's rule."""
    if vendor is None:
        return max(image_tokens(part, known) for known in _PER_PAGE)
    size = image_size(part.data) if part.data is not None else None
    if size is None:
        return _UNKNOWN_IMAGE[vendor]
    width, height = size
    if vendor == "anthropic":
        return _anthropic_image(width, height)
    if vendor == "openai":
        return _openai_image(width, height)
    return _gemini_image(width, height)


def document_tokens(part: DocumentPart, vendor: Vendor | None) -> int:
    """Estimates a document's input tokens: pages times the vendor's per-page figure."""
    if vendor is None:
        return max(document_tokens(part, known) for known in _PER_PAGE)
    if part.data is None:
        return _URL_DOCUMENT_PAGES * _PER_PAGE[vendor]
    if part.media_type != "application/pdf":
        return math.ceil(len(part.data) / 4)
    return pdf_pages(part.data) * _PER_PAGE[vendor]


def pdf_pages(data: bytes) -> int:
    """Counts a PDF's pages cheaply (page objects, else the page tree's count), at least 1."""
    pages = len(_PAGE.findall(data))
    if not pages:
        pages = max((int(count) for count in _COUNT.findall(data)), default=1)
    return min(max(pages, 1), _MAX_PAGES)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Reads (width, height) from a PNG, GIF, WebP or JPEG header; None if unreadable."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
        elif data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        elif data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
        else:
            return None
    except struct.error:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Reads a WebP's size from its first chunk (VP8, VP8L or VP8X)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        width, height = width & 0x3FFF, height & 0x3FFF
    elif chunk == b"VP8L" and data[20:21] == b"\x2f":
        (bits,) = struct.unpack("<I", data[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    else:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walks a JPEG's marker segments to its start-of-frame, which holds the size."""
    index = 2
    end = len(data)
    while index + 4 <= end:
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            index += 2
            continue
        (length,) = struct.unpack(">H", data[index + 2 : index + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return (width, height) if width > 0 and height > 0 else None
        if length < 2:
            return None
        index += 2 + length
    return None


def _anthropic_image(width: int, height: int) -> int:
    """Anthropic: w*h/750 after scaling within the long-edge and area limits."""
    scale = min(1.0, _ANTHROPIC_MAX_EDGE / max(width, height))
    scale = min(scale, math.sqrt(_ANTHROPIC_MAX_PIXELS / (width * height)))
    return max(1, math.ceil(width * scale * height * scale / _ANTHROPIC_PX_PER_TOKEN))


def _openai_image(width: int, height: int) -> int:
    """OpenAI (detail high): fit 2048 x 2048, short side down to 768, count 512 px tiles."""
    scale = min(1.0, _OPENAI_FIT / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, _OPENAI_SHORT_SIDE / min(w, h))
    w, h = w * scale, h * scale
    tiles = math.ceil(w / _OPENAI_TILE) * math.ceil(h / _OPENAI_TILE)
    return _OPENAI_BASE + _OPENAI_PER_TILE * tiles


def _gemini_image(width: int, height: int) -> int:
    """Gemini: one 258-token unit for a small image, else one per 768 x 768 tile."""
    if width <= _GEMINI_SMALL and height <= _GEMINI_SMALL:
        return _GEMINI_PER_TILE
    return _GEMINI_PER_TILE * math.ceil(width / _GEMINI_TILE) * math.ceil(height / _GEMINI_TILE)
