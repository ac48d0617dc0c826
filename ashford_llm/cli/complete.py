"""`ashford-llm complete`: one prompt through a stack defined in a TOML file or on the line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from ashford_llm.builder import ClientBuilder
from ashford_llm.config import ConfigError, ModelConfig, StackConfig
from ashford_llm.providers.registry import provider_from_config
from ashford_llm.types import ChatMessage, CompletionRequest, StreamEnd, TextDelta


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the `complete` command and its options."""
    parser = commands.add_parser(
        "complete",
        help="send one prompt through a stack (the real vendor when its key is set)",
        description="Send one prompt through a stack defined in a TOML file (see docs/config.md)"
        " or by --provider and --model.",
    )
    parser.add_argument("prompt", help="the user message")
    parser.add_argument("--config", type=Path, help="a TOML stack file ([model], [[middleware]])")
    parser.add_argument(
        "--provider",
        help="openai, anthropic, google, azure or a profile such as groq (overrides the file)",
    )
    parser.add_argument("--model", help="the vendor's model name (overrides the file)")
    parser.add_argument("--system", help="a system message to send first")
    parser.add_argument("--json", action="store_true", help="ask for a JSON object")
    parser.add_argument("--stream", action="store_true", help="print text as it arrives")


def load_stack(args: argparse.Namespace) -> StackConfig:
    """Builds the stack config from --config, then applies --provider and --model."""
    stack = StackConfig.from_toml(args.config) if args.config else None
    if stack is None:
        if not (args.provider and args.model):
            raise ConfigError("give --config FILE, or both --provider and --model")
        return StackConfig(model=ModelConfig(args.provider, args.model))
    overrides = {
        key: value for key, value in (("provider", args.provider), ("model", args.model)) if value
    }
    if overrides:
        model = msgspec.structs.replace(stack.model, **overrides)
        stack = msgspec.structs.replace(stack, model=model)
    return stack


async def run(args: argparse.Namespace) -> int:
    """Sends the prompt and prints the answer; usage goes to standard error."""
    stack_config = load_stack(args)
    terminal = provider_from_config(
        stack_config.model, registry=stack_config.registry(), **stack_config.provider
    )
    stack = ClientBuilder.from_layers(stack_config.layers()).build(terminal)
    messages = [ChatMessage.user(args.prompt)]
    if args.system:
        messages.insert(0, ChatMessage.system(args.system))
    request = CompletionRequest(messages, json_mode=args.json)
    async with stack:
        if args.stream:
            async for event in stack.stream(request):
                if isinstance(event, TextDelta):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, StreamEnd):
                    response = event.response
            sys.stdout.write("\n")
        else:
            response = await stack.complete(request)
            print(response.content)
    print(
        f"{response.provider}/{response.model}: {response.input_tokens} in, "
        f"{response.output_tokens} out, {response.latency_ms:.0f} ms, "
        f"finish {response.finish_reason}, attempts {response.attempts}",
        file=sys.stderr,
    )
    return 0
