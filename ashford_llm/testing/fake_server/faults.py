"""The fault plan (scripted or seeded) and the counters of what the fake server served."""

from __future__ import annotations

import enum
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping

import msgspec

__all__ = [
    "ATTEMPT_HEADER",
    "OUTAGE_FAULTS",
    "OUTAGE_VENDORS",
    "STREAM_ONLY",
    "Fault",
    "FaultPlan",
    "Outage",
    "OutageSchedule",
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


OUTAGE_FAULTS = frozenset({Fault.server_error, Fault.unavailable, Fault.overloaded})
"""The status faults an outage may answer every request with (500, 503, 529 on Anthropic)."""

OUTAGE_VENDORS = frozenset({"openai", "anthropic", "gemini"})
"""The vendor names an outage may name (the server's wire formats; Google's is "gemini")."""


class Outage(msgspec.Struct, frozen=True, kw_only=True):
    """One vendor failing every request with `fault` for `seconds`.

    It starts `after` seconds past the server's first request (so a slow start-up does not
    eat it), or when `FakeProviderServer.begin_outage` is called. The FaultPlan is not drawn
    from meanwhile, and each request it fails is recorded with `outage=True`.
    """

    vendor: str
    seconds: float
    after: float = 0.0
    fault: Fault = Fault.unavailable

    def __post_init__(self) -> None:
        if self.vendor == "google":
            msgspec.structs.force_setattr(self, "vendor", "gemini")
        if self.vendor not in OUTAGE_VENDORS:
            raise ValueError(
                f"an outage names a vendor ({', '.join(sorted(OUTAGE_VENDORS))}), "
                f"got {self.vendor!r}"
            )
        for option in ("seconds", "after"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"outage {option} must be a number >= 0, got {value!r}")
        fault = Fault(self.fault)
        if fault not in OUTAGE_FAULTS:
            raise ValueError(
                f"an outage answers with one of {sorted(map(str, OUTAGE_FAULTS))}, got {fault}"
            )
        msgspec.structs.force_setattr(self, "fault", fault)

    @classmethod
    def parse(cls, text: str) -> Outage:
        """Reads the command line's `VENDOR:SECONDS[:AFTER[:FAULT]]`, e.g. `anthropic:5:2`."""
        vendor, *numbers = text.split(":")
        if not 1 <= len(numbers) <= 3:
            raise ValueError(f"an outage is VENDOR:SECONDS[:AFTER[:FAULT]], got {text!r}")
        try:
            seconds = float(numbers[0])
            after = float(numbers[1]) if len(numbers) > 1 else 0.0
        except ValueError:
            raise ValueError(f"an outage's seconds must be numbers, got {text!r}") from None
        fault = Fault(numbers[2]) if len(numbers) > 2 else Fault.unavailable
        return cls(vendor=vendor, seconds=seconds, after=after, fault=fault)


class OutageSchedule:
    """The outages of one server: which fault, if any, a request to a vendor gets now."""

    def __init__(
        self, outages: Iterable[Outage] = (), *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._pending = list(outages)
        self._active: list[tuple[str, float, float, Fault]] = []  # vendor, from, until, fault
        self._clock = clock
        self._lock = threading.Lock()

    def begin(self, vendor: str, seconds: float, fault: Fault | str = Fault.unavailable) -> None:
        """Starts an outage of `vendor` now, for `seconds`."""
        outage = Outage(vendor=vendor, seconds=seconds, fault=Fault(fault))
        now = self._clock()
        with self._lock:
            self._active.append((outage.vendor, now, now + outage.seconds, outage.fault))

    def fault(self, vendor: str) -> Fault | None:
        """Returns the fault an outage of `vendor` answers with now, or None."""
        now = self._clock()
        with self._lock:
            if self._pending:  # the first request starts the scheduled outages' clocks
                for outage in self._pending:
                    start = now + outage.after
                    self._active.append(
                        (outage.vendor, start, start + outage.seconds, outage.fault)
                    )
                self._pending.clear()
            for name, start, until, fault in self._active:
                if name == vendor and start <= now < until:
                    return fault
        return None


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
    connection, which sends nothing). `outage` says the fault came from an outage of the
    vendor, not from the FaultPlan.
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
    outage: bool = False


class ServerStats(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the server's counters; `outage_failures` counts, per vendor, the requests
    an outage failed (their faults are in `faults` too)."""

    requests: int
    successes: int
    by_vendor: dict[str, int]
    faults: dict[str, int]
    records: tuple[ServedRecord, ...]
    outage_failures: dict[str, int] = {}


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
            outage_failures=dict(Counter(r.vendor for r in records if r.outage)),
        )
