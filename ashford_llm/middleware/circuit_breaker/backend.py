"""Where circuit state lives: the `CircuitBackend` seam and the in-process `MemoryCircuitBackend`.

A circuit is closed (calls pass, failures are counted in a sliding window), open (calls are
refused until the cooldown ends) or half-open (up to `half_open_max` probe calls pass; the
first to succeed closes the circuit, the first to fail opens it again). The layer asks
`admit` before each call and reports the call's `Outcome` to `record` after it; both return
the state entered, if the call moved the circuit, so the layer can announce it. A backend
keeps one circuit per key (the layer's provider and model), so one backend can serve every
stack of a process (`MemoryCircuitBackend`) or of a fleet (`RedisCircuitBackend`).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import msgspec

__all__ = [
    "Admission",
    "CircuitBackend",
    "CircuitPolicy",
    "CircuitState",
    "MemoryCircuitBackend",
    "Outcome",
]

Outcome: TypeAlias = Literal["success", "failure", "abandoned"]
"""How an admitted call ended for the circuit: the vendor answered, failed, or nobody knows."""


class CircuitState(enum.StrEnum):
    """The three states of a circuit."""

    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The layer's settings a backend applies: seconds, and counts of calls."""

    failure_threshold: int
    window: float
    cooldown: float
    half_open_max: int


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """A backend's answer to one call: may it go, is it a probe, what state was entered.

    `retry_after` is the cooldown left when an open circuit refuses (None when a half-open
    circuit refuses because its probes are in flight); `entered` the state this admission
    moved the circuit into (half-open after the cooldown), else None.
    """

    allowed: bool
    probe: bool = False
    retry_after: float | None = None
    entered: CircuitState | None = None


@runtime_checkable
class CircuitBackend(Protocol):
    """Keeps circuits by key; decides admissions and applies outcomes atomically."""

    async def admit(self, key: str, policy: CircuitPolicy, *, now: float) -> Admission:
        """Decides whether a call may go now; may move an open circuit to half-open."""
        ...

    async def record(
        self, key: str, policy: CircuitPolicy, admission: Admission, outcome: Outcome, *, now: float
    ) -> CircuitState | None:
        """Applies an admitted call's outcome; returns the state entered, if it moved."""
        ...

    async def state(self, key: str) -> CircuitState:
        """Returns the circuit's state as it stands (open stays open until a call admits)."""
        ...


@dataclass
class _Circuit:
    """One circuit's state in memory."""

    state: CircuitState = CircuitState.closed
    failures: deque[float] = field(default_factory=deque)
    opened_at: float = 0.0
    probes: int = 0


class MemoryCircuitBackend:
    """Keeps circuits in this process; share one instance to share circuits between stacks.

    Every method runs without awaiting, so in one event loop each is atomic. `now` is the
    layer's clock (monotonic seconds), which tests replace with virtual time.
    """

    def __init__(self) -> None:
        self._circuits: dict[str, _Circuit] = {}

    async def admit(self, key: str, policy: CircuitPolicy, *, now: float) -> Admission:
        """Lets a closed circuit's call go; opens to half-open after the cooldown; refuses."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.state is CircuitState.closed:
            return Admission(allowed=True)
        entered = None
        if circuit.state is CircuitState.open:
            left = circuit.opened_at + policy.cooldown - now
            if left > 0:
                return Admission(allowed=False, retry_after=left)
            entered = circuit.state = CircuitState.half_open
            circuit.probes = 0
        if circuit.probes < policy.half_open_max:
            circuit.probes += 1
            return Admission(allowed=True, probe=True, entered=entered)
        return Admission(allowed=False, entered=entered)

    async def record(
        self, key: str, policy: CircuitPolicy, admission: Admission, outcome: Outcome, *, now: float
    ) -> CircuitState | None:
        """Counts a failure (opening at the threshold) or ends a probe (closing or reopening)."""
        circuit = self._circuits.setdefault(key, _Circuit())
        if admission.probe:
            if circuit.state is not CircuitState.half_open:
                return None  # the circuit moved on while the probe ran
            if outcome == "abandoned":
                circuit.probes = max(circuit.probes - 1, 0)
                return None
            if outcome == "success":
                self._circuits[key] = _Circuit()
                return CircuitState.closed
            self._open(circuit, now)
            return CircuitState.open
        if outcome != "failure" or circuit.state is not CircuitState.closed:
            return None
        failures = circuit.failures
        failures.append(now)
        while failures and failures[0] <= now - policy.window:
            failures.popleft()
        if len(failures) < policy.failure_threshold:
            return None
        self._open(circuit, now)
        return CircuitState.open

    async def state(self, key: str) -> CircuitState:
        """Returns the circuit's state (closed for a key never seen)."""
        circuit = self._circuits.get(key)
        return CircuitState.closed if circuit is None else circuit.state

    @staticmethod
    def _open(circuit: _Circuit, now: float) -> None:
        """Opens the circuit now, forgetting its counted failures and probes."""
        circuit.state, circuit.opened_at, circuit.probes = CircuitState.open, now, 0
        circuit.failures.clear()

    def __repr__(self) -> str:
        return f"MemoryCircuitBackend(circuits={len(self._circuits)})"
