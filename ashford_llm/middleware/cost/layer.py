"""Cost: prices every answer that passes it, on the response, in a ledger and as a metric.

Where it belongs: innermost, just above the terminal, so it prices every answer the vendor
billed, including the ones a layer above throws away (an answer JsonValidation rejects, a
repair call). A stream's cost is on its StreamEnd's response; a stream that fails or is
closed early has no final usage and is not priced.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal

import msgspec
from opentelemetry import metrics, trace

from ashford_llm.middleware import _semconv as sc
from ashford_llm.middleware._base import Middleware
from ashford_llm.middleware.cost.pricer import Pricer
from ashford_llm.protocol import LLMProvider
from ashford_llm.types import (
    CallCost,
    CompletionRequest,
    CompletionResponse,
    StreamEnd,
    StreamEvent,
)

__all__ = ["Cost", "CostLedger"]


class CostLedger:
    """Adds up what priced calls cost, per provider and model; share one across stacks.

    `totals()` and `by_provider()` are the public way to read accumulated spend (a report of
    cost per provider); calls whose price was unknown are counted in `unknown_calls()`, never
    added as 0.
    """

    def __init__(self) -> None:
        self._totals: dict[tuple[str, str], Decimal] = {}
        self._unknown: dict[tuple[str, str], int] = {}

    def add(self, provider: str, model: str, cost: CallCost) -> None:
        """Adds one call's cost (or counts it as unknown)."""
        key = (provider, model)
        if cost.total is None:
            self._unknown[key] = self._unknown.get(key, 0) + 1
        else:
            self._totals[key] = self._totals.get(key, Decimal(0)) + cost.total

    def totals(self) -> dict[tuple[str, str], Decimal]:
        """Spend in USD per (provider, model), as a new dict."""
        return dict(self._totals)

    def by_provider(self) -> dict[str, Decimal]:
        """Spend in USD per provider name, as a new dict."""
        spend: dict[str, Decimal] = {}
        for (provider, _), amount in self._totals.items():
            spend[provider] = spend.get(provider, Decimal(0)) + amount
        return spend

    @property
    def total(self) -> Decimal:
        """Spend in USD over every priced call."""
        return sum(self._totals.values(), Decimal(0))

    def unknown_calls(self) -> dict[tuple[str, str], int]:
        """Calls per (provider, model) whose price was unknown, as a new dict."""
        return dict(self._unknown)

    def __repr__(self) -> str:
        return f"CostLedger(total={self.total}, unknown_calls={sum(self._unknown.values())})"


class Cost(Middleware):
    """Prices each answer from genai-prices and puts it on `response.cost`.

    Each priced call is added to `ledger` and to the `ashford.client.cost` counter (USD,
    with the provider and the answering model as attributes); a call whose price is unknown
    gets a `CallCost` with `total=None` and counts in `ashford.client.cost.unknown`. The
    current span (Tracing's, when Tracing is above) gets `ashford.cost.usd`.

    Args:
        inner: the handler to wrap.
        batch: price calls at the batch rate (a terminal that sends through a vendor's
            batch API); a model with no batch price in the table is then unknown.
        ledger: where spend adds up; share one between stacks to total them. None makes
            one, readable as `layer.ledger`.
        meter_provider: where the metrics go; None uses the global one.
        pricer: what prices the answers; None makes one. Pass the Budget layer's to resolve
            each model's prices once for both.
    """

    repr_options = ("batch",)

    def __init__(
        self,
        inner: LLMProvider,
        *,
        batch: bool = False,
        ledger: CostLedger | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        super().__init__(inner)
        if not isinstance(batch, bool):
            raise TypeError("batch must be a bool")
        if ledger is not None and not isinstance(ledger, CostLedger):
            raise TypeError(f"ledger must be a CostLedger, got {type(ledger).__name__}")
        if pricer is not None and not isinstance(pricer, Pricer):
            raise TypeError(f"pricer must be a Pricer, got {type(pricer).__name__}")
        # Making one fails now, naming the extra, when genai-prices is not installed.
        self.pricer = pricer if pricer is not None else Pricer()
        self.batch = batch
        self.ledger = ledger if ledger is not None else CostLedger()
        info = inner.info
        self._info = info
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(sc.SCOPE_NAME)
        self._spend = meter.create_counter(sc.COST, sc.COST_UNIT, sc.COST_DESCRIPTION)
        self._unknown = meter.create_counter(
            sc.COST_UNKNOWN, sc.COST_UNKNOWN_UNIT, sc.COST_UNKNOWN_DESCRIPTION
        )
        self._attributes: dict[str, str] = {sc.PROVIDER_NAME: info.otel_provider_name or info.name}
        if info.model:
            self._attributes[sc.REQUEST_MODEL] = info.model

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Calls the inner handler and prices its answer."""
        return self._priced(await self.inner.complete(request))

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        """Passes the stream through, pricing the response of its StreamEnd."""
        events = self.inner.stream(request)
        try:
            async for event in events:
                if isinstance(event, StreamEnd):
                    event = StreamEnd(self._priced(event.response))
                yield event
        finally:
            await events.aclose()

    def _priced(self, response: CompletionResponse) -> CompletionResponse:
        """Returns the response with its cost, recorded in the ledger, metric and span."""
        cost = self.pricer.price_response(response, self._info, batch=self.batch)
        self.ledger.add(response.provider, response.model, cost)
        attributes: dict[str, str | bool] = {
            **self._attributes,
            sc.RESPONSE_MODEL: response.model,
            sc.COST_BATCH: self.batch,
        }
        if cost.total is None:
            self._unknown.add(1, attributes)
        else:
            self._spend.add(float(cost.total), attributes)
            trace.get_current_span().set_attribute(sc.COST_USD, float(cost.total))
        return msgspec.structs.replace(response, cost=cost)
