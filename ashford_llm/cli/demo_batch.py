"""`ashford-llm demo --batch`: the demo inbox classified through the three vendors' batch APIs.

The fake server runs on loopback with its batch APIs; for each vendor the e-mails (billing ones
with a PNG or PDF attached) go in one batch through `ashford_llm.batch`, with scripted
per-item faults (a rate limit, a server error, an invalid request), and a second, small batch
is cancelled as soon as it is created. Every item must end as expected: the right label, or
the typed error its fault causes, or (in the cancelled batch) a BatchItemNotRunError or an
answer that finished before the cancel. Anything else is named and makes the command exit 1.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import TYPE_CHECKING

import msgspec

from ashford_llm.batch import Polling, cancel, results, submit
from ashford_llm.cli._demo_data import INBOX, SYSTEM_PROMPT, EmailLabel, attachment, classify_email
from ashford_llm.config import ModelConfig
from ashford_llm.errors import (
    BatchItemNotRunError,
    InvalidRequestError,
    LLMError,
    RateLimitError,
    ServerError,
)
from ashford_llm.providers.provider import HTTPProvider
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.types import ChatMessage, CompletionRequest, CompletionResponse

if TYPE_CHECKING:
    from rich.console import Console

    from ashford_llm.testing.fake_server import AnswerFunction

__all__ = ["run_batch"]

DEMO_KEY = "demo-key"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}
# Item (position from 1 in each vendor's batch) -> the fault the server gives it, and the
# error class that fault must come back as.
ITEM_FAULTS = {2: "rate_limit", 5: "server_error", 7: "invalid"}
FAULT_ERRORS: dict[str, type[LLMError]] = {
    "rate_limit": RateLimitError,
    "server_error": ServerError,
    "invalid": InvalidRequestError,
}
CANCELLED_ITEMS = 3


class Item(msgspec.Struct, kw_only=True):
    """One e-mail's batch item and how it ended."""

    custom_id: str
    vendor: str
    expected: str
    fault: str | None = None
    cancelled_batch: bool = False
    attached: str | None = None
    outcome: str = "missing"
    label: str | None = None
    problem: str | None = None


def _request(index: int, email: str, label: str) -> tuple[CompletionRequest, str | None]:
    """The classification request of one e-mail (with its attachment, if it has one)."""
    attached = attachment(index, label)
    user = ChatMessage.user(email) if attached is None else ChatMessage.user(email, attached)
    request = CompletionRequest([ChatMessage.system(SYSTEM_PROMPT), user], json_mode=True)
    return request, None if attached is None else attached.media_type


def judge(item: Item, outcome: CompletionResponse | LLMError) -> None:
    """Records an item's outcome and names it as a problem unless it is what was expected."""
    if isinstance(outcome, CompletionResponse):
        try:
            item.label = msgspec.json.decode(outcome.content, type=EmailLabel).label
        except msgspec.DecodeError as error:
            item.outcome = "undecodable"
            item.problem = f"{item.custom_id}: answer is not an EmailLabel: {error}"
            return
        item.outcome = "ok"
        if item.fault is not None:
            item.problem = f"{item.custom_id}: answered, but its {item.fault} fault was expected"
        elif item.label != item.expected:
            item.problem = f"{item.custom_id}: label {item.label}, expected {item.expected}"
        return
    item.outcome = type(outcome).__name__
    if item.cancelled_batch:
        if not (isinstance(outcome, BatchItemNotRunError) and outcome.error_code == "cancelled"):
            item.problem = f"{item.custom_id}: {item.outcome}, expected a cancelled item"
        return
    wanted = FAULT_ERRORS.get(item.fault or "")
    if wanted is None or not isinstance(outcome, wanted):
        item.problem = f"{item.custom_id}: unexplained {item.outcome}: {outcome.message}"


