"""`ashford-llm demo`: the main job (a placeholder over MockProvider until the fake server)."""

from __future__ import annotations

import argparse

from ashford_llm.builder import ClientBuilder
from ashford_llm.middleware import JsonValidation, Retry
from ashford_llm.testing import MockProvider
from ashford_llm.types import ChatMessage, CompletionRequest


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the `demo` command."""
    commands.add_parser("demo", help="run the main job on a built-in fake provider (no keys)")


async def run(args: argparse.Namespace) -> int:
    """Classifies one e-mail through a small stack over MockProvider."""
    terminal = MockProvider(['{"label": "billing"}'], name="mock", model="demo-model")
    async with ClientBuilder().use(Retry).use(JsonValidation).build(terminal) as stack:
        request = CompletionRequest(
            [ChatMessage.user("Classify: my invoice is wrong")], json_mode=True
        )
        response = await stack.complete(request)
        print(f"stack: {stack!r}")
        print(f"{response.provider}/{response.model}: {response.content} -> {response.parsed}")
    return 0
