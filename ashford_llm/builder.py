"""Stacks middleware over a terminal handler, first layer named outermost (as Starlette does)."""

from __future__ import annotations

import importlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec

from ashford_llm.config import ConfigError
from ashford_llm.errors import LLMError
from ashford_llm.middleware._base import Middleware, iter_layers
from ashford_llm.protocol import LLMProvider

if TYPE_CHECKING:
    from ashford_llm.middleware.fallback import FallbackEvent

__all__ = ["ClientBuilder", "FallbackPoint", "Layer", "resolve_layer"]

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


class FallbackPoint:
    """Where `ClientBuilder.fallback` put a Fallback: the layers after it wrap every provider."""

    __slots__ = ("kwargs", "providers")

    def __init__(self, providers: tuple[LLMProvider, ...], kwargs: dict[str, Any]) -> None:
        self.providers = providers
        self.kwargs = kwargs

    def __repr__(self) -> str:
        options = [repr(provider) for provider in self.providers]
        options += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"FallbackPoint({', '.join(options)})"


class ClientBuilder:
    """Describes a stack of middleware; `build` puts it over any terminal handler.

    The first layer added is the outermost: it sees a request first and its response
    last. A builder is immutable (`use` returns a new one), so one description can be
    built over a real provider in production and a mock in tests with the same result.
    `fallback(*providers)` puts a Fallback at its place: the layers named after it are
    built over the terminal and, as fresh instances, over each of those providers.
    """

    __slots__ = ("_layers",)

    def __init__(self, layers: tuple[Layer[Any] | FallbackPoint, ...] = ()) -> None:
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

    def fallback(
        self,
        *providers: LLMProvider,
        on: Sequence[type[LLMError]] | None = None,
        on_fallback: Callable[[FallbackEvent], Awaitable[None] | None] | None = None,
    ) -> ClientBuilder:
        """Returns a builder with a Fallback here, trying `providers` after the terminal.

        The layers added after this call are built over the terminal and again over each
        provider (a terminal, or a stack of its own), so every provider gets its own Retry,
        CircuitBreaker and the rest. `on` and `on_fallback` are Fallback's options.
        """
        if not providers:
            raise ValueError("fallback() needs at least one provider to fall back to")
        for provider in providers:
            if not isinstance(provider, LLMProvider):
                raise TypeError(f"fallback() takes LLMProviders, got {type(provider).__name__}")
        if any(isinstance(layer, FallbackPoint) for layer in self._layers):
            raise ValueError("a builder takes one fallback(); nest stacks for more levels")
        options: dict[str, Any] = {"on_fallback": on_fallback}
        if on is not None:
            options["on"] = on
        return ClientBuilder((*self._layers, FallbackPoint(providers, options)))

    @classmethod
    def from_layers(cls, layers: Iterable[tuple[str, Mapping[str, Any]]]) -> ClientBuilder:
        """Returns a builder from (layer name, options) pairs, e.g. a StackConfig's layers."""
        builder = cls()
        for name, options in layers:
            builder = builder.use(resolve_layer(name), **options)
        return builder

    @property
    def layers(self) -> tuple[Layer[Any] | FallbackPoint, ...]:
        """The layers, outermost first (a FallbackPoint where `fallback` was called)."""
        return self._layers

    def build(self, terminal: LLMProvider) -> LLMProvider:
        """Wraps `terminal` in every layer; options are validated here, not at the first call."""
        if not isinstance(terminal, LLMProvider):
            raise TypeError(f"build() needs an LLMProvider terminal, got {type(terminal).__name__}")
        app = _wrap(self._layers, terminal)
        _warn_on_repeated_layers(app)
        return app

    def __repr__(self) -> str:
        return f"ClientBuilder({list(self._layers)!r})"


def _wrap(layers: tuple[Layer[Any] | FallbackPoint, ...], terminal: LLMProvider) -> LLMProvider:
    """Wraps `terminal` in `layers`; at a FallbackPoint the rest wraps each provider too."""
    app = terminal
    for position in reversed(range(len(layers))):
        layer = layers[position]
        if isinstance(layer, FallbackPoint):
            from ashford_llm.middleware.fallback import Fallback

            below = layers[position + 1 :]
            fallbacks = [_wrap(below, provider) for provider in layer.providers]
            app = Fallback(app, *fallbacks, **layer.kwargs)
        else:
            app = layer.wrap(app)
    return app


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