async def run_batch(args: argparse.Namespace, *, answer: AnswerFunction = classify_email) -> int:
    """Runs the batch demo; returns 0 when every item ended as expected, else 1.

    `answer` is the fake server's answer function: the seam through which a test proves that
    wrong answers fail the run.
    """
    import httpx
    from rich.console import Console

    from ashford_llm.testing.fake_server import FakeProviderServer
    from ashford_llm.testing.fake_server.batches import BatchOptions

    if args.calls < 1:
        raise ValueError("--calls must be >= 1")
    console = Console(width=None if os.isatty(1) else 120)
    items: dict[str, Item] = {}
    requests: dict[str, dict[str, CompletionRequest]] = {v: {} for v in MODELS}
    faults: dict[str, str] = {}
    for vendor in MODELS:
        for index in range(1, args.calls + 1):
            email, label = INBOX[(index - 1) % len(INBOX)]
            custom_id = f"{vendor}-{index:03d}"
            request, attached = _request(index, email, label)
            requests[vendor][custom_id] = request
            fault = ITEM_FAULTS.get(index)
            if fault is not None:
                faults[custom_id] = fault
            items[custom_id] = Item(
                custom_id=custom_id, vendor=vendor, expected=label, fault=fault, attached=attached
            )
    server = FakeProviderServer(
        api_key=DEMO_KEY,
        answer=answer,
        batch=BatchOptions(processing_seconds=0.5, faults=faults),
    )
    polling = Polling(initial=0.1, maximum=0.5, timeout=60.0)
    started = time.perf_counter()
    batches = 0
    async with server.run() as running, httpx.AsyncClient() as client:
        for vendor, model in MODELS.items():
            provider = provider_from_config(
                ModelConfig(vendor, model, max_output_tokens=200),
                api_key=DEMO_KEY,
                base_url=running.base_url(vendor),
                http_client=client,
            )
            if not isinstance(provider, HTTPProvider):
                raise TypeError(f"{vendor} built {type(provider).__name__}, not a vendor provider")
            handle = await submit(provider, requests[vendor], name="demo-inbox")
            doomed_requests = {}
            for index in range(1, CANCELLED_ITEMS + 1):
                email, label = INBOX[index - 1]
                custom_id = f"{vendor}-cancel-{index}"
                doomed_requests[custom_id], attached = _request(index, email, label)
                items[custom_id] = Item(
                    custom_id=custom_id,
                    vendor=vendor,
                    expected=label,
                    cancelled_batch=True,
                    attached=attached,
                )
            doomed = await submit(provider, doomed_requests, name="demo-cancelled")
            await cancel(doomed, provider=provider)
            batches += len(handle.batches) + len(doomed.batches)
            for stored in (handle, doomed):
                async for custom_id, outcome in results(stored, provider=provider, polling=polling):
                    judge(items[custom_id], outcome)
    elapsed = time.perf_counter() - started
    for item in items.values():
        if item.outcome == "missing":
            item.problem = f"{item.custom_id}: no outcome came back"
    _report(console, list(items.values()), batches, elapsed)
    return 1 if any(item.problem for item in items.values()) else 0


def _report(console: Console, items: list[Item], batches: int, elapsed: float) -> None:
    """Prints the per-item table and the summary."""
    from rich.table import Table

    table = Table(title="ashford-llm demo --batch: e-mail classification through batch APIs")
    for column in ("item", "provider", "attached", "fault", "outcome", "label", "expected"):
        table.add_column(column)
    for item in items:
        table.add_row(
            item.custom_id,
            item.vendor,
            (item.attached or "-").split("/")[-1],
            item.fault or ("cancel" if item.cancelled_batch else "-"),
            item.outcome,
            item.label or "-",
            item.expected,
        )
    console.print(table)
    ok = sum(item.outcome == "ok" and item.problem is None for item in items)
    typed = sum(item.outcome != "ok" and item.problem is None for item in items)
    problems = [item.problem for item in items if item.problem]
    console.print(f"items            {len(items)} in {batches} vendor batches, {elapsed:.1f} s")
    console.print(f"answered         {ok} (the right label)")
    console.print(f"typed failures   {typed} (each the error its fault or the cancel causes)")
    console.print(f"unexpected       {len(problems)}")
    for problem in problems:
        console.print(f"  unexplained: {problem}")
    if problems:
        console.print("FAILED: some batch items did not end as their fault or label says")
    else:
        console.print(
            "OK: every batch item got the right label or the typed error its fault causes"
        )
