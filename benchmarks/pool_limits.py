"""Measures a provider built as a user builds it at concurrency over loopback, per pool limit.

`OpenAIProvider(config, api_key=..., base_url=...)` with no `http_client`: the provider makes
its own (httpx2) client with `DEFAULT_LIMITS`. Each "httpx2" variant swaps the limits that
constructor reads for its own (the only change), so those rows are the user's construction
path; the "httpx 0.28" rows give the provider an httpx client with the given limits (the old
default was `httpx.AsyncClient(limits=Limits(256, 64))`). Each round runs every variant
(and the openai SDK with its own default client, when installed) in turn at each concurrency
against each server (`server.py`'s bare asyncio server and the same canned answers under
uvicorn), so drift on a shared machine hits all of them alike. It prints each variant's median
calls/s and its median ratio to the SDK of the same round and writes
`benchmarks/results/pool_limits.json`.

    python benchmarks/pool_limits.py [--rounds 3] [--calls 600] [--concurrency 64,160]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import resultfile  # noqa: E402
from clients import CLIENTS, Ashford, _openai_provider  # noqa: E402
from run import Server, _concurrent, _pin  # noqa: E402

SDK = "openai SDK"
DEFAULT = "ashford default"
# name -> (max_connections, max_keepalive_connections); None: DEFAULT_LIMITS as shipped.
VARIANTS: dict[str, tuple[int, int] | None] = {
    DEFAULT: None,
    "httpx2 1000/100 (the openai SDK's limits)": (1000, 100),
    "httpx2 256/64": (256, 64),
    "httpx 0.28 256/64 (the old default)": (256, 64),
    "httpx 0.28 1000/1000": (1000, 1000),
}
SERVERS = ("asyncio", "uvicorn")


def _build(name: str, base_url: str) -> Any:
    """Builds one client; an ashford variant through the provider's own constructor."""
    if name == SDK:
        return CLIENTS[SDK][0](base_url)
    import httpx

    from ashford_llm.providers import _http

    limits = VARIANTS[name]
    shipped = _http.DEFAULT_LIMITS
    if limits is None:
        return Ashford(_openai_provider(base_url))  # no http_client: the user's path
    chosen = httpx.Limits(
        max_connections=limits[0],
        max_keepalive_connections=limits[1],
        keepalive_expiry=shipped.keepalive_expiry,
    )
    if name.startswith("httpx 0.28"):
        client = httpx.AsyncClient(timeout=_http.DEFAULT_TIMEOUT, limits=chosen)
        return Ashford(_openai_provider(base_url, client))
    _http.DEFAULT_LIMITS = chosen
    try:
        return Ashford(_openai_provider(base_url))
    finally:
        _http.DEFAULT_LIMITS = shipped


async def _round(
    names: list[str], base_url: str, calls: int, concurrency: int
) -> dict[str, tuple[float, float]]:
    """Returns name -> (calls/s, client CPU us per call) for one pass over the clients."""
    figures: dict[str, tuple[float, float]] = {}
    for name in names:
        bench = _build(name, base_url)
        await _concurrent(bench, concurrency, concurrency)  # open the connections
        cpu, wall = await _concurrent(bench, calls, concurrency)
        figures[name] = (calls / wall, cpu / calls * 1e6)
        await bench.aclose()
    return figures


def _limits_text(name: str) -> str:
    from ashford_llm.providers._http import DEFAULT_LIMITS

    limits = VARIANTS.get(name, ())
    if name == SDK:
        return "the SDK's own"
    if limits is None:
        return f"{DEFAULT_LIMITS.max_connections} / {DEFAULT_LIMITS.max_keepalive_connections}"
    return f"{limits[0]} / {limits[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--concurrency", default="64,160", help="comma-separated levels")
    parser.add_argument("--servers", default=",".join(SERVERS), help="asyncio,uvicorn")
    parser.add_argument("--only", help="comma-separated variants (default: all)")
    parser.add_argument("--out", type=Path, default=resultfile.RESULTS / "pool_limits.json")
    args = parser.parse_args()
    _pin(0)
    levels = [int(level) for level in args.concurrency.split(",")]
    servers = args.servers.split(",")
    names = args.only.split(",") if args.only else list(VARIANTS)
    if importlib.util.find_spec("openai") is not None:
        names.append(SDK)
    rate: dict[tuple[str, int, str], list[float]] = {}
    cpu: dict[tuple[str, int, str], list[float]] = {}
    ratio: dict[tuple[str, int, str], list[float]] = {}
    started = time.perf_counter()
    for server_name in servers:
        server = Server(1, uvicorn=server_name == "uvicorn")
        try:
            for number in range(args.rounds):
                order = names[number % len(names) :] + names[: number % len(names)]
                for level in levels:
                    figures = asyncio.run(_round(order, server.base_url, args.calls, level))
                    for name, (calls_per_s, cpu_us) in figures.items():
                        key = (server_name, level, name)
                        rate.setdefault(key, []).append(calls_per_s)
                        cpu.setdefault(key, []).append(cpu_us)
                        if SDK in figures:
                            ratio.setdefault(key, []).append(calls_per_s / figures[SDK][0])
        finally:
            server.close()
    rows = []
    print(
        "| server | concurrency | client | limits | calls/s (min-max) | CPU/call us | / SDK |\n"
        "|---|---|---|---|---|---|---|"
    )
    for server_name in servers:
        for level in levels:
            for name in names:
                key = (server_name, level, name)
                values = rate[key]
                median_ratio = statistics.median(ratio[key]) if key in ratio else None
                rows.append(
                    {
                        "server": server_name,
                        "concurrency": level,
                        "client": name,
                        "limits": _limits_text(name),
                        "calls_per_s": values,
                        "cpu_us_per_call": cpu[key],
                        "ratio_to_sdk": median_ratio,
                    }
                )
                print(
                    f"| {server_name} | {level} | {name} | {_limits_text(name)} "
                    f"| {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) "
                    f"| {statistics.median(cpu[key]):.0f} "
                    f"| {'-' if median_ratio is None else f'{median_ratio:.2f}x'} |"
                )
    resultfile.write(
        args.out,
        script="pool_limits.py",
        parameters={
            "rounds": args.rounds,
            "calls": args.calls,
            "concurrency": levels,
            "servers": servers,
            "seconds": round(time.perf_counter() - started),
        },
        data={"rows": rows},
    )


if __name__ == "__main__":
    main()
