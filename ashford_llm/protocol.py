"""The provider interface: what every terminal handler and every middleware layer is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEvent

__all__ = ["LLMProvider"]


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
