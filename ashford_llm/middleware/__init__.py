"""Middleware layers: each wraps an inner LLMProvider and is one itself.

The layers load on first use, so `import ashford_llm` pays neither for asyncio nor for
OpenTelemetry until a stack uses them. To add a layer, name it in `_LAZY` and `__all__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ashford_llm import _lazy
from ashford_llm.middleware._base import Middleware, iter_layers

if TYPE_CHECKING:
    from ashford_llm.middleware.circuit_breaker import (
        CircuitBackend,
        CircuitBreaker,
        CircuitState,
        MemoryCircuitBackend,
    )
    from ashford_llm.middleware.circuit_breaker.redis_backend import RedisCircuitBackend
    from ashford_llm.middleware.fallback import Fallback, FallbackEvent
    from ashford_llm.middleware.json_validation import JsonValidation
    from ashford_llm.middleware.rate_limit import RateLimit
    from ashford_llm.middleware.rate_limit.limiter import LimiterBackend, RateLimiter, RatePermit
    from ashford_llm.middleware.rate_limit.redis_limiter import RedisRateLimiter
    from ashford_llm.middleware.recording import RecordedCall, Recorder
    from ashford_llm.middleware.retry import Retry, RetryEvent
    from ashford_llm.middleware.timeout import Timeout
    from ashford_llm.middleware.tool_loop import ToolHandler, ToolLoop
    from ashford_llm.middleware.tracing import Tracing

__all__ = [
    "CircuitBackend",
    "CircuitBreaker",
    "CircuitState",
    "Fallback",
    "FallbackEvent",
    "JsonValidation",
    "LimiterBackend",
    "MemoryCircuitBackend",
    "Middleware",
    "RateLimit",
    "RateLimiter",
    "RatePermit",
    "RecordedCall",
    "Recorder",
    "RedisCircuitBackend",
    "RedisRateLimiter",
    "Retry",
    "RetryEvent",
    "Timeout",
    "ToolHandler",
    "ToolLoop",
    "Tracing",
    "iter_layers",
]

_LAZY = {
    "CircuitBackend": "ashford_llm.middleware.circuit_breaker",
    "CircuitBreaker": "ashford_llm.middleware.circuit_breaker",
    "CircuitState": "ashford_llm.middleware.circuit_breaker",
    "Fallback": "ashford_llm.middleware.fallback",
    "FallbackEvent": "ashford_llm.middleware.fallback",
    "MemoryCircuitBackend": "ashford_llm.middleware.circuit_breaker",
    "RedisCircuitBackend": "ashford_llm.middleware.circuit_breaker.redis_backend",
    "JsonValidation": "ashford_llm.middleware.json_validation",
    "LimiterBackend": "ashford_llm.middleware.rate_limit.limiter",
    "RateLimit": "ashford_llm.middleware.rate_limit",
    "RateLimiter": "ashford_llm.middleware.rate_limit.limiter",
    "RatePermit": "ashford_llm.middleware.rate_limit.limiter",
    "RecordedCall": "ashford_llm.middleware.recording",
    "Recorder": "ashford_llm.middleware.recording",
    "RedisRateLimiter": "ashford_llm.middleware.rate_limit.redis_limiter",
    "Retry": "ashford_llm.middleware.retry",
    "RetryEvent": "ashford_llm.middleware.retry",
    "Timeout": "ashford_llm.middleware.timeout",
    "ToolHandler": "ashford_llm.middleware.tool_loop",
    "ToolLoop": "ashford_llm.middleware.tool_loop",
    "Tracing": "ashford_llm.middleware.tracing",
}


__getattr__ = _lazy.lazy_getattr(__name__, _LAZY)
