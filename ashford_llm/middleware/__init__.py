"""Middleware layers: each wraps an inner LLMProvider and is one itself.

The layers load on first use, so `import ashford_llm` pays neither for asyncio nor for
OpenTelemetry until a stack uses them. To add a layer, name it in `_LAZY` and `__all__`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ashford_llm import _lazy
from ashford_llm.middleware._base import Middleware, iter_layers

if TYPE_CHECKING:
    from ashford_llm.middleware.cache import Cache, CacheBackend, MemoryCache
    from ashford_llm.middleware.cache.redis_cache import RedisCache
    from ashford_llm.middleware.circuit_breaker import (
        CircuitBackend,
        CircuitBreaker,
        CircuitState,
        MemoryCircuitBackend,
    )
    from ashford_llm.middleware.circuit_breaker.redis_backend import RedisCircuitBackend
    from ashford_llm.middleware.cost import (
        Budget,
        BudgetBackend,
        BudgetHold,
        Cost,
        CostLedger,
        MemoryBudget,
    )
    from ashford_llm.middleware.cost.redis_budget import RedisBudget
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
    "Budget",
    "BudgetBackend",
    "BudgetHold",
    "Cache",
    "CacheBackend",
    "CircuitBackend",
    "CircuitBreaker",
    "CircuitState",
    "Cost",
    "CostLedger",
    "Fallback",
    "FallbackEvent",
    "JsonValidation",
    "LimiterBackend",
    "MemoryBudget",
    "MemoryCache",
    "MemoryCircuitBackend",
    "Middleware",
    "RateLimit",
    "RateLimiter",
    "RatePermit",
    "RecordedCall",
    "Recorder",
    "RedisBudget",
    "RedisCache",
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
    "Budget": "ashford_llm.middleware.cost",
    "BudgetBackend": "ashford_llm.middleware.cost",
    "BudgetHold": "ashford_llm.middleware.cost",
    "Cache": "ashford_llm.middleware.cache",
    "CacheBackend": "ashford_llm.middleware.cache",
    "CircuitBackend": "ashford_llm.middleware.circuit_breaker",
    "CircuitBreaker": "ashford_llm.middleware.circuit_breaker",
    "CircuitState": "ashford_llm.middleware.circuit_breaker",
    "Cost": "ashford_llm.middleware.cost",
    "CostLedger": "ashford_llm.middleware.cost",
    "Fallback": "ashford_llm.middleware.fallback",
    "FallbackEvent": "ashford_llm.middleware.fallback",
    "MemoryCircuitBackend": "ashford_llm.middleware.circuit_breaker",
    "RedisCircuitBackend": "ashford_llm.middleware.circuit_breaker.redis_backend",
    "JsonValidation": "ashford_llm.middleware.json_validation",
    "LimiterBackend": "ashford_llm.middleware.rate_limit.limiter",
    "MemoryBudget": "ashford_llm.middleware.cost",
    "MemoryCache": "ashford_llm.middleware.cache",
    "RateLimit": "ashford_llm.middleware.rate_limit",
    "RateLimiter": "ashford_llm.middleware.rate_limit.limiter",
    "RatePermit": "ashford_llm.middleware.rate_limit.limiter",
    "RecordedCall": "ashford_llm.middleware.recording",
    "Recorder": "ashford_llm.middleware.recording",
    "RedisBudget": "ashford_llm.middleware.cost.redis_budget",
    "RedisCache": "ashford_llm.middleware.cache.redis_cache",
    "RedisRateLimiter": "ashford_llm.middleware.rate_limit.redis_limiter",
    "Retry": "ashford_llm.middleware.retry",
    "RetryEvent": "ashford_llm.middleware.retry",
    "Timeout": "ashford_llm.middleware.timeout",
    "ToolHandler": "ashford_llm.middleware.tool_loop",
    "ToolLoop": "ashford_llm.middleware.tool_loop",
    "Tracing": "ashford_llm.middleware.tracing",
}


__getattr__ = _lazy.lazy_getattr(__name__, _LAZY)
