"""Encodes AWS event-stream frames (`application/vnd.amazon.eventstream`) for the fake server.

botocore decodes this format but has no encoder, so the fake server writes its own, by the
format botocore's `eventstream.py` reads: a 12-byte prelude (total length, headers length,
both big-endian uint32, then the CRC32 of those 8 bytes), the headers, the payload, and the
CRC32 of everything before it. Each header is a 1-byte name length, the name, a type byte
(7: string), a 2-byte value length and the value. The tests decode these frames with
botocore's `EventStreamBuffer`, so an encoding mistake fails there.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

from ashford_llm.testing.fake_server.wire import encode

__all__ = ["encode_frame", "event_frame", "exception_frame"]

_STRING = 7


def _header(name: str, value: str) -> bytes:
    """Encodes one string header."""
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Encodes one message: prelude and its CRC, headers, payload, message CRC."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, body: Any) -> bytes:
    """Encodes an `event` message whose payload is `body` as JSON."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, encode(body))


def exception_frame(exception_type: str, body: Any) -> bytes:
    """Encodes an `exception` message (e.g. `throttlingException`) with a JSON payload."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, encode(body))
