"""The provider interface: what every terminal handler and every middleware layer is."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import msgspec

from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEvent

__all__ = ["AsyncCloseable", "LLMProvider", "ProviderInfo"]


class ProviderInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a terminal says about itself, for the layers above it.

    Every layer forwards its inner handler's `info`, so Tracing and RateLimit read the
    terminal's model, vendor and defaults through this one typed description and never
    reach into the terminal (a layer holding several providers answers for the one it
    would call first).

    Args:
        name: the provider's name, as responses and errors report it ("openai", "groq").
        model: the configured model, None for a handler with no fixed model.
        otel_provider_name: `gen_ai.provider.name` per the OpenTelemetry GenAI conventions
            ("openai", "anthropic", "gcp.gemini"); None for a handler with no vendor.
        server_address: the vendor host, None when there is no server.
        server_port: the vendor port, None when there is no server.
        max_output_tokens: the output budget sent when a request sets no `max_tokens`.
        temperature: the temperature sent when a request sets none; None sends none.
    """

    name: str
    model: str | None = None
    otel_provider_name: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None


@runtime_checkable
class LLMProvider(Protocol):
    """Answers completion requests, whole or streamed.

    A vendor provider is the terminal handler; a middleware layer holds an inner
    LLMProvider and is one itself, so stacks compose and can be wrapped again.
    """

    @property
    def name(self) -> str:
        """The provider's name, e.g. "openai"; layers report their terminal's name."""
        ...

    @property
    def info(self) -> ProviderInfo:
        """The terminal's description: model, vendor, server, defaults (layers forward it)."""
        ...

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the whole answer to `request`, or raises an `LLMError`."""
        ...

    def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yields deltas then one `StreamEnd`, or raises an `LLMError`.

        The result is an async generator: close it early with `contextlib.aclosing` (or
        its `aclose()`), so the connection behind it is released at once.
        """
        ...

    async def aclose(self) -> None:
        """Releases connections and other resources."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class AsyncCloseable:
    """aclose() plus the async context manager that calls it.

    Providers, layers and test doubles inherit it, so `async with handler:` closes them
    however the block ends; a subclass overrides `aclose` with its own cleanup.
    """

    async def aclose(self) -> None:
        """Releases resources; this default holds none."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
