"""Pricer: prices calls like `prices.price`, resolving each model's price table once.

genai-prices' `calc_price` does the same work on every call: it finds the model, picks the
prices in force, checks the table's units and decomposes the usage through its unit registry.
Only the last step depends on the usage. A `Pricer` keeps, per (provider, model, batch) and
per set of price constraints active at the call's time, the table's priced units in the order
genai-prices sums them and which of them nest in which; a call then only splits its token
counts and multiplies them with genai-prices' own `calc_unit_price`, so every figure is the
one `calc_price` gives (tests compare them). Anything the fast path does not cover (usage
genai-prices would reject or have to infer) goes through `calc_price` itself, so its error
reads the same.

Each Budget and Cost layer makes its own Pricer unless given one to share; its cache is a
bounded dict on the instance. The table is genai-prices' bundled snapshot, fixed for the
process (`prices.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from ashford_llm.middleware.cost.prices import (
    genai_prices,
    price,
    price_provider_id,
    usage_keys,
)
from ashford_llm.protocol import ProviderInfo
from ashford_llm.types import CallCost, CompletionResponse

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices
    from genai_prices.units import UnitDef

__all__ = ["PriceLookup", "Pricer", "snapshot_lookup"]

PriceLookup: TypeAlias = "Callable[[str, str], tuple[Provider, ModelInfo]]"
"""Finds (provider, model) in the price table by model name and provider id; raises
LookupError when the table has no such model."""

_BATCH = {"processing": "batch"}
# The usage keys `price` reports; the fast path is exact only for these.
_REPORTED = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_reasoning_tokens",
)


def snapshot_lookup(model: str, provider_id: str) -> tuple[Provider, ModelInfo]:
    """Finds a model in genai-prices' current snapshot, as `calc_price` does."""
    snapshot = genai_prices().data_snapshot.get_snapshot()
    found: tuple[Provider, ModelInfo] = snapshot.find_provider_model(model, None, provider_id, None)
    return found


class _Model(msgspec.Struct, frozen=True):
    """A resolved model: where genai-prices found it and whether it has a batch price."""

    provider: Any  # genai_prices.types.Provider
    info: Any  # genai_prices.types.ModelInfo
    has_batch: bool


class _Plan(msgspec.Struct, frozen=True):
    """A model's prices in force, laid out for pricing usage without the unit registry.

    `units` are the priced units in the order genai-prices sums them, with their price;
    `leaves` are the priced token units most specific first, each with the units nested in
    it (whose counts it excludes); `exact` is False when the table prices a unit whose count
    genai-prices would have to infer from the reported keys (then `calc_price` prices).
    """

    units: tuple[tuple[Any, Any], ...]  # (UnitDef, Decimal | TieredPrices)
    leaves: tuple[tuple[str, tuple[str, ...]], ...]
    tiered: bool
    exact: bool


