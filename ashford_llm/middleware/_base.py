"""The one small base class of middleware layers: hold the inner handler and forward."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Iterator
from typing import Any, ClassVar, overload

from ashford_llm.protocol import AsyncCloseable, LLMProvider, ProviderInfo
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEvent

__all__ = ["Middleware", "check_seconds", "format_option", "iter_layers"]


class Middleware(AsyncCloseable):
    """Forwards everything to `inner`; a layer overrides `complete` and `stream`.

    `name` and `info` are the inner handler's, so every layer describes the terminal below
    it: a layer reads `self.info` (model, vendor, defaults) and never probes the terminal.

    `repr_options` names the attributes shown in the layer's repr, so a stack prints as
    `Tracing -> Retry(max_retries=4) -> OpenAIProvider(model='gpt-4o-mini')`.
    """

    repr_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, inner: LLMProvider) -> None:
        if not isinstance(inner, LLMProvider):
            raise TypeError(
                f"{type(self).__name__} needs an LLMProvider to wrap, got {type(inner).__name__}"
            )
        self.inner = inner

    @property
    def name(self) -> str:
        """The terminal provider's name."""
        return self.inner.name

    @property
    def info(self) -> ProviderInfo:
        """The terminal's description, forwarded from the inner handler."""
        return self.inner.info

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Passes the request to the inner handler."""
        return await self.inner.complete(request)

    def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Passes the stream through from the inner handler."""
        return self.inner.stream(request)

    async def aclose(self) -> None:
        """Closes the inner handler."""
        await self.inner.aclose()

    def describe(self) -> str:
        """Returns this layer alone, e.g. `Retry(max_retries=4)`."""
        options = ", ".join(
            f"{option}={format_option(getattr(self, option))}" for option in self.repr_options
        )
        return f"{type(self).__name__}({options})" if options else type(self).__name__

    def __repr__(self) -> str:
        return " -> ".join(
            layer.describe() if isinstance(layer, Middleware) else repr(layer)
            for layer in iter_layers(self)
        )


def format_option(value: Any) -> str:
    """Formats an option compactly: 30.0 as 30, strings quoted."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


@overload
def check_seconds(option: str, value: float, *, positive: bool = ...) -> float: ...


@overload
def check_seconds(
    option: str, value: float | None, *, positive: bool = ..., allow_none: bool
) -> float | None: ...


def check_seconds(
    option: str, value: float | None, *, positive: bool = False, allow_none: bool = False
) -> float | None:
    """Checks a duration option: a finite number >= 0 (> 0 when `positive`), or None if allowed.

    Raises ValueError naming the option, so a bad stack fails when it is built.
    """
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = ("> 0" if positive else ">= 0") + (" or None" if allow_none else "")
        raise ValueError(f"{option} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


def iter_layers(provider: LLMProvider) -> Iterator[LLMProvider]:
    """Yields the layers of a stack, outermost first, ending with its terminal."""
    current: LLMProvider | None = provider
    while current is not None:
        yield current
        current = current.inner if isinstance(current, Middleware) else None
