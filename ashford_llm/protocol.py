"""The provider interface: what every terminal handler and every middleware layer is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEvent

__all__ = ["AsyncCloseable", "LLMProvider"]


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

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the whole answer to `request`, or raises an `LLMError`."""
        ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Yields `TextDelta`s then one `StreamEnd`, or raises an `LLMError`."""
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
