"""Where circuit state lives: the `CircuitBackend` seam and the in-process `MemoryCircuitBackend`.

A circuit is closed (calls pass, failures are counted in a sliding window, and successes too
when the policy has a `failure_ratio`), open (calls are refused until the cooldown ends) or
half-open (up to `half_open_max` probe calls pass; the first to succeed closes the circuit,
the first to fail opens it again). The layer asks
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
    """The layer's settings a backend applies: seconds, and counts of calls.

    With `failure_ratio` None a closed circuit opens at `failure_threshold` failures within
    `window`. With a `failure_ratio` it opens, as a failure is recorded, when within `window`
    all three hold: at least `minimum_calls` outcomes (failures and successes), failures /
    outcomes >= `failure_ratio`, and failures >= `failure_threshold`.
    """

    failure_threshold: int
    window: float
    cooldown: float
    half_open_max: int
    failure_ratio: float | None = None
    minimum_calls: int = 1

    def trips(self, failures: int, successes: int) -> bool:
        """Says whether these counts, within one window, open a closed circuit."""
        if failures < self.failure_threshold:
            return False
        if self.failure_ratio is None:
            return True
        calls = failures + successes
        return calls >= self.minimum_calls and failures / calls >= self.failure_ratio


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
    successes: deque[float] = field(default_factory=deque)
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
        """Counts an outcome (a failure may open the circuit) or ends a probe (closing or
        reopening); successes are counted only when the policy has a `failure_ratio`."""
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
        if outcome == "abandoned" or circuit.state is not CircuitState.closed:
            return None
        if outcome == "success" and policy.failure_ratio is None:
            return None
        (circuit.failures if outcome == "failure" else circuit.successes).append(now)
        for times in (circuit.failures, circuit.successes):
            while times and times[0] <= now - policy.window:
                times.popleft()
        if outcome != "failure" or not policy.trips(len(circuit.failures), len(circuit.successes)):
            return None
        self._open(circuit, now)
        return CircuitState.open

    async def state(self, key: str) -> CircuitState:
        """Returns the circuit's state (closed for a key never seen)."""
        circuit = self._circuits.get(key)
        return CircuitState.closed if circuit is None else circuit.state

    @staticmethod
    def _open(circuit: _Circuit, now: float) -> None:
        """Opens the circuit now, forgetting its counted outcomes and probes."""
        circuit.state, circuit.opened_at, circuit.probes = CircuitState.open, now, 0
        circuit.failures.clear()
        circuit.successes.clear()

    def __repr__(self) -> str:
        return f"MemoryCircuitBackend(circuits={len(self._circuits)})"
