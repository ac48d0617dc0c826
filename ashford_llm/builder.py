"""Stacks middleware over a terminal handler, first layer named outermost (as Starlette does)."""

from __future__ import annotations

import importlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec

from ashford_llm.config import ConfigError
from ashford_llm.middleware._base import Middleware, iter_layers
from ashford_llm.protocol import LLMProvider

__all__ = ["ClientBuilder", "Layer", "resolve_layer"]

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

    @classmethod
    def from_layers(cls, layers: Iterable[tuple[str, Mapping[str, Any]]]) -> ClientBuilder:
        """Returns a builder from (layer name, options) pairs, e.g. a StackConfig's layers."""
        builder = cls()
        for name, options in layers:
            builder = builder.use(resolve_layer(name), **options)
        return builder

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


def resolve_layer(name: str) -> Callable[..., LLMProvider]:
    """Finds a middleware class by its name in ashford_llm.middleware, or by "module:Class"."""
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import layer {name!r}: {exc}") from exc
    else:
        middleware = importlib.import_module("ashford_llm.middleware")
        known = sorted(
            n
            for n in middleware.__all__
            if isinstance(getattr(middleware, n), type)
            and issubclass(getattr(middleware, n), Middleware)
            and n != "Middleware"
        )
        if name not in known:
            raise ConfigError(f"unknown layer {name!r}; known layers: {', '.join(known)}")
        found = getattr(middleware, name)
    if not callable(found):
        raise ConfigError(f"layer {name!r} is not a class")
    return found  # type: ignore[no-any-return]


def _warn_on_repeated_layers(stack: LLMProvider) -> None:
    """Logs a warning for each layer kind that appears twice where that multiplies work."""
    counts = Counter(type(layer).__name__ for layer in iter_layers(stack))
    for name, reason in _WARN_IF_REPEATED.items():
        if counts[name] > 1:
            logger.warning("stack has %d %s layers: %s", counts[name], name, reason)
