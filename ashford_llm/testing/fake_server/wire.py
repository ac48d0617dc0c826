"""What every vendor format module provides, and the small pieces they share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from ashford_llm.testing.fake_server.answers import Answer, AnswerRequest
from ashford_llm.testing.fake_server.faults import Fault

__all__ = ["BadRequest", "Reply", "StreamPlan", "VendorFormat", "encode", "sse"]

_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    """Encodes a JSON value compactly (msgspec)."""
    return _encoder.encode(value)


def sse(data: Any, *, event: str | None = None) -> bytes:
    """Frames one server-sent event; `data` is a JSON value or already-encoded bytes."""
    payload = data if isinstance(data, bytes) else encode(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """A complete non-streamed HTTP reply."""

    status: int
    body: bytes
    headers: dict[str, str] = {}
    content_type: str = "application/json"


class StreamPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A stream's frames: `head` (preamble), one frame per text chunk, `tail` (terminal events).

    `texts` is the answer text each chunk frame carries, when that is not one of the answer's
    chunks per frame (a tool call's frames carry none: ""); None means `answer.chunks`.
    """

    head: tuple[bytes, ...]
    chunks: tuple[bytes, ...]
    tail: tuple[bytes, ...]
    content_type: str = "text/event-stream"
    texts: tuple[str, ...] | None = None


class BadRequest(Exception):
    """The request body is not what the vendor accepts; the vendor module answers it."""


class VendorFormat(Protocol):
    """One vendor's wire format, as the fake server needs it."""

    name: str

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str | None
    ) -> Reply | None:
        """Returns the vendor's auth (or version) error reply, or None when the request passes."""
        ...

    def parse(self, body: bytes, *, model: str | None, stream: bool) -> AnswerRequest:
        """Reads the request body into the neutral view (raises BadRequest)."""
        ...

    def bad_request(self, message: str, request_id: str) -> Reply:
        """Returns the vendor's 400 reply."""
        ...

    def headers(self, request_id: str) -> dict[str, str]:
        """Returns the request-id and rate-limit headers of a successful reply."""
        ...

    def body(self, answer: Answer, request: AnswerRequest, response_id: str) -> bytes:
        """Returns the plain (non-streamed) response body."""
        ...

    def stream(self, answer: Answer, request: AnswerRequest, response_id: str) -> StreamPlan:
        """Returns the stream's frames."""
        ...

    def stream_error(self) -> bytes:
        """Returns the frame of an error inside a 200 stream (overloaded)."""
        ...

    def error(self, fault: Fault, *, model: str, request_id: str, retry_after: float) -> Reply:
        """Returns the error reply for a status fault (rate limit, quota, 5xx)."""
        ...
