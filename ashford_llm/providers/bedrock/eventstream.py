"""Reads a ConverseStream body (`application/vnd.amazon.eventstream`) into (event, data) frames.

The binary framing (prelude with lengths and CRC, headers, payload, message CRC) is decoded
by botocore's `EventStreamBuffer`, which checks both CRCs. Each message is handed on by its
`:message-type` header:

- `event`: (`:event-type`, the JSON payload), e.g. ("contentBlockDelta", '{"delta": ...}');
- `exception`: ("exception:" + `:exception-type`, the JSON payload), e.g.
  ("exception:throttlingException", '{"message": "..."}');
- `error`: ("exception:" + `:error-code`, `{"message": :error-message}`).

A frame that fails its CRC or is malformed, and a body that ends inside a frame, are a
ResponseDecodeError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from ashford_llm.errors import ResponseDecodeError
from ashford_llm.providers.bedrock.auth import require_botocore

__all__ = ["CONTENT_TYPE", "EXCEPTION", "read_event_stream"]

CONTENT_TYPE = "application/vnd.amazon.eventstream"
EXCEPTION = "exception:"


def _frame(message: Any) -> tuple[str, str]:
    """Returns one message as (event name, data)."""
    headers = message.headers
    kind = headers.get(":message-type")
    try:
        payload = message.payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResponseDecodeError("an event-stream payload is not UTF-8 text") from exc
    if kind == "event":
        return str(headers.get(":event-type", "")), payload
    if kind == "exception":
        return EXCEPTION + str(headers.get(":exception-type", "")), payload
    if kind == "error":
        message_text = str(headers.get(":error-message", ""))
        body = msgspec.json.encode({"message": message_text}).decode()
        return EXCEPTION + str(headers.get(":error-code", "")), body
    raise ResponseDecodeError(f"an event-stream message of unknown type {kind!r}")


async def read_event_stream(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Yields the stream's messages as (event name, data), as they arrive."""
    eventstream = require_botocore().eventstream
    buffer = eventstream.EventStreamBuffer()
    received = consumed = 0
    async for chunk in response.aiter_bytes():
        buffer.add_data(chunk)
        received += len(chunk)
        while True:
            try:
                message = next(buffer, None)
            except eventstream.ParserError as exc:
                raise ResponseDecodeError(f"a malformed event-stream frame: {exc}") from exc
            if message is None:
                break
            consumed += message.prelude.total_length
            yield _frame(message)
    if received != consumed:
        raise ResponseDecodeError(
            f"the event stream ended inside a frame ({received - consumed} bytes left over)"
        )
