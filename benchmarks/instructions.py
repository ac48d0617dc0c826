"""Counts CPU instructions per in-process call with callgrind: repeatable on a busy machine.

Wall and CPU times on a shared machine move with its load; the instructions a call executes
do not. For each client this runs two fresh processes making N1 and N2 in-process calls (or
streams) under `valgrind --tool=callgrind` and reports (count(N2) - count(N1)) / (N2 - N1),
so start-up and import cost cancel out, and the ratio to the same vendor's floor.

    python benchmarks/instructions.py [--stream] [--calls 2000] [CLIENT ...]

Writes `benchmarks/results/instructions.json` (`instructions_stream.json` with `--stream`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import resultfile  # noqa: E402

DEFAULT = [
    "httpx+msgspec (floor)",
    "ashford bare",
    "ashford stack",
    "httpx+msgspec anthropic (floor)",
    "ashford anthropic",
]


def _child(client: str, calls: int, stream: bool) -> None:
    """Runs `calls` in-process calls of one client (the measured process)."""
    sys.path.insert(0, str(HERE))
    from clients import CLIENTS

    async def main() -> None:
        bench = CLIENTS[client][0](None)
        for _ in range(3):  # warm-up: first-call caches and lazy imports
            await _one(bench, stream)
        for _ in range(calls):
            await _one(bench, stream)
            await asyncio.sleep(0)
        await bench.aclose()

    asyncio.run(main())


async def _one(bench: object, stream: bool) -> None:
    if stream:
        async for _ in bench.stream():  # type: ignore[attr-defined]
            pass
    else:
        await bench.complete()  # type: ignore[attr-defined]


def _count(client: str, calls: int, stream: bool) -> int:
    """Returns the instructions one child process executed."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--child", client, "--calls", str(calls)]
    command += ["--stream"] if stream else []
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in {done.stderr[-500:]!r}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clients", nargs="*", default=DEFAULT)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--stream", action="store_true", help="count per 1,000-chunk stream")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.calls, args.stream)
        return
    calls = args.calls // 20 if args.stream else args.calls
    low = max(1, calls // 4)
    per_call: dict[str, float] = {}
    for client in args.clients:
        high_count = _count(client, calls, args.stream)
        per_call[client] = (high_count - _count(client, low, args.stream)) / (calls - low)
    unit = "per 1,000-chunk stream" if args.stream else "per call"
    rows = []
    print(f"| client | instructions {unit} | / floor |\n|---|---|---|")
    for client, count in per_call.items():
        floor = per_call.get(_floor_name(client))
        ratio = count / floor if floor else None
        rows.append({"client": client, "instructions": count, "ratio_to_floor": ratio})
        print(f"| {client} | {count:,.0f} | {'-' if ratio is None else f'{ratio:.3f}x'} |")
    name = "instructions_stream.json" if args.stream else "instructions.json"
    resultfile.write(
        args.out or resultfile.RESULTS / name,
        script="instructions.py",
        parameters={"calls": calls, "low_calls": low, "stream": args.stream},
        data={"unit": unit, "rows": rows},
    )


def _floor_name(client: str) -> str:
    """Returns the floor of the client's vendor."""
    return "httpx+msgspec anthropic (floor)" if "anthropic" in client else "httpx+msgspec (floor)"


if __name__ == "__main__":
    main()
