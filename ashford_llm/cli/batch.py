"""`ashford-llm batch`: submit a JSONL file as vendor batches, check on them, collect them.

`submit FILE.jsonl --provider P --model M` prints the handle as JSON (and writes it to
`--handle-file`); `status HANDLE` prints the state and counts; `collect HANDLE` waits for the
batches with a progress bar and prints one outcome line per item (`ashford_llm.batch.jsonl`
has both formats). HANDLE is a handle file, or the JSON itself. The key comes from the
vendor's usual environment variable; `--base-url` points at another server (the fake one).
`collect` exits 0 when every item succeeded, 3 when the failures are all retryable, else 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from ashford_llm.batch import BatchHandle, Polling, results, status, submit
from ashford_llm.batch.jsonl import outcome_line, read_requests
from ashford_llm.cli._errors import EXIT_FATAL, EXIT_OK, EXIT_RETRYABLE
from ashford_llm.config import ModelConfig
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.types import CompletionResponse

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the `batch` command and its `submit`, `status` and `collect` subcommands."""
    parser = commands.add_parser(
        "batch", help="run requests through the vendors' batch APIs (half price, within 24 h)"
    )
    actions = parser.add_subparsers(dest="batch_command", required=True)
    sub = actions.add_parser("submit", help="submit a JSONL file of requests; prints the handle")
    sub.add_argument("file", type=Path, help='JSONL: {"custom_id": ..., "request": {...}} a line')
    sub.add_argument("--provider", required=True, help="openai, anthropic or google")
    sub.add_argument("--model", required=True, help="the model every request uses")
    sub.add_argument("--name", default="ashford", help="a label for the vendor batches")
    sub.add_argument("--handle-file", type=Path, help="also write the handle to this file")
    for name, helptext in (
        ("status", "print a batch's state and counts"),
        ("collect", "wait for the batches and print one outcome line per item"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("handle", help="a handle file, or the handle's JSON")
        if name == "collect":
            action.add_argument("--output", type=Path, help="write the outcomes here")
            action.add_argument(
                "--poll-seconds", type=float, default=5.0, help="the first wait between polls"
            )
    for action in (sub, *(actions.choices[n] for n in ("status", "collect"))):
        action.add_argument("--base-url", help="the vendor API root (default: the vendor's)")


def _load(text: str) -> BatchHandle:
    """Reads a handle from a file, or from its JSON given on the line."""
    data = text if text.lstrip().startswith("{") else Path(text).read_text()
    try:
        return BatchHandle.from_json(data)
    except msgspec.DecodeError as error:
        raise ValueError(f"not a batch handle: {error}") from None


def _provider(vendor: str, model: str, base_url: str | None) -> Any:
    """Builds the vendor's provider (its key from the environment)."""
    return provider_from_config(ModelConfig(vendor, model), base_url=base_url)


async def run(args: argparse.Namespace) -> int:
    """Runs one batch subcommand; returns the exit status."""
    if args.batch_command == "submit":
        requests = read_requests(args.file.read_bytes().splitlines())
        provider = _provider(args.provider, args.model, args.base_url)
        async with provider:
            handle = await submit(provider, requests, name=args.name)
        text = handle.to_json().decode()
        if args.handle_file:
            args.handle_file.write_text(text + "\n")
        print(text)
        return EXIT_OK
    handle = _load(args.handle)
    provider = _provider(handle.provider, handle.model, args.base_url)
    async with provider:
        if args.batch_command == "status":
            state = await status(handle, provider=provider)
            print(msgspec.json.encode(state).decode())
            return EXIT_OK
        return await _collect(args, handle, provider)


async def _collect(args: argparse.Namespace, handle: BatchHandle, provider: Any) -> int:
    """Collects every outcome with a progress bar on standard error."""
    from rich.console import Console
    from rich.progress import Progress

    initial = args.poll_seconds
    polling = Polling(initial=initial, maximum=max(initial, 60.0))
    out = args.output.open("wb") if args.output else sys.stdout.buffer
    failed = fatal = 0
    try:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("collecting", total=handle.count)
            async for custom_id, outcome in results(handle, provider=provider, polling=polling):
                out.write(outcome_line(custom_id, outcome) + b"\n")
                out.flush()
                if not isinstance(outcome, CompletionResponse):
                    failed += 1
                    fatal += not outcome.retryable
                progress.advance(task)
    finally:
        if args.output:
            out.close()
    print(f"{handle.count} items: {handle.count - failed} ok, {failed} failed", file=sys.stderr)
    return EXIT_OK if not failed else EXIT_FATAL if fatal else EXIT_RETRYABLE
