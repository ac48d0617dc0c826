"""Evidence: each failed attempt of a call matched to the fault the fake server injected into it.

The server records, per request, the fault it injected and the value of the client's
`x-ashford-attempt` header (`ServedRecord.attempt`). A client that wants proof rather than a
count runs each call inside `track_call(call_id)`, gives its `httpx.AsyncClient` the request
hook `tag_attempt` (which sends `<call id>/<attempt number>`) and gives Retry the `on_retry`
hook `note_retry` (which notes each retried attempt's error), and a Fallback the `on_fallback`
hook `note_fallback` (which notes the error of the last attempt on the provider it left; the
next provider's attempts carry on the numbering). `CallTrace.finish` notes how the call
ended; `unexplained(trace, index_records(stats.records))` then lists every failure or retry
that the fault injected on that attempt does not explain, by `FAULT_OUTCOMES`. A fault an
outage of the vendor injected is explained the same way (the record says it was an outage).
An attempt a CircuitBreaker refused (`CircuitOpenError`) never reached the server: it is
explained only when the server has no record of it (the failures that opened the circuit
are each proved on their own attempts).

    async with httpx.AsyncClient(event_hooks={"request": [tag_attempt]}) as client:
        stack = Retry(provider_over(client), on_retry=note_retry)
        with track_call("7") as trace:
            try:
                await stack.complete(request)
            except LLMError as error:
                trace.finish(error)
            else:
                trace.finish(None)
    problems = unexplained(trace, index_records(server.stats.records))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeAlias

import msgspec

from ashford_llm.errors import (
    CircuitOpenError,
    LLMError,
    LLMTimeoutError,
    MidStreamError,
    NetworkError,
    QuotaExhaustedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)
from ashford_llm.testing.fake_server.faults import ATTEMPT_HEADER, Fault, ServedRecord

if TYPE_CHECKING:
    import httpx

    from ashford_llm.middleware import FallbackEvent, RetryEvent

__all__ = [
    "FAULT_OUTCOMES",
    "Attempt",
    "CallTrace",
    "index_records",
    "note_fallback",
    "note_retry",
    "tag_attempt",
    "track_call",
    "unexplained",
]

Outcome: TypeAlias = type[BaseException] | None
"""How an attempt ended: the class of its error, or None when it answered."""

FAULT_OUTCOMES: Mapping[Fault, frozenset[Outcome]] = MappingProxyType(
    {
        Fault.rate_limit: frozenset({RateLimitError}),
        Fault.quota_exhausted: frozenset({QuotaExhaustedError}),
        Fault.server_error: frozenset({ServerError}),
        Fault.unavailable: frozenset({ServerError}),
        Fault.overloaded: frozenset({ServerError}),
        Fault.html_error: frozenset({ServerError}),  # a 502 status, whatever the body
        Fault.malformed_json: frozenset({ResponseDecodeError}),
        Fault.dropped_connection: frozenset({NetworkError}),
        # Delays: the attempt answers unless the delay outlasts a Timeout.
        Fault.slow_first_byte: frozenset({None, LLMTimeoutError}),
        Fault.stall: frozenset({None, LLMTimeoutError, MidStreamError}),
        # Broken streams: MidStreamError once any event reached the caller, text or a tool
        # call's fragment (its cause must fit too; its partial text is "" for a call).
        Fault.cut_stream: frozenset({ResponseDecodeError, MidStreamError}),
        Fault.mid_stream_error: frozenset({ServerError, MidStreamError}),
    }
)
"""Each fault -> the outcomes it may cause on the attempt it was injected into (exact classes).

An attempt the server injected no fault into may only answer. A MidStreamError's cause (the
error that broke the stream) must also be an outcome of the fault.
"""

_NO_FAULT: frozenset[Outcome] = frozenset({None})
_MESSAGE_CHARS = 160


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """How one attempt ended on the client side.

    `error` is the error's class (None: it answered); `cause` the class of the error that
    broke a stream (a MidStreamError's cause); `partial_text` a MidStreamError's text;
    `request_id` the server's request id the error carries, if any; `message` the start of
    the error's message, which tells why an unexplained failure happened.
    """

    error: Outcome = None
    cause: Outcome = None
    partial_text: str | None = None
    request_id: str | None = None
    message: str = ""

    @classmethod
    def of(cls, error: BaseException | None) -> Attempt:
        """Returns the attempt that ended in `error` (None: answered)."""
        if error is None:
            return cls()
        message = str(error.args[0] if error.args else error)[:_MESSAGE_CHARS]
        if not isinstance(error, LLMError):
            return cls(error=type(error), message=message)
        cause = error.__cause__ if isinstance(error, MidStreamError) else None
        return cls(
            error=type(error),
            cause=None if cause is None else type(cause),
            partial_text=error.partial_text if isinstance(error, MidStreamError) else None,
            request_id=error.request_id,
            message=message,
        )

    def describe(self) -> str:
        """Names the outcome: "answered" or the error's class (and a MidStreamError's cause)."""
        if self.error is None:
            return "answered"
        if self.cause is None:
            return self.error.__name__
        return f"{self.error.__name__} ({self.cause.__name__})"


class CallTrace:
    """One call's attempts as the client saw them, noted by the hooks while it runs.

    `attempt` is the number of the attempt now running (1 until Retry retries); `attempts`
    maps each ended attempt's number to its outcome.
    """

    __slots__ = ("attempt", "attempts", "call_id")

    def __init__(self, call_id: str) -> None:
        if not call_id or "/" in call_id:
            raise ValueError(f"call_id must be non-empty and without '/', got {call_id!r}")
        self.call_id = call_id
        self.attempt = 1
        self.attempts: dict[int, Attempt] = {}

    def __repr__(self) -> str:
        return f"CallTrace(call_id={self.call_id!r}, attempt={self.attempt})"

    @property
    def header(self) -> str:
        """The `x-ashford-attempt` value of the attempt now running: `<call id>/<number>`."""
        return f"{self.call_id}/{self.attempt}"

    def retried(self, attempt: int, error: BaseException) -> None:
        """Notes that `attempt` failed with `error` and the next attempt starts."""
        self.attempts[attempt] = Attempt.of(error)
        self.attempt = attempt + 1

    def finish(self, error: BaseException | None) -> None:
        """Notes how the last attempt ended: its error, or None when the call answered."""
        self.attempts[self.attempt] = Attempt.of(error)

    @property
    def refused(self) -> int:
        """How many attempts an open circuit refused (they sent no request)."""
        return sum(attempt.error is CircuitOpenError for attempt in self.attempts.values())

    @property
    def sent(self) -> int:
        """How many attempts sent a request: every attempt but the refused ones."""
        return self.attempt - self.refused


_CURRENT: ContextVar[CallTrace | None] = ContextVar("ashford_llm_call_trace", default=None)


@contextmanager
def track_call(call_id: str) -> Iterator[CallTrace]:
    """Makes a new CallTrace the current one (for the hooks) while the block runs."""
    trace = CallTrace(call_id)
    token = _CURRENT.set(trace)
    try:
        yield trace
    finally:
        _CURRENT.reset(token)


async def tag_attempt(request: httpx.Request) -> None:
    """An httpx request hook: names the current call's attempt in the `x-ashford-attempt` header."""
    trace = _CURRENT.get()
    if trace is not None:
        request.headers[ATTEMPT_HEADER] = trace.header


