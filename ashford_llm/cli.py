"""The `ashford-llm` command.

Until the fake provider server exists, `demo` runs a small stack over MockProvider.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from ashford_llm.builder import ClientBuilder
from ashford_llm.middleware import Middleware
from ashford_llm.testing import MockProvider
from ashford_llm.types import ChatMessage, CompletionRequest


class _Echo(Middleware):
    """Tags the request on the way in (a placeholder layer for the demo)."""


async def _demo() -> int:
    terminal = MockProvider(['{"label": "billing"}'], name="mock", model="demo-model")
    async with ClientBuilder().use(_Echo).build(terminal) as stack:
        request = CompletionRequest(
            [ChatMessage.user("Classify: my invoice is wrong")], json_mode=True
        )
        response = await stack.complete(request)
        print(f"stack: {stack!r}")
        print(f"{response.provider}/{response.model}: {response.content}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs the chosen command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ashford-llm")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the main job on a built-in fake provider")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return asyncio.run(_demo())
    parser.error(f"unknown command {args.command!r}")
    return 2
