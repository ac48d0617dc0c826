"""The `ashford-llm` command (also `python -m ashford_llm`).

Commands: `demo` (the main job on the built-in fake provider server), `complete` (one prompt
through a configured stack), `fake-server` (serve the fake vendor APIs on loopback) and
`batch` (submit, check and collect vendor batches).
A failed call prints one line and exits 2 when it is fatal, 3 when it is retryable.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from ashford_llm.cli import batch, complete, demo, fake_server
from ashford_llm.cli._errors import report

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser with every command."""
    parser = argparse.ArgumentParser(
        prog="ashford-llm", description="Call LLM vendors through a composable client stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(commands)
    complete.add_parser(commands)
    fake_server.add_parser(commands)
    batch.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs the chosen command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return asyncio.run(demo.run(args))
        if args.command == "fake-server":
            return fake_server.run(args)
        if args.command == "batch":
            return asyncio.run(batch.run(args))
        return asyncio.run(complete.run(args))
    except Exception as error:  # report() re-raises anything it cannot classify
        return report(error)