def note_retry(event: RetryEvent) -> None:
    """Retry's `on_retry` hook: notes the failed attempt's error in the current CallTrace.

    The trace numbers attempts itself, across providers: under a Fallback, each provider's
    Retry counts its own attempts from 1, and the trace's number goes on.
    """
    trace = _CURRENT.get()
    if trace is not None:
        trace.retried(trace.attempt, event.error)


def note_fallback(event: FallbackEvent) -> None:
    """Fallback's `on_fallback` hook: notes the left provider's last error; numbering goes on."""
    trace = _CURRENT.get()
    if trace is not None:
        trace.retried(trace.attempt, event.error)


def index_records(records: Iterable[ServedRecord]) -> dict[str, dict[int, list[ServedRecord]]]:
    """Groups the server's records by the attempt header: call id -> attempt number -> records.

    Records without a `<call id>/<number>` header are left out.
    """
    index: dict[str, dict[int, list[ServedRecord]]] = {}
    for record in records:
        call_id, slash, number = (record.attempt or "").rpartition("/")
        if slash and call_id and number.isdigit():
            index.setdefault(call_id, {}).setdefault(int(number), []).append(record)
    return index


def unexplained(
    trace: CallTrace, index: Mapping[str, Mapping[int, list[ServedRecord]]]
) -> list[str]:
    """Lists each attempt of the call whose outcome the server's record of it does not explain.

    Every attempt must have exactly one server record; its outcome must be one the injected
    fault causes (`FAULT_OUTCOMES`; an attempt with no fault must answer, with a complete
    answer sent); a MidStreamError's text must be what the server sent, and an error's request
    id the one the server gave. The server must have seen no attempt the client did not make.
    """
    problems: list[str] = []
    seen = index.get(trace.call_id, {})
    for number in range(1, trace.attempt + 1):
        where = f"call {trace.call_id} attempt {number}"
        attempt = trace.attempts.get(number)
        if attempt is None:
            problems.append(f"{where}: the client noted no outcome")
            continue
        records = seen.get(number, [])
        if attempt.error is CircuitOpenError:
            if records:
                problems.append(
                    f"{where}: refused by an open circuit, but the server recorded "
                    f"{len(records)} requests for it"
                )
            continue
        if len(records) != 1:
            problems.append(
                f"{where}: {attempt.describe()}, but the server recorded "
                f"{len(records)} requests for it"
            )
            continue
        problem = _mismatch(attempt, records[0])
        if problem:
            problems.append(f"{where}: {problem}")
    problems += [
        f"call {trace.call_id} attempt {number}: the server saw an attempt the client never made"
        for number in sorted(seen)
        if not 1 <= number <= trace.attempt
    ]
    return problems


def _mismatch(attempt: Attempt, record: ServedRecord) -> str | None:
    """Says how an attempt's outcome contradicts the server's record of it, if it does."""
    fault = record.fault
    allowed = _NO_FAULT if fault is None else FAULT_OUTCOMES.get(fault, frozenset())
    if record.outage:
        injected = f"an outage of {record.vendor} injected {fault}"
    else:
        injected = f"the server injected {fault}" if fault else "the server injected no fault"
    if attempt.error not in allowed or (attempt.cause is not None and attempt.cause not in allowed):
        return f"{attempt.describe()}, but {injected} ({attempt.message})"
    if attempt.error is None and not record.ok:
        return "answered, but the server sent no complete answer"
    if attempt.partial_text is not None and not record.text.startswith(attempt.partial_text):
        return f"{attempt.describe()} carries text the server did not send"
    if attempt.request_id and record.request_id and attempt.request_id != record.request_id:
        return (
            f"the error names request {attempt.request_id}, the server's record {record.request_id}"
        )
    return None
