"""The vendor seam: what a dialect tells the one HTTP provider about a vendor's wire format.

`HTTPProvider` owns everything vendors share (the client, credentials and the one 401
refresh, timing, the stream loop, error context); a `Dialect` owns what differs: the URL
and headers, the request body, reading answers, stream events and error bodies. Adding a
vendor, or an OpenAI-compatible server under its own name, is a new dialect object, not a
provider subclass. A dialect is built per provider from its ModelConfig and options, so it
may precompute URLs and defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from ashford_llm.errors import LLMError
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)

__all__ = ["Delta", "Dialect", "StreamDecoder", "deep_merge", "read_sse"]

Delta = TextDelta | ReasoningDelta | ToolCallDelta
"""What a stream decoder hands the caller as events arrive."""

NO_DELTAS: tuple[Delta, ...] = ()

_SSE_FIELDS = frozenset(("", "event", "id", "retry"))  # "" is a comment line


class StreamDecoder(Protocol):
    """Reads one stream's events into deltas, and knows when the stream is complete."""

    @property
    def done(self) -> bool:
        """True once the vendor's terminal event arrived; the loop stops reading."""
        ...

    @property
    def complete(self) -> bool:
        """True when everything needed for the final response arrived."""
        ...

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The (input, output) tokens the stream reported so far; None where it has not."""
        ...

    def feed(self, event: str, data: str) -> Sequence[Delta]:
        """Consumes one event; returns its deltas, or raises an LLMError for an error event."""
        ...

    def response(self, latency_ms: float, request_id: str | None) -> CompletionResponse:
        """Builds the final response from what the stream carried."""
        ...


class Dialect(Protocol):
    """One vendor's wire format, as the HTTP provider drives it.

    Attributes:
        name: the provider name responses and errors report ("openai", "groq").
        otel_provider_name: `gen_ai.provider.name` ("openai", "anthropic", "gcp.gemini").
        model: the configured model.
        base_url: the API root the URLs are built on (for the server address).
        request_id_header: the header holding the vendor's request id, if it sends one.
        stream_content_type: the content type of a streamed answer `frames` reads
            ("text/event-stream"; Bedrock's binary "application/vnd.amazon.eventstream").
    """

    name: str
    otel_provider_name: str
    model: str
    base_url: str
    request_id_header: str | None
    stream_content_type: str

    def url(self, *, stream: bool) -> str:
        """Returns the full URL of a plain or streamed call."""
        ...

    def headers(self, key: str) -> dict[str, str]:
        """Returns the request headers, auth included."""
        ...

    def encode(self, request: CompletionRequest, *, stream: bool) -> bytes:
        """Encodes the request body; raises InvalidRequestError for what the vendor refuses."""
        ...

    def decode(
        self, body: bytes, *, latency_ms: float, request_id: str | None
    ) -> CompletionResponse:
        """Parses a 2xx body into the response, raising a typed error for no answer."""
        ...

    def stream_decoder(self) -> StreamDecoder:
        """Returns a fresh decoder for one stream."""
        ...

    def frames(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """Yields a streamed body's (event name, data) frames (most vendors: `read_sse`).

        The reader owns the framing: Server-Sent Events for most vendors, a binary frame
        format for others, each frame handed on as its event name and its (JSON) data text.
        """
        ...

    def error(self, status: int, headers: httpx.Headers, body: bytes) -> LLMError:
        """Builds the typed error for a non-2xx answer from the vendor's error body."""
        ...

    def error_in_body(self, body: bytes | str) -> LLMError | None:
        """Finds an error object in a body that should have been an answer or a stream."""
        ...


async def read_sse(
    response: httpx.Response, error_in_body: Callable[[str], LLMError | None]
) -> AsyncIterator[tuple[str, str]]:
    """Yields Server-Sent Events as (event, data), multi-line data joined with newlines.

    Lines that are not SSE fields are ignored as the SSE spec says, except that, once the
    body ends, they are offered to `error_in_body`: Gemini puts its error object in the
    event stream as plain JSON, and a stream that carried one raises it.
    """
    data: list[str] = []
    event = ""
    stray: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
                data = []
            event = ""
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value[:1] == " " else value)
        elif field == "event":
            event = value[1:] if value[:1] == " " else value
        elif field not in _SSE_FIELDS:
            stray.append(line)
    if data:
        yield event, "\n".join(data)
    if stray:
        error = error_in_body("\n".join(stray))
        if error is not None:
            raise error


def deep_merge(body: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Merges `options` into a request body, nested objects key by key, `options` winning.

    The escape hatch for vendor options the library does not model: a caller's
    `vendor_options` are applied last, so they can add or replace any field.
    """
    for key, value in options.items():
        current = body.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            body[key] = deep_merge(dict(current), value)
        else:
            body[key] = value
    return body
