"""Middleware layers: each wraps an inner LLMProvider and is one itself."""

from ashford_llm.middleware._base import Middleware, iter_layers

__all__ = ["Middleware", "iter_layers"]