class Pricer:
    """Prices calls as `prices.price` does, reusing each model's resolved price table.

    Args:
        lookup: finds a model in the price table; None uses genai-prices' snapshot. Each
            (model, provider) is looked up once per Pricer.
        max_entries: how many resolved models and price layouts the Pricer keeps; the
            oldest is dropped past it.
    """

    def __init__(self, *, lookup: PriceLookup | None = None, max_entries: int = 256) -> None:
        if lookup is not None and not callable(lookup):
            raise TypeError("lookup must be a callable (model, provider_id) -> (provider, model)")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        prices = genai_prices()  # fails now, naming the extra, when it is not installed
        from genai_prices.data_units import unit_data
        from genai_prices.units import UnitRegistry

        self._prices = prices
        self._registry = UnitRegistry(unit_data)
        self._lookup: PriceLookup = lookup if lookup is not None else snapshot_lookup
        self._max_entries = max_entries
        self._models: dict[tuple[str, str], _Model | str] = {}
        self._plans: dict[tuple[str, str, bool, tuple[bool, ...]], _Plan | str] = {}
        self._calc_unit_price = prices.types.calc_unit_price

    def price(
        self,
        info: ProviderInfo,
        model: str | None,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        batch: bool = False,
        at: datetime | None = None,
    ) -> CallCost:
        """Prices one call's usage; the same figures and reasons as `prices.price`."""
        if not model:
            return CallCost(total=None, batch=batch, unknown_reason="no model to price")
        provider_id = price_provider_id(info)
        found = self._model(model, provider_id)
        if isinstance(found, str):
            return CallCost(total=None, batch=batch, unknown_reason=found)
        when = at or datetime.now(tz=UTC)
        plan = self._plan((provider_id, model), found, batch, when)
        usage = usage_keys(
            input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens
        )
        figures = None if isinstance(plan, str) else self._apply(plan, usage)
        if figures is None:  # a case only genai-prices' own path prices (or rejects) exactly
            return price(
                info,
                model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_input_tokens=cached_input_tokens,
                cache_write_tokens=cache_write_tokens,
                reasoning_tokens=reasoning_tokens,
                batch=batch,
                at=when,
            )
        if batch and not found.has_batch:
            return CallCost(
                total=None,
                batch=True,
                unknown_reason=f"genai-prices lists no batch price for {model!r} ({provider_id})",
            )
        total, input_price, output_price = figures
        return CallCost(total=total, input=input_price, output=output_price, batch=batch)

    def price_response(
        self, response: CompletionResponse, info: ProviderInfo, *, batch: bool
    ) -> CallCost:
        """Prices a response by the model that answered (else the configured one)."""
        return self.price(
            info,
            response.model or info.model,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cached_input_tokens=response.cached_input_tokens,
            cache_write_tokens=response.cache_write_tokens,
            reasoning_tokens=response.reasoning_tokens,
            batch=batch,
        )

    def _model(self, model: str, provider_id: str) -> _Model | str:
        """Returns the model's table entry, or why it has none; looked up once."""
        key = (provider_id, model)
        found = self._models.get(key)
        if found is None:
            try:
                provider, info = self._lookup(model, provider_id)
            except LookupError as exc:
                found = f"genai-prices: {exc}"
            else:
                has_batch = any(variant.when == _BATCH for variant in info.price_variants or ())
                found = _Model(provider, info, has_batch)
            _bounded_put(self._models, key, found, self._max_entries)
        return found

    def _plan(
        self, name: tuple[str, str], model: _Model, batch: bool, when: datetime
    ) -> _Plan | str:
        """Returns the layout of the prices in force at `when`, built once per constraint set.

        Which prices are in force depends on the call's time only through which of the
        model's price constraints (start dates, times of day) are active, so that is the key.
        """
        info = model.info
        context = _BATCH if batch and any(m is info for m in model.provider.models) else None
        active = tuple(
            price.constraint is None or price.constraint.active(when)
            for price in (info.prices if isinstance(info.prices, list) else ())
        )
        if context:
            active += tuple(
                variant.constraint is None or variant.constraint.active(when)
                for variant in info.price_variants or ()
            )
        key = (*name, batch, active)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._layout(info.get_prices(when, context))
            _bounded_put(self._plans, key, plan, self._max_entries)
        return plan

    def _layout(self, model_price: ModelPrice) -> _Plan | str:
        """Lays out a price set once: its units in genai-prices' order, checked as it checks."""
        prices = self._prices
        try:  # the table's own checks (units, values, coverage), which do not depend on usage
            model_price.calc_price(prices.Usage(input_tokens=0, output_tokens=0))
        except ValueError as exc:
            return f"genai-prices: {exc}"
        registry = self._registry
        units: list[tuple[UnitDef, Decimal | TieredPrices]] = []
        for key, value in vars(model_price).items():
            if key.startswith("_") or value is None:
                continue
            try:
                units.append((registry.unit_for_price_key(key), value))
            except KeyError:  # genai-prices warns and skips a key it does not know
                continue
        priced = sorted(
            (unit for unit, _ in units if unit.usage_key != "requests"),
            key=lambda unit: (-len(unit.dimensions), unit.usage_key),
        )
        leaves = tuple(
            (
                unit.usage_key,
                tuple(
                    other.usage_key
                    for other in priced
                    if other is not unit and unit.dimensions.items() <= other.dimensions.items()
                ),
            )
            for unit in priced
        )
        return _Plan(
            units=tuple(units),
            leaves=leaves,
            tiered=any(isinstance(value, prices.types.TieredPrices) for _, value in units),
            exact=all(self._reads_as_zero(unit) for unit in priced),
        )

    def _reads_as_zero(self, unit: UnitDef) -> bool:
        """Says whether genai-prices reads an unreported `unit` as 0 whatever `price` reports.

        It infers a missing count, and refuses to when a reported key is more specific than
        it or two reported keys overlap into it; the fast path then defers to `calc_price`.
        """
        if unit.usage_key in _REPORTED:
            return True
        reported = [self._registry.units[key] for key in _REPORTED]
        if any(unit.dimensions.items() <= other.dimensions.items() for other in reported):
            return False
        return not any(
            left.is_compatible_with(right)
            and dict(unit.dimensions) == {**left.dimensions, **right.dimensions}
            for index, left in enumerate(reported)
            for right in reported[index + 1 :]
        )

    def _apply(self, plan: _Plan, usage: dict[str, int]) -> tuple[Decimal, Decimal, Decimal] | None:
        """Prices usage with a plan as genai-prices does; None where only it can say."""
        if not plan.exact or any(
            isinstance(value, bool) or not isinstance(value, int) or value < 0
            for value in usage.values()
        ):
            return None
        counts: dict[str, int] = {}
        for key, nested in plan.leaves:
            count = usage.get(key, 0) - sum(counts[inner] for inner in nested)
            if count < 0:  # usage genai-prices rejects, with its own message
                return None
            counts[key] = count
        counts["requests"] = 1
        calc_unit_price = self._calc_unit_price

        total_input = usage["input_tokens"] if plan.tiered else 0
        input_price = output_price = total = Decimal(0)
        for unit, unit_prices in plan.units:
            amount = calc_unit_price(unit_prices, counts[unit.usage_key], total_input, unit.per)
            total += amount
            direction = unit.dimensions.get("direction")
            if direction == "input":
                input_price += amount
            elif direction == "output":
                output_price += amount
        return total, input_price, output_price


def _bounded_put(cache: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    """Stores `value`, dropping the oldest entry once the cache holds `limit`."""
    if len(cache) >= limit:
        del cache[next(iter(cache))]
    cache[key] = value
