"""`ashford-llm fake-server`: serve the fake OpenAI, Anthropic, Gemini and Bedrock APIs."""

from __future__ import annotations

import argparse

from ashford_llm.testing.fake_server.faults import Fault, Outage


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the `fake-server` command and its options."""
    parser = commands.add_parser(
        "fake-server",
        help="serve the three vendors' APIs with injected faults (for your own tests)",
        description="Serve OpenAI /v1/chat/completions, Anthropic /v1/messages, Gemini "
        "/v1beta/models/{model}:generateContent, Azure OpenAI /openai/v1/chat/completions "
        "and /openai/deployments/{deployment}/chat/completions, Vertex AI's publisher paths, "
        "and Bedrock /model/{modelId}/converse (SigV4-signed with the test keys in "
        "ashford_llm.testing.fake_server.bedrock, or any Bedrock API key) on loopback, with "
        "seeded faults.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of faulty replies")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault plan")
    parser.add_argument(
        "--fault",
        action="append",
        choices=[fault.value for fault in Fault],
        help="a fault kind to inject (repeatable; default: every kind)",
    )
    parser.add_argument(
        "--outage",
        action="append",
        type=Outage.parse,
        metavar="VENDOR:SECONDS[:AFTER[:FAULT]]",
        help="make one vendor (openai, anthropic, gemini) fail every request for SECONDS, "
        "starting AFTER seconds past the first request (default 0), with FAULT "
        "(unavailable, overloaded or server_error; default unavailable); repeatable",
    )
    parser.add_argument(
        "--api-key", default=None, help="the only key accepted (default: any non-empty key)"
    )


def run(args: argparse.Namespace) -> int:
    """Serves until interrupted."""
    from ashford_llm.testing.fake_server import serve

    if not 0 <= args.fault_rate <= 1:
        raise ValueError("--fault-rate must be within [0, 1]")
    faults = dict.fromkeys(args.fault, 1.0) if args.fault else None
    serve(
        host=args.host,
        port=args.port,
        fault_rate=args.fault_rate,
        seed=args.seed,
        faults=faults,
        api_key=args.api_key,
        outages=args.outage or (),
    )
    return 0
