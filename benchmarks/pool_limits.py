"""Measures throughput at concurrency 64 over loopback for httpx.Limits variants, interleaved.

Each round runs every variant (and the openai SDK, when installed) in turn against one
loopback server, so drift on a shared machine hits all of them alike; it prints each
variant's median calls/s and its median ratio to the SDK of the same round, and writes
`benchmarks/results/pool_limits.json`.

    python benchmarks/pool_limits.py [--rounds 5] [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import resultfile  # noqa: E402
from clients import CLIENTS, Ashford, _openai_provider  # noqa: E402
from run import Server, _concurrent, _pin  # noqa: E402

# name -> (max_connections, max_keepalive_connections)
VARIANTS = {
    "ashford default 256/64": (256, 64),
    "4/4": (4, 4),
    "64/64": (64, 64),
    "32/32": (32, 32),
    "16/16": (16, 16),
    "8/8": (8, 8),
}


def _build(name: str, base_url: str) -> object:
    if name == "openai SDK":
        return CLIENTS["openai SDK"][0](base_url)
    import httpx

    from ashford_llm.providers._http import DEFAULT_TIMEOUT

    most, keep = VARIANTS[name]
    client = httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        limits=httpx.Limits(
            max_connections=most, max_keepalive_connections=keep, keepalive_expiry=30.0
        ),
    )
    return Ashford(_openai_provider(base_url, client))


async def _round(names: list[str], base_url: str, calls: int) -> dict[str, float]:
    rates: dict[str, float] = {}
    for name in names:
        bench = _build(name, base_url)
        await _concurrent(bench, 64, 64)  # warm the pool
        _, wall = await _concurrent(bench, calls, 64)
        rates[name] = calls / wall
        await bench.aclose()  # type: ignore[attr-defined]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--only", help="comma-separated variants (default: all)")
    parser.add_argument("--out", type=Path, default=resultfile.RESULTS / "pool_limits.json")
    args = parser.parse_args()
    _pin(0)
    server = Server(1)
    names = args.only.split(",") if args.only else list(VARIANTS)
    if importlib.util.find_spec("openai") is not None:
        names.append("openai SDK")
    samples: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    try:
        for number in range(args.rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            rates = asyncio.run(_round(order, server.base_url, args.calls))
            for name, rate in rates.items():
                samples[name].append(rate)
                if "openai SDK" in rates:
                    ratios[name].append(rate / rates["openai SDK"])
    finally:
        server.close()
    print("| client | calls/s at c=64, median (min-max) | / openai SDK |\n|---|---|---|")
    rows = []
    for name in names:
        values = samples[name]
        ratio = statistics.median(ratios[name]) if ratios[name] else None
        rows.append(
            {
                "client": name,
                "limits": VARIANTS.get(name),
                "calls_per_s": values,
                "ratio_to_sdk": ratio,
            }
        )
        print(
            f"| {name} | {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) "
            f"| {'-' if ratio is None else f'{ratio:.2f}x'} |"
        )
    resultfile.write(
        args.out,
        script="pool_limits.py",
        parameters={"rounds": args.rounds, "calls": args.calls, "concurrency": 64},
        data={"rows": rows},
    )


if __name__ == "__main__":
    main()
