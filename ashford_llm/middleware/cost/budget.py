"""Budget: refuses calls once a key's spend in a window would pass its limit.

Before each call the layer reserves the call's highest likely cost: the request's input
estimated as RateLimit estimates it (`estimate_input_tokens`), plus its whole output
allowance (`max_tokens`, else `default_max_tokens`, else the terminal's default output
budget, else 4096), priced for the terminal's model by genai-prices. A reservation that would
take the key's spend in the current window past `limit` is refused with
`BudgetExceededError` (fatal; its `retry_after` is the time until the window resets). After
the call the reservation is settled to the real cost: the response's `cost` when a Cost layer
below priced it, else priced here. A call that fails with an LLMError before any output keeps
its input estimate charged (the vendor may bill it); one that is cancelled (a Timeout above,
the caller) or a stream closed or failed after its first event keeps the whole reservation
(the vendor may have billed all of it; the real count is unknown). An answer whose price is
unknown keeps the reservation too.

Windows are fixed and aligned to the clock's epoch (a `window=86400` budget resets at
midnight UTC), so every process agrees on them. Spend is counted in integer nano-USD.

`BudgetBackend` is the seam: `MemoryBudget` (the default) holds spend in this process,
`RedisBudget` shares it across processes through one atomic script per reservation.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, Callable
from decimal import Decimal, InvalidOperation
from typing import Protocol, runtime_checkable

import msgspec

from ashford_llm.errors import BudgetExceededError, LLMError
from ashford_llm.middleware._base import Middleware, check_seconds, format_option
from ashford_llm.middleware.cost.pricer import Pricer
from ashford_llm.middleware.cost.prices import NANO, to_nanos
from ashford_llm.middleware.rate_limit.layer import default_output_tokens, estimate_input_tokens
from ashford_llm.middleware.rate_limit.media import vendor_of
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import CompletionRequest, CompletionResponse, StreamEnd, StreamEvent

__all__ = ["Budget", "BudgetBackend", "BudgetHold", "MemoryBudget"]


class BudgetHold(msgspec.Struct, frozen=True, kw_only=True):
    """A backend's answer to a reservation: granted or not, and the window's state.

    `spent` is the key's spend in the window before this reservation (nano-USD); `window`
    names the window (its index since the epoch, windows being `window_s` long), so the
    settlement lands in it.
    """

    key: str
    window_s: float
    window: int
    amount: int
    granted: bool
    spent: int
    resets_in: float


@runtime_checkable
class BudgetBackend(Protocol):
    """Holds spend per key and window, and reserves atomically against a limit."""

    async def reserve(self, key: str, amount: int, *, limit: int, window: float) -> BudgetHold:
        """Adds `amount` (nano-USD) to the key's spend in the current window if the result
        stays within `limit`; says whether it did."""
        ...

    async def settle(self, hold: BudgetHold, amount: int) -> None:
        """Replaces a granted reservation by the real `amount` (never below zero spend)."""
        ...


class MemoryBudget:
    """Holds spend in this process; share one instance between stacks to share budgets.

    Args:
        clock: seconds since the epoch (windows align to it); injectable for tests.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        if not callable(clock):
            raise TypeError("clock must be a callable returning seconds")
        self._clock = clock
        self._spent: dict[tuple[str, float], tuple[int, int]] = {}  # -> (window, nano-USD)

    async def reserve(self, key: str, amount: int, *, limit: int, window: float) -> BudgetHold:
        """Adds `amount` to the current window's spend if it stays within `limit`."""
        now = self._clock()
        index = math.floor(now / window)
        current, spent = self._spent.get((key, window), (index, 0))
        if current != index:
            spent = 0
        granted = spent + amount <= limit
        self._spent[(key, window)] = (index, spent + amount if granted else spent)
        return BudgetHold(
            key=key,
            window_s=window,
            window=index,
            amount=amount,
            granted=granted,
            spent=spent,
            resets_in=(index + 1) * window - now,
        )

    async def settle(self, hold: BudgetHold, amount: int) -> None:
        """Corrects the reservation to `amount`; a window that has ended is left alone."""
        entry = self._spent.get((hold.key, hold.window_s))
        if hold.granted and entry is not None and entry[0] == hold.window:
            spent = max(entry[1] + amount - hold.amount, 0)
            self._spent[(hold.key, hold.window_s)] = (hold.window, spent)

    def spent(self, key: str, *, window: float) -> Decimal:
        """Returns the key's spend in USD in the current window."""
        index, spent = self._spent.get((key, window), (None, 0))
        if index != math.floor(self._clock() / window):
            spent = 0
        return Decimal(spent) / NANO

    def __repr__(self) -> str:
        return f"MemoryBudget(keys={len(self._spent)})"


