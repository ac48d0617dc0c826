"""The fault plan (scripted or seeded) and the counters of what the fake server served."""

from __future__ import annotations

import enum
import random
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping

import msgspec

__all__ = [
    "ATTEMPT_HEADER",
    "STREAM_ONLY",
    "Fault",
    "FaultPlan",
    "ServedRecord",
    "ServerStats",
    "StatsCounter",
]

ATTEMPT_HEADER = "x-ashford-attempt"
"""The request header a client may set to name its attempt; the server records its value.

The value is opaque to the server. The demo and the soak send `<call id>/<attempt number>`
(see `evidence.py`), so each failed attempt can be matched to the fault injected into it, even
when the server dropped the connection and sent no response (and so no request id).
"""


class Fault(enum.StrEnum):
    """A way the fake server can misbehave for one request."""

    rate_limit = "rate_limit"
    quota_exhausted = "quota_exhausted"
    server_error = "server_error"
    unavailable = "unavailable"
    overloaded = "overloaded"
    slow_first_byte = "slow_first_byte"
    stall = "stall"
    cut_stream = "cut_stream"
    mid_stream_error = "mid_stream_error"
    malformed_json = "malformed_json"
    html_error = "html_error"
    dropped_connection = "dropped_connection"


STREAM_ONLY = frozenset({Fault.stall, Fault.cut_stream, Fault.mid_stream_error})
"""Faults that only a stream can show; a plain request drawn one is answered normally."""


class FaultPlan:
    """Decides each request's fault: the script first, in order, then seeded random draws.

    `script` items are faults or None (a normal answer). When the script is used up, each
    request fails with probability `fault_rate`, the kind drawn from `faults` (kind -> weight;
    default: every kind equally) by `random.Random(seed)`, so a run is reproducible.
    """

    def __init__(
        self,
        *,
        script: Iterable[Fault | str | None] = (),
        fault_rate: float = 0.0,
        faults: Mapping[Fault | str, float] | None = None,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within [0, 1], got {fault_rate!r}")
        self._script: deque[Fault | None] = deque(
            None if item is None else Fault(item) for item in script
        )
        weights = {
            Fault(kind): float(w) for kind, w in (faults or dict.fromkeys(Fault, 1.0)).items()
        }
        if any(w < 0 for w in weights.values()) or (fault_rate > 0 and sum(weights.values()) <= 0):
            raise ValueError("fault weights must be non-negative with a positive sum")
        self._kinds = [kind for kind, w in weights.items() if w > 0]
        self._weights = [weights[kind] for kind in self._kinds]
        self._fault_rate = fault_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def next(self, *, stream: bool) -> Fault | None:
        """Returns the fault for the next request (None: answer normally)."""
        with self._lock:
            if self._script:
                fault = self._script.popleft()
            elif self._fault_rate > 0 and self._random.random() < self._fault_rate:
                fault = self._random.choices(self._kinds, self._weights)[0]
            else:
                fault = None
        if fault in STREAM_ONLY and not stream:
            return None
        return fault


class ServedRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One request the server answered: what it asked for, which fault, what text went out.

    `text` is the answer text sent (partial for a cut or broken stream, "" for an error reply);
    `ok` is True when a complete, successful answer was sent. `attempt` is the value of the
    request's `x-ashford-attempt` header (None when it had none); `request_id` is the id the
    server gave the request, as its vendor's request-id header carries it ("" for a dropped
    connection, which sends nothing).
    """

    vendor: str
    model: str
    stream: bool
    fault: Fault | None
    status: int
    text: str
    ok: bool
    attempt: str | None = None
    request_id: str = ""


class ServerStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the server's counters."""

    requests: int
    successes: int
    by_vendor: dict[str, int]
    faults: dict[str, int]
    records: tuple[ServedRecord, ...]


class StatsCounter:
    """Thread-safe counters (the server may run under uvicorn in another thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[ServedRecord] = []

    def add(self, record: ServedRecord) -> None:
        """Counts one served request."""
        with self._lock:
            self._records.append(record)

    def reset(self) -> None:
        """Forgets everything counted so far."""
        with self._lock:
            self._records.clear()

    def snapshot(self) -> ServerStats:
        """Returns the counters as they are now."""
        with self._lock:
            records = tuple(self._records)
        return ServerStats(
            requests=len(records),
            successes=sum(record.ok for record in records),
            by_vendor=dict(Counter(record.vendor for record in records)),
            faults=dict(Counter(str(r.fault) for r in records if r.fault is not None)),
            records=records,
        )
