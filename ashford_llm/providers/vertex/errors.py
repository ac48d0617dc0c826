"""Reads the error bodies of Claude on Vertex AI, which come in two shapes.

A request Vertex itself refuses (a bad or expired token, a missing IAM permission, an unknown
model, the project's quota) gets a google.rpc.Status envelope, read by the Gemini module's
rules (a RESOURCE_EXHAUSTED is a RateLimitError unless waiting cannot help); one that reaches
Claude gets Anthropic's error object, read by the Anthropic module. An Anthropic error object
found as a JSON string inside a google.rpc message (seen through proxies) is unwrapped, and so
is an error object sent as the only item of a JSON array, as Vertex answers on its streaming
methods (`[{"error": {...}}]`, reported for both Gemini and Claude).
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from ashford_llm.errors import LLMError, error_for_status
from ashford_llm.providers._http import DECODE_FAILURES, excerpt
from ashford_llm.providers.anthropic import errors as anthropic_errors
from ashford_llm.providers.google import errors as google_errors

__all__ = ["error_in_body", "parse_error", "parse_gemini_error", "unwrap_array"]


class _Detail(msgspec.Struct):
    """Either shape's `error` object: Anthropic's `type`, or google.rpc's `code`/`status`."""

    type: str | None = None
    message: Any = None
    code: Any = None
    status: Any = None


class _Envelope(msgspec.Struct):
    type: str | None = None
    error: _Detail | None = None
    request_id: str | None = None


_DECODER = msgspec.json.Decoder(_Envelope)
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


def unwrap_array(body: bytes) -> bytes:
    """Returns the one object of a `[{...}]` body, or the body unchanged."""
    if not body.lstrip().startswith(b"["):
        return body
    try:
        items = _ARRAY.decode(body)
    except DECODE_FAILURES:
        return body
    return bytes(items[0]) if len(items) == 1 else body


def _decode(body: bytes | str) -> _Envelope | None:
    """Returns the envelope, or None for a body that is not one."""
    try:
        return _DECODER.decode(body)
    except DECODE_FAILURES:
        return None


def _wrapped_anthropic(detail: _Detail) -> bytes | None:
    """Returns the Anthropic error object a google.rpc message holds as JSON text, if any."""
    message = detail.message
    if not isinstance(message, str) or not message.lstrip().startswith("{"):
        return None
    inner = _decode(message)
    if inner is None or inner.error is None or not inner.error.type:
        return None
    return message.encode()


def parse_error(status: int, headers: httpx.Headers, body: bytes) -> LLMError:
    """Maps a non-2xx answer from Claude on Vertex to its class, by the body's shape."""
    body = unwrap_array(body)
    envelope = _decode(body)
    if envelope is None or envelope.error is None:
        return error_for_status(status)(
            f"Vertex AI answered HTTP {status} without an error JSON: {excerpt(body)!r}",
            status=status,
        )
    if envelope.error.type:
        return anthropic_errors.parse_error(status, headers, body)
    inner = _wrapped_anthropic(envelope.error)
    if inner is not None:
        return anthropic_errors.parse_error(status, headers, inner)
    return google_errors.parse_error(status, headers, body)


def parse_gemini_error(status: int, headers: httpx.Headers, body: bytes) -> LLMError:
    """Maps a non-2xx answer from Gemini on Vertex by the Gemini rules (a list unwrapped)."""
    return google_errors.parse_error(status, headers, unwrap_array(body))


def error_in_body(body: bytes | str) -> LLMError | None:
    """Finds an error object of either shape in a body that should have been an answer."""
    return anthropic_errors.error_in_body(body) or google_errors.error_in_body(body)
