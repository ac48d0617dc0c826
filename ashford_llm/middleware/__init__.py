"""Middleware layers: each wraps an inner LLMProvider and is one itself."""

from ashford_llm.middleware._base import Middleware, iter_layers
from ashford_llm.middleware._limits import LimiterBackend, RateLimiter, RatePermit
from ashford_llm.middleware._redis_limits import RedisRateLimiter
from ashford_llm.middleware.json_validation import JsonValidation
from ashford_llm.middleware.rate_limit import RateLimit
from ashford_llm.middleware.recording import RecordedCall, Recorder
from ashford_llm.middleware.retry import Retry, RetryEvent
from ashford_llm.middleware.timeout import Timeout
from ashford_llm.middleware.tracing import Tracing

__all__ = [
    "JsonValidation",
    "LimiterBackend",
    "Middleware",
    "RateLimit",
    "RateLimiter",
    "RatePermit",
    "RecordedCall",
    "Recorder",
    "RedisRateLimiter",
    "Retry",
    "RetryEvent",
    "Timeout",
    "Tracing",
    "iter_layers",
]