class Budget(Middleware):
    """Reserves each call's likely cost against a key's limit, and settles the real cost after.

    Args:
        inner: the handler to wrap; its `info` must name a model genai-prices knows.
        limit: the most a key may spend in one window, in USD (a Decimal, str, int or float).
        window: the window's length in seconds (3600: hourly, 86400: daily, at UTC midnight).
        key: the budget's name, or a function of the request returning it (a budget per
            tenant, per job). Every process and stack naming a key shares its spend through
            the backend.
        backend: where spend is held: None makes a MemoryBudget for this layer; pass one
            MemoryBudget to several stacks, or a RedisBudget to share across processes.
        batch: price at the batch rate (a batch terminal).
        default_max_tokens: the output allowance reserved when a request sets no
            `max_tokens`; None takes the terminal's `info.max_output_tokens`, else 4096.
        pricer: what prices estimates and answers; None makes one. Share one with the Cost
            layer below to resolve each model's prices once for both.
    """

    def __init__(
        self,
        inner: LLMProvider,
        *,
        limit: Decimal | str | float,
        window: float,
        key: str | Callable[[CompletionRequest], str] = "default",
        backend: BudgetBackend | None = None,
        batch: bool = False,
        default_max_tokens: int | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        super().__init__(inner)
        self.limit = _usd("limit", limit)
        self.window = check_seconds("window", window, positive=True)
        if not (callable(key) or (isinstance(key, str) and key)):
            raise ValueError(f"key must be a non-empty string or a function, got {key!r}")
        if backend is not None and not isinstance(backend, BudgetBackend):
            raise TypeError(f"backend must be a BudgetBackend, got {type(backend).__name__}")
        if not isinstance(batch, bool):
            raise TypeError("batch must be a bool")
        info = inner.info
        default_max_tokens = default_output_tokens(default_max_tokens, info)
        if pricer is not None and not isinstance(pricer, Pricer):
            raise TypeError(f"pricer must be a Pricer, got {type(pricer).__name__}")
        self.pricer = pricer if pricer is not None else Pricer()
        probe = self.pricer.price(info, info.model, input_tokens=1, output_tokens=1, batch=batch)
        if not probe.known:
            raise ValueError(
                f"Budget cannot price the terminal's model, so it cannot estimate calls: "
                f"{probe.unknown_reason}"
            )
        self.key = key
        self.backend: BudgetBackend = backend if backend is not None else MemoryBudget()
        self.batch = batch
        self.default_max_tokens = default_max_tokens
        self._limit_nanos = to_nanos(self.limit)
        self._vendor = vendor_of(info)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Reserves, calls the inner handler, settles to the real cost."""
        hold, input_nanos = await self._reserve(request)
        try:
            response = await self.inner.complete(request)
        except LLMError:
            await self.backend.settle(hold, input_nanos)
            raise
        except BaseException:
            await self.backend.settle(hold, hold.amount)
            raise
        await self.backend.settle(hold, self._real_nanos(response, hold))
        return response

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Reserves, streams, and settles at StreamEnd (or keeps the charge described above)."""
        hold, input_nanos = await self._reserve(request)
        charge = hold.amount  # unless the stream ends, or fails before its first event
        started = False
        events = self.inner.stream(request)
        try:
            async for event in events:
                started = True
                if isinstance(event, StreamEnd):
                    charge = self._real_nanos(event.response, hold)
                yield event
        except LLMError:
            if not started:
                charge = input_nanos
            raise
        finally:
            try:
                await events.aclose()
            finally:
                await self.backend.settle(hold, charge)

    async def _reserve(self, request: CompletionRequest) -> tuple[BudgetHold, int]:
        """Reserves the call's estimate; returns the hold and the input part of it."""
        key = self.key(request) if callable(self.key) else self.key
        if not isinstance(key, str) or not key:
            raise ValueError(f"the budget key function must return a non-empty string: {key!r}")
        info = self.inner.info
        estimate = self.pricer.price(
            info,
            info.model,
            input_tokens=estimate_input_tokens(request, vendor=self._vendor),
            output_tokens=request.max_tokens or self.default_max_tokens,
            batch=self.batch,
        )
        # Known: the model was priced when the stack was built.
        assert estimate.total is not None
        assert estimate.input is not None
        amount = to_nanos(estimate.total)
        hold = await self.backend.reserve(key, amount, limit=self._limit_nanos, window=self.window)
        if not hold.granted:
            raise BudgetExceededError(
                f"budget {key!r} has spent ${Decimal(hold.spent) / NANO} of ${self.limit} "
                f"in its {format_option(self.window)}s window; this call may cost up to "
                f"${estimate.total}",
                provider=self.name,
                retry_after=hold.resets_in,
            )
        return hold, min(to_nanos(estimate.input), amount)

    def _real_nanos(self, response: CompletionResponse, hold: BudgetHold) -> int:
        """Returns a response's cost in nano-USD; an unknown price keeps the reservation."""
        cost = response.cost
        if cost is None or cost.batch != self.batch:
            cost = self.pricer.price_response(response, self.inner.info, batch=self.batch)
        return hold.amount if cost.total is None else to_nanos(cost.total)

    def describe(self) -> str:
        """Returns this layer alone, e.g. `Budget(limit=5, window=86400, key='default')`."""
        key = self.key if isinstance(self.key, str) else getattr(self.key, "__name__", "key")
        return f"Budget(limit={self.limit}, window={format_option(self.window)}, key={key!r})"


def _usd(option: str, value: Decimal | str | float) -> Decimal:
    """Checks an amount in USD: a finite number > 0, kept as a Decimal."""
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else Decimal("nan")
    except (InvalidOperation, TypeError, ValueError):
        amount = Decimal("nan")
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{option} must be a finite amount of USD > 0, got {value!r}")
    return amount
