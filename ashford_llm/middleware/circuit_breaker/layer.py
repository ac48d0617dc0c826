"""CircuitBreaker: stops calling a provider that keeps failing, for a cooldown.

Where it belongs: inside Retry, so it sees every attempt's failure, and above RateLimit, so a
refused call takes no permit. While the circuit is open a call fails at once with
`CircuitOpenError` (retryable, `retry_after` the cooldown left, `should_retry=False` so Retry
does not wait for it): a Fallback outside Retry then moves on to the next provider at once,
and a job system retries the job later. Opening, half-opening and closing are
`ashford.circuit` events on the current span and count on the `ashford.circuit.transitions`
metric, with the provider, the model and the state entered.

What counts as a failure (`DEFAULT_COUNTED`): the errors that say the vendor is unwell: 429s,
5xx and 529s, timeouts, network failures, bodies that cannot be decoded, and a stream that
broke after text arrived (MidStreamError, from a layer below). Not counted, and taken as a
sign that the vendor answers: fatal errors (a 400, a 403, an exhausted quota, a content
filter), a rejected key (AuthenticationError: a credential problem, not an outage) and output
that is not the JSON asked for (JsonValidationError: the model's doing); with a
`failure_ratio` these count as successes. A call cancelled or closed early counts as nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence

from opentelemetry import metrics, trace

from ashford_llm.errors import (
    CircuitOpenError,
    LLMError,
    LLMTimeoutError,
    MidStreamError,
    NetworkError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import Middleware, check_seconds, format_option
from ashford_llm.middleware.circuit_breaker.backend import (
    Admission,
    CircuitBackend,
    CircuitPolicy,
    CircuitState,
    MemoryCircuitBackend,
    Outcome,
)
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEnd, StreamEvent

__all__ = ["DEFAULT_COUNTED", "DEFAULT_MINIMUM_CALLS", "CircuitBreaker"]

logger = logging.getLogger("ashford_llm")

DEFAULT_COUNTED: tuple[type[LLMError], ...] = (
    RateLimitError,
    ServerError,
    LLMTimeoutError,
    NetworkError,
    ResponseDecodeError,
    MidStreamError,
)
"""The error classes a circuit counts as the vendor failing."""

DEFAULT_MINIMUM_CALLS = 20
"""Calls within the window before a `failure_ratio` is judged, when none is given."""


class CircuitBreaker(Middleware):
    """Opens after `failure_threshold` failures within `window` seconds; refuses for `cooldown`.

    A count alone depends on the request rate: at a high rate a vendor's ordinary error rate
    reaches any threshold. With `failure_ratio` set the circuit opens on a share instead (as
    Polly's advanced breaker and resilience4j's failure rate do): when, within `window`, at
    least `minimum_calls` calls ended, the failed share of them is at least `failure_ratio`,
    and at least `failure_threshold` of them failed (set it to 1 for the share alone).

    After the cooldown the circuit is half-open: `half_open_max` probe calls go through, the
    others are refused; a probe that succeeds closes the circuit, one that fails opens it
    again for another cooldown. The circuit is keyed by the terminal's provider and model
    (`info`), so stacks sharing a `backend` share a circuit per provider and model.

    Args:
        inner: the handler to call.
        failure_threshold: failures within `window` that open the circuit (with
            `failure_ratio`, the fewest failures that may open it).
        window: seconds over which outcomes are counted (a sliding window).
        cooldown: seconds the circuit stays open before probing.
        half_open_max: probe calls let through at once while half-open.
        failure_ratio: None to open on the failure count alone; a share in (0, 1] to open
            when that share of the calls within `window` failed.
        minimum_calls: calls that must have ended within `window` before `failure_ratio`
            is judged (None for DEFAULT_MINIMUM_CALLS); only with `failure_ratio`.
        backend: where circuits live: None for this layer's own MemoryCircuitBackend; a
            shared MemoryCircuitBackend for every stack of the process; a
            RedisCircuitBackend for every process. The layer never closes it.
        key: the circuit's name in the backend; None for `provider:model` from `info`.
        counted: the error classes that count as failures.
        meter_provider: where the transition counter goes; None uses the global one.
        clock: monotonic seconds, for the window and cooldown of an in-process backend.
    """

    repr_options = ("failure_threshold", "window", "cooldown")

    def __init__(
        self,
        inner: LLMProvider,
        *,
        failure_threshold: int = 5,
        window: float = 30.0,
        cooldown: float = 30.0,
        half_open_max: int = 1,
        failure_ratio: float | None = None,
        minimum_calls: int | None = None,
        backend: CircuitBackend | None = None,
        key: str | None = None,
        counted: Sequence[type[LLMError]] = DEFAULT_COUNTED,
        meter_provider: metrics.MeterProvider | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inner)
        if failure_ratio is not None and (
            isinstance(failure_ratio, bool)
            or not isinstance(failure_ratio, int | float)
            or not 0 < failure_ratio <= 1
        ):
            raise ValueError(
                f"failure_ratio must be a number in (0, 1] or None, got {failure_ratio!r}"
            )
        if minimum_calls is not None and failure_ratio is None:
            raise ValueError("minimum_calls applies only with failure_ratio; set both or neither")
        if minimum_calls is None:
            minimum_calls = DEFAULT_MINIMUM_CALLS if failure_ratio is not None else 1
        for option, value in (
            ("failure_threshold", failure_threshold),
            ("half_open_max", half_open_max),
            ("minimum_calls", minimum_calls),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{option} must be an int >= 1, got {value!r}")
        policy = CircuitPolicy(
            failure_threshold=failure_threshold,
            window=check_seconds("window", window, positive=True),
            cooldown=check_seconds("cooldown", cooldown, positive=True),
            half_open_max=half_open_max,
            failure_ratio=None if failure_ratio is None else float(failure_ratio),
            minimum_calls=minimum_calls,
        )
        if backend is not None and not isinstance(backend, CircuitBackend):
            raise TypeError(f"backend must be a CircuitBackend, got {type(backend).__name__}")
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"key must be a non-empty string or None, got {key!r}")
        if isinstance(counted, type) or not all(
            isinstance(cls, type) and issubclass(cls, LLMError) for cls in counted
        ):
            raise TypeError(f"counted must be a sequence of LLMError classes, got {counted!r}")
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        info = inner.info
        self.policy = policy
        self.failure_threshold = failure_threshold
        self.window = policy.window
        self.cooldown = policy.cooldown
        self.half_open_max = half_open_max
        self.failure_ratio = policy.failure_ratio
        self.minimum_calls = minimum_calls
        self.backend: CircuitBackend = backend if backend is not None else MemoryCircuitBackend()
        self.key = key or (f"{info.name}:{info.model}" if info.model else info.name)
        self.counted = tuple(counted)
        self.clock = clock
        self._attributes = {
            sc.PROVIDER_NAME: info.otel_provider_name or info.name,
            sc.REQUEST_MODEL: info.model or "",
        }
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(sc.SCOPE_NAME)
        self._transitions = meter.create_counter(
            sc.CIRCUIT_TRANSITIONS,
            unit=sc.CIRCUIT_TRANSITIONS_UNIT,
            description=sc.CIRCUIT_TRANSITIONS_DESCRIPTION,
        )

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Calls the inner handler if the circuit admits it, and records how it went."""
        admission = await self._admit()
        try:
            response = await self.inner.complete(request)
        except LLMError as error:
            await self._record(admission, self._judge(error))
            raise
        except BaseException:
            await self._record(admission, "abandoned")
            raise
        await self._record(admission, "success")
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Streams if the circuit admits it; the outcome is recorded when the stream ends."""
        admission = await self._admit()
        outcome: Outcome = "abandoned"
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, StreamEnd):
                    outcome = "success"
                yield event
            outcome = "success"
        except LLMError as error:
            outcome = self._judge(error)
            raise
        finally:
            try:
                await events.aclose()
            finally:
                await self._record(admission, outcome)

    async def state(self) -> CircuitState:
        """Returns this layer's circuit state as its backend holds it."""
        return await self.backend.state(self.key)

    def describe(self) -> str:
        """Returns this layer alone, e.g. `CircuitBreaker(failure_threshold=5, window=30, ...)`,
        with `failure_ratio` and `minimum_calls` when the ratio rule is on."""
        shown: tuple[str, ...] = self.repr_options
        if self.failure_ratio is not None:
            shown += ("failure_ratio", "minimum_calls")
        options = ", ".join(f"{option}={format_option(getattr(self, option))}" for option in shown)
        return f"CircuitBreaker({options})"

    def _judge(self, error: LLMError) -> Outcome:
        """A counted error is the vendor failing; any other error means it answered."""
        return "failure" if isinstance(error, self.counted) else "success"

    async def _admit(self) -> Admission:
        """Asks the backend; raises CircuitOpenError when the circuit refuses the call."""
        admission = await self.backend.admit(self.key, self.policy, now=self.clock())
        if admission.entered is not None:
            self._announce(admission.entered)
        if admission.allowed:
            return admission
        if admission.retry_after is not None:
            why = f"for another {admission.retry_after:.3g}s after repeated failures"
        else:
            why = "half-open, its probe calls still running"
        raise CircuitOpenError(
            f"the circuit for {self.key} is open {why}",
            provider=self.name,
            retry_after=admission.retry_after,
            error_type="circuit_open",
            should_retry=False,
        )

    async def _record(self, admission: Admission, outcome: Outcome) -> None:
        """Reports an admitted call's outcome; announces the state it moved the circuit to."""
        if outcome == "abandoned" and not admission.probe:
            return
        entered = await self.backend.record(
            self.key, self.policy, admission, outcome, now=self.clock()
        )
        if entered is not None:
            self._announce(entered)

    def _announce(self, state: CircuitState) -> None:
        """Makes a transition visible: a log line, a span event and one count on the metric."""
        level = logging.WARNING if state is CircuitState.open else logging.INFO
        logger.log(level, "circuit %s is now %s", self.key, state)
        attributes = {**self._attributes, sc.CIRCUIT_STATE: str(state)}
        trace.get_current_span().add_event(sc.CIRCUIT_EVENT, attributes)
        self._transitions.add(1, attributes)
