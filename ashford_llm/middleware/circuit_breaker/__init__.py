"""CircuitBreaker: the layer (`layer`), the backend seam and its in-process store (`backend`),
and the Redis-shared store (`redis_backend`, imported only when used: it needs the `redis`
extra)."""

from ashford_llm.middleware.circuit_breaker.backend import (
    Admission,
    CircuitBackend,
    CircuitPolicy,
    CircuitState,
    MemoryCircuitBackend,
    Outcome,
)
from ashford_llm.middleware.circuit_breaker.layer import (
    DEFAULT_COUNTED,
    DEFAULT_MINIMUM_CALLS,
    CircuitBreaker,
)

__all__ = [
    "DEFAULT_COUNTED",
    "DEFAULT_MINIMUM_CALLS",
    "Admission",
    "CircuitBackend",
    "CircuitBreaker",
    "CircuitPolicy",
    "CircuitState",
    "MemoryCircuitBackend",
    "Outcome",
]
