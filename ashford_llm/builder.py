"""Stacks middleware over a terminal handler, first layer named outermost (as Starlette does)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec

from ashford_llm.middleware._base import iter_layers
from ashford_llm.protocol import LLMProvider

__all__ = ["ClientBuilder", "Layer"]

logger = logging.getLogger("ashford_llm")

P = ParamSpec("P")

# Layers that must not appear twice in one stack, and why.
_WARN_IF_REPEATED = {"Retry": "retries multiply: each outer attempt runs every inner retry"}


class Layer(Generic[P]):
    """A middleware class with the options to build it with, checked by the type checker."""

    __slots__ = ("args", "cls", "kwargs")

    def __init__(
        self,
        cls: Callable[Concatenate[LLMProvider, P], LLMProvider],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> None:
        self.cls = cls
        self.args: tuple[Any, ...] = args
        self.kwargs: dict[str, Any] = kwargs

    def wrap(self, inner: LLMProvider) -> LLMProvider:
        """Builds this layer around `inner`."""
        return self.cls(inner, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        name = getattr(self.cls, "__name__", repr(self.cls))
        options = [repr(arg) for arg in self.args]
        options += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"Layer({', '.join([name, *options])})"


class ClientBuilder:
    """Describes a stack of middleware; `build` puts it over any terminal handler.

    The first layer added is the outermost: it sees a request first and its response
    last. A builder is immutable (`use` returns a new one), so one description can be
    built over a real provider in production and a mock in tests with the same result.
    """

    __slots__ = ("_layers",)

    def __init__(self, layers: tuple[Layer[Any], ...] = ()) -> None:
        self._layers = layers

    def use(
        self,
        cls: Callable[Concatenate[LLMProvider, P], LLMProvider],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> ClientBuilder:
        """Returns a builder with one more layer, inside the ones added before it."""
        if not callable(cls):
            raise TypeError(f"use() needs a middleware class, got {cls!r}")
        return ClientBuilder((*self._layers, Layer(cls, *args, **kwargs)))

    @property
    def layers(self) -> tuple[Layer[Any], ...]:
        """The layers, outermost first."""
        return self._layers

    def build(self, terminal: LLMProvider) -> LLMProvider:
        """Wraps `terminal` in every layer; options are validated here, not at the first call."""
        if not isinstance(terminal, LLMProvider):
            raise TypeError(f"build() needs an LLMProvider terminal, got {type(terminal).__name__}")
        app = terminal
        for layer in reversed(self._layers):
            app = layer.wrap(app)
        _warn_on_repeated_layers(app)
        return app

    def __repr__(self) -> str:
        return f"ClientBuilder({list(self._layers)!r})"


def _warn_on_repeated_layers(stack: LLMProvider) -> None:
    """Logs a warning for each layer kind that appears twice where that multiplies work."""
    counts = Counter(type(layer).__name__ for layer in iter_layers(stack))
    for name, reason in _WARN_IF_REPEATED.items():
        if counts[name] > 1:
            logger.warning("stack has %d %s layers: %s", counts[name], name, reason)
