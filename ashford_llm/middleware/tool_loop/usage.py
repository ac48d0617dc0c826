"""The usage of a call's model turns, added up, as ToolLoop's answer carries it."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ashford_llm.types import CompletionResponse

__all__ = ["Usage"]


@dataclass(slots=True)
class Usage:
    """The usage of a call's model turns, added up."""

    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_tokens: int | None = None

    def add(self, response: CompletionResponse) -> None:
        """Adds one turn's counts (an optional count stays None until a turn reports it)."""
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens
        self.latency_ms += response.latency_ms
        self.cached_input_tokens = _plus(self.cached_input_tokens, response.cached_input_tokens)
        self.reasoning_tokens = _plus(self.reasoning_tokens, response.reasoning_tokens)
        self.cache_write_tokens = _plus(self.cache_write_tokens, response.cache_write_tokens)

    def total(self, response: CompletionResponse) -> CompletionResponse:
        """Returns the last turn's answer carrying the summed usage and latency."""
        return msgspec.structs.replace(
            response,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            latency_ms=self.latency_ms,
            cached_input_tokens=self.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens,
            cache_write_tokens=self.cache_write_tokens,
        )


def _plus(total: int | None, value: int | None) -> int | None:
    """Adds two optional counts; None only when both are."""
    if value is None:
        return total
    return value if total is None else total + value
