"""RateLimit: keeps calls within a vendor's requests and tokens per minute and a concurrency cap.

Where it belongs: inside Retry, so every attempt (not only the first) takes a permit and pays
for its tokens; outside Timeout, so the time spent waiting for a permit does not eat the
per-attempt deadline. Waits longer than a millisecond show on the current (Tracing) span as
a rate-limit wait event.

Tokens are charged before the call from an estimate, since the real count is known only
after: input is taken as one token per four characters of the messages' text and reasoning
(rounded up), plus each image and document by the terminal vendor's documented counting
(never by the length of its bytes; the figures are in `_media_tokens`), output as the
request's `max_tokens`, else `default_max_tokens`, else the terminal's default output
budget (`info.max_output_tokens`, what it will send), else 4096. After a success the charge
is settled against the response's real input plus output tokens (a server that reports no
usage at all keeps the estimate charged); after a failure the input estimate stays charged
and the output allowance is refunded.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator

import msgspec
from opentelemetry import trace

from ashford_llm.middleware._base import Middleware, format_option
from ashford_llm.middleware._semconv import RATE_LIMIT_WAIT_EVENT, RATE_LIMIT_WAIT_S
from ashford_llm.middleware.rate_limit.limiter import LimiterBackend, RateLimiter, RatePermit
from ashford_llm.middleware.rate_limit.media import Vendor, document_tokens, image_tokens, vendor_of
from ashford_llm.protocol import LLMProvider, ProviderInfo
from ashford_llm.types import (
    CompletionRequest,
    CompletionResponse,
    DocumentPart,
    ImagePart,
    ReasoningPart,
    StreamEnd,
    StreamEvent,
    TextPart,
    ToolCall,
    ToolResult,
)

__all__ = ["RateLimit", "default_output_tokens", "estimate_input_tokens"]

_VISIBLE_WAIT_S = 0.001
_FALLBACK_MAX_TOKENS = 4096


class RateLimit(Middleware):
    """Waits for a permit before each call, and settles its token charge after.

    Args:
        inner: the handler to wrap.
        requests_per_minute: calls allowed per minute.
        tokens_per_minute: input plus output tokens allowed per minute; a request whose
            estimate exceeds it fails at once with InvalidRequestError.
        max_concurrency: calls in flight at once; a stream holds its slot until it ends
            or is closed.
        default_max_tokens: the output allowance charged when a request sets no
            `max_tokens`; None takes the terminal's `info.max_output_tokens`, else 4096.
        backend: a shared limiter instead of the three limits above, so several stacks
            draw on one quota: a RateLimiter within one process, a RedisRateLimiter across
            processes, or another LimiterBackend. The layer never closes it.
    """

    def __init__(
        self,
        inner: LLMProvider,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: int | None = None,
        max_concurrency: int | None = None,
        default_max_tokens: int | None = None,
        backend: LimiterBackend | None = None,
    ) -> None:
        super().__init__(inner)
        default_max_tokens = default_output_tokens(default_max_tokens, inner.info)
        if backend is not None:
            if not (requests_per_minute is None and tokens_per_minute is None) or (
                max_concurrency is not None
            ):
                raise ValueError(
                    "RateLimit takes either a shared backend or its own limits, not both"
                )
            if not isinstance(backend, LimiterBackend):
                raise TypeError(
                    f"backend must be a RateLimiter or LimiterBackend, got {type(backend).__name__}"
                )
            self.backend: LimiterBackend = backend
        else:
            self.backend = RateLimiter(
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
                max_concurrency=max_concurrency,
            )
        self.default_max_tokens = default_max_tokens
        self._vendor = vendor_of(inner.info)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Calls the inner handler holding a permit; settles it against the real usage."""
        permit = await self._acquire(request)
        try:
            response = await self.inner.complete(request)
        except BaseException:
            await self.backend.release(permit)
            raise
        await self.backend.settle(permit, _used_tokens(response, permit))
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams holding a permit until the stream ends, fails or is closed."""
        permit = await self._acquire(request)
        settled = False
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, StreamEnd):
                    settled = True
                    await self.backend.settle(permit, _used_tokens(event.response, permit))
                yield event
        finally:
            try:
                await events.aclose()
            finally:
                if not settled:
                    await self.backend.release(permit)

    async def _acquire(self, request: CompletionRequest) -> RatePermit:
        """Waits for a permit and makes a noticeable wait visible on the current span."""
        permit = await self.backend.acquire(
            input_tokens=estimate_input_tokens(request, vendor=self._vendor),
            output_tokens=request.max_tokens or self.default_max_tokens,
        )
        if permit.waited_s > _VISIBLE_WAIT_S:
            trace.get_current_span().add_event(
                RATE_LIMIT_WAIT_EVENT, {RATE_LIMIT_WAIT_S: permit.waited_s}
            )
        return permit

    def describe(self) -> str:
        """Returns this layer alone, showing only the limits that are set."""
        if not isinstance(self.backend, RateLimiter):
            return f"RateLimit(backend={self.backend!r})"
        options = ", ".join(
            f"{name}={format_option(value)}"
            for name, value in (
                ("requests_per_minute", self.backend.requests_per_minute),
                ("tokens_per_minute", self.backend.tokens_per_minute),
                ("max_concurrency", self.backend.max_concurrency),
            )
            if value is not None
        )
        return f"RateLimit({options})"


def default_output_tokens(default_max_tokens: int | None, info: ProviderInfo) -> int:
    """Returns the output allowance charged for a request that sets no `max_tokens`.

    `default_max_tokens` when given (a positive int, else ValueError), else the terminal's
    default output budget (`info.max_output_tokens`, what it will send), else 4096.
    """
    if default_max_tokens is None:
        default_max_tokens = info.max_output_tokens or _FALLBACK_MAX_TOKENS
    if (
        isinstance(default_max_tokens, bool)
        or not isinstance(default_max_tokens, int)
        or default_max_tokens < 1
    ):
        raise ValueError(f"default_max_tokens must be a positive int, got {default_max_tokens!r}")
    return default_max_tokens


def estimate_input_tokens(request: CompletionRequest, *, vendor: Vendor | None = None) -> int:
    """Estimates a request's input tokens: text at four characters per token, attachments
    by the vendor's documented counting (the largest of the three rules when `vendor` is None).

    Text and reasoning parts count their text, tool calls and results their JSON or text,
    tool definitions their name, description and schema; a CachePoint counts nothing.
    """
    chars = sum(
        len(tool.name) + len(tool.description) + len(_SCHEMA_TEXT.encode(tool.schema))
        for tool in request.tools
    )
    media = 0
    for message in request.messages:
        content = message.content
        if type(content) is str:
            chars += len(content)
            continue
        for part in content:
            if isinstance(part, TextPart | ReasoningPart):
                chars += len(part.text)
            elif isinstance(part, ImagePart):
                media += image_tokens(part, vendor)
            elif isinstance(part, DocumentPart):
                media += document_tokens(part, vendor)
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(_SCHEMA_TEXT.encode(part.arguments))
            elif isinstance(part, ToolResult):
                chars += len(part.content)
    return math.ceil(chars / 4) + media


_SCHEMA_TEXT = msgspec.json.Encoder()


def _used_tokens(response: CompletionResponse, permit: RatePermit) -> int:
    """Returns the tokens a finished call used: input plus output as the vendor reported.

    A server that reports no usage at all (some OpenAI-compatible ones) leaves the estimate
    charged, so the token limit still holds.
    """
    used = response.input_tokens + response.output_tokens
    return used if used > 0 else permit.tokens
