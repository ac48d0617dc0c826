"""Timeout: gives up on a call or stream whose deadline passed, with an LLMTimeoutError.

Where it belongs: inside Retry to bound one attempt (LLMTimeoutError is retryable, so the
attempt is tried again; a stream that stalls after text becomes Retry's MidStreamError), or
outside Retry to bound the whole call, backoff waits included. Both can be used at once.

On expiry the inner call is cancelled where it waits and an inner stream is closed, so its
cleanup runs (the HTTP connection goes back to the pool) and no task is left behind. No
task is started: a deadline cancels the caller's own task where it waits, as
`asyncio.timeout` does, and a stream keeps one timer for all its events, not one per event.

What resets `idle`: any event the inner stream yields, which today is a TextDelta or the
StreamEnd (and would be any other kind of event a provider comes to yield). A vendor's
keep-alives never do: Anthropic's `ping` events and SSE comment lines are consumed by the
provider, which yields nothing for them, so this layer never sees them. That is deliberate:
a vendor that sends only keep-alives is stalled from the caller's point of view, and `idle`
bounds the gap between events the caller can use, not the gap between bytes on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from ashford_llm.errors import LLMTimeoutError
from ashford_llm.middleware._base import Middleware, check_seconds, format_option
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEvent

__all__ = ["Timeout"]


class Timeout(Middleware):
    """Bounds a call by `total`, and a stream also by `first_token` and `idle`.

    A cancellation from outside stays a cancellation; an inner TimeoutError that is not
    this layer's deadline passes through unchanged.

    Args:
        inner: the handler to call.
        total: seconds for a whole call or stream, from its start; None for no limit.
        first_token: seconds a stream may wait for its first event; None for no limit.
        idle: seconds a stream may wait for each later event; None for no limit. Time the
            caller spends between reading events does not count against it, and neither do
            vendor keep-alives (Anthropic pings, SSE comments), which yield no event.
    """

    repr_options = ("total", "first_token", "idle")

    def __init__(
        self,
        inner: LLMProvider,
        *,
        total: float | None = 120.0,
        first_token: float | None = None,
        idle: float | None = None,
    ) -> None:
        super().__init__(inner)
        self.total = check_seconds("total", total, positive=True, allow_none=True)
        self.first_token = check_seconds("first_token", first_token, positive=True, allow_none=True)
        self.idle = check_seconds("idle", idle, positive=True, allow_none=True)
        if total is None and first_token is None and idle is None:
            raise ValueError("Timeout needs at least one of total, first_token or idle")

    def describe(self) -> str:
        """Returns this layer alone with the deadlines that are set, e.g. `Timeout(total=30)`."""
        options = ", ".join(
            f"{option}={format_option(value)}"
            for option in self.repr_options
            if (value := getattr(self, option)) is not None
        )
        return f"Timeout({options})"

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Returns the inner answer, or raises LLMTimeoutError once `total` has passed."""
        if self.total is None:
            return await self.inner.complete(request)
        loop = asyncio.get_running_loop()
        deadline = _Deadline(loop)
        deadline.enter(loop.time() + self.total)
        try:
            response = await self.inner.complete(request)
        except BaseException as error:
            deadline.close()
            if deadline.exit(error):
                raise self._error(
                    f"the call took longer than total={format_option(self.total)}s"
                ) from _expiry(error)
            raise
        deadline.close()
        deadline.exit(None)
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yields the inner events, each within its deadline, closing the inner stream early."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        total_at = None if self.total is None else started + self.total
        events = self.inner.stream(request)
        deadline = _Deadline(loop)
        first = True
        try:
            while True:
                now = loop.time()
                limit, step = ("first_token", self.first_token) if first else ("idle", self.idle)
                when = None if step is None else now + step
                if total_at is not None and (when is None or total_at <= when):
                    limit, step, when = "total", self.total, total_at
                    if now >= total_at:
                        raise self._expired(limit, step)
                if when is not None:
                    deadline.enter(when)
                try:
                    event = await anext(events)
                except BaseException as error:
                    if deadline.exit(error):
                        raise self._expired(limit, step) from _expiry(error)
                    if isinstance(error, StopAsyncIteration):
                        return
                    raise
                deadline.exit(None)
                first = False
                yield event
        finally:
            deadline.close()
            await events.aclose()

    def _expired(self, limit: str, seconds: float | None) -> LLMTimeoutError:
        """Builds the error for a stream deadline that passed."""
        what = {
            "first_token": "no first event arrived within",
            "idle": "no event arrived within",
            "total": "the stream took longer than",
        }[limit]
        return self._error(f"{what} {limit}={format_option(seconds)}s")

    def _error(self, message: str) -> LLMTimeoutError:
        """Builds an LLMTimeoutError naming the provider."""
        return LLMTimeoutError(message, provider=self.name)


def _expiry(cancelled: BaseException) -> TimeoutError:
    """The TimeoutError `asyncio.timeout` would raise for the cancellation a deadline caused."""
    error = TimeoutError()
    error.__cause__ = cancelled
    return error


class _Deadline:
    """The deadline of the waits of one call or stream, kept by at most one timer.

    Like `asyncio.timeout`, it cancels the task waiting on the inner handler once the
    deadline passes and tells the cancellation it caused from any other. Unlike it, moving
    the deadline (each event of a stream) schedules nothing: the one timer, when it fires
    before the deadline then in force, sets itself again for that deadline. A stream of a
    thousand events so pays for one timer, not a thousand.
    """

    __slots__ = ("_cancelling", "_fired", "_handle", "_loop", "_task", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0
        self._task: asyncio.Task[object] | None = None  # the waiting task; None between waits
        self._cancelling = 0
        self._fired = False

    def enter(self, when: float) -> None:
        """Starts a wait of the current task that must end by `when` (the loop's time)."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Timeout must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._when = when
        handle = self._handle
        if handle is None or handle.when() > when:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(when, self._on_timer)

    def exit(self, error: BaseException | None) -> bool:
        """Ends the wait; says whether `error` is the cancellation this deadline caused.

        As `asyncio.timeout` does, a cancellation requested from outside while the deadline
        fired stays a cancellation.
        """
        task, self._task = self._task, None
        if not self._fired or task is None:
            return False
        self._fired = False
        return task.uncancel() <= self._cancelling and isinstance(error, asyncio.CancelledError)

    def close(self) -> None:
        """Drops the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_timer(self) -> None:
        """Cancels the waiting task if the deadline has passed; else waits for the new one."""
        self._handle = None
        task = self._task
        if task is None:  # between waits: the next wait sets the timer again
            return
        if self._loop.time() < self._when:
            self._handle = self._loop.call_at(self._when, self._on_timer)
            return
        self._fired = True
        task.cancel()
