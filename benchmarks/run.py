"""Benchmarks ashford_llm against raw httpx + msgspec (the floor) and the peer libraries.

Prints a markdown table and writes `results.json`, `table.md` and `chart.png` under
`benchmarks/results/` (or `--out`). Every figure is the median of `--runs` runs with its
min-max; ratios are taken run by run (both sides measured in the same run) and their median
reported. The peers (openai, anthropic, litellm, pydantic-ai, any-llm, httpx-aiohttp) are measured
when installed:
`make bench` installs them in a separate environment from `benchmarks/requirements-peers.txt`.

    python benchmarks/run.py            # the full run (about ten minutes on two cores)
    python benchmarks/run.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from clients import CLIENTS, BenchClient, peers_available  # noqa: E402
from report import write_outputs  # noqa: E402
from resultfile import machine  # noqa: E402

FLOOR = "httpx+msgspec (floor)"
FLOOR_ANTHROPIC = "httpx+msgspec anthropic (floor)"
CONCURRENCY = 64
# LiteLLM takes about 10x the others' time per call; it gets this share of the calls.
SLOW_SHARE = {"litellm": 0.25}
# Clients with no in-process seam here, or the same client as another in-process.
LOOPBACK_ONLY = {"litellm", "pydantic-ai", "pydantic-ai anthropic", "any-llm"}
# Cache's single flight joins identical concurrent requests into one call, and a hit replays a
# stream as one delta per part: the concurrency and per-chunk figures of the two cache
# clients would not measure what their names say, so they run the sequential figures only.
SEQUENTIAL_ONLY = {"ashford full stack, cache miss", "ashford full stack, cache hit"}


@dataclass
class Settings:
    """How much work each figure does."""

    runs: int
    calls: int
    concurrent_calls: int
    streams: int
    import_runs: int
    soak_calls: int
    clients: list[str]
    client_cpu: int | None
    server_cpu: int | None


@dataclass
class Figures:
    """Samples per figure and client, one per run."""

    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: str, client: str, value: float) -> None:
        self.samples.setdefault(figure, {}).setdefault(client, []).append(value)


# --- the loopback server -------------------------------------------------------------------


class Server:
    """The canned-answer server in its own process, pinned to its own core when possible."""

    def __init__(self, cpu: int | None, *, uvicorn: bool = False) -> None:
        command = [sys.executable, str(HERE / "server.py")]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        if uvicorn:
            command.append("--uvicorn")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"

    def cpu_seconds(self) -> float:
        """Returns the server's user + system CPU time so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- measurements ----------------------------------------------------------------------------


def _calls_for(client: str, calls: int) -> int:
    return max(10, int(calls * SLOW_SHARE.get(client, 1.0)))


async def _sequential(bench: BenchClient, calls: int) -> tuple[float, float]:
    """Makes `calls` calls one after another; returns (CPU s, wall s).

    Each call is followed by one pass of the event loop, as real I/O always gives: an
    in-process transport never suspends, and a loop that never runs keeps every cancelled
    timer (Timeout's deadline, with the context it captured) until it does.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await bench.complete()
        await asyncio.sleep(0)
    return time.process_time() - cpu, time.perf_counter() - wall


async def _concurrent(bench: BenchClient, calls: int, workers: int) -> tuple[float, float]:
    """Makes `calls` calls from `workers` concurrent tasks; returns (CPU s, wall s)."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await bench.complete()

    cpu, wall = time.process_time(), time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    return time.process_time() - cpu, time.perf_counter() - wall


async def _streams(bench: BenchClient, streams: int) -> tuple[float, int, list[float]]:
    """Consumes `streams` streams; returns (CPU s, chunks, time to first token in s each)."""
    firsts: list[float] = []
    chunks = 0
    cpu = time.process_time()
    for _ in range(streams):
        started = time.perf_counter()
        first = True
        async for _text in bench.stream():
            if first:
                firsts.append(time.perf_counter() - started)
                first = False
            chunks += 1
    return time.process_time() - cpu, chunks, firsts


async def _with_client(
    name: str,
    base_url: str | None,
    work: Callable[[BenchClient], Coroutine[Any, Any, Any]],
) -> Any:
    """Builds a client, warms it up, runs `work` on it and closes it."""
    bench = CLIENTS[name][0](base_url)
    try:
        for _ in range(20):
            await bench.complete()
        return await work(bench)
    finally:
        await bench.aclose()


async def measure_in_process(settings: Settings, figures: Figures) -> None:
    """Client CPU per call against httpx.MockTransport (no sockets at all)."""
    for run in range(settings.runs):
        for name in settings.clients:
            if name in LOOPBACK_ONLY or "aiohttp" in name or "httpx 0.28" in name:
                continue  # no in-process seam / the same as the bare client in-process
            calls = _calls_for(name, settings.calls)
            cpu, _ = await _with_client(name, None, lambda b, n=calls: _sequential(b, n))
            figures.add("cpu_us_in_process", name, cpu / calls * 1e6)
        print(f"  in-process run {run + 1}/{settings.runs} done", file=sys.stderr)


async def measure_loopback(settings: Settings, figures: Figures, server: Server) -> None:
    """Sequential and concurrent calls, and streams, over loopback."""
    for run in range(settings.runs):
        for name in settings.clients:
            began = time.perf_counter()
            calls = _calls_for(name, settings.calls)
            server_cpu = server.cpu_seconds()
            cpu, wall = await _with_client(
                name, server.base_url, lambda b, n=calls: _sequential(b, n)
            )
            server_cpu = server.cpu_seconds() - server_cpu
            figures.add("cpu_us_loopback", name, cpu / calls * 1e6)
            figures.add("wall_us_loopback", name, wall / calls * 1e6)
            figures.add("server_cpu_us_loopback", name, server_cpu / calls * 1e6)
            if name in SEQUENTIAL_ONLY:
                print(f"    {name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
                continue

            calls = _calls_for(name, settings.concurrent_calls)
            server_cpu = server.cpu_seconds()
            cpu, wall = await _with_client(
                name, server.base_url, lambda b, n=calls: _concurrent(b, n, CONCURRENCY)
            )
            server_cpu = server.cpu_seconds() - server_cpu
            figures.add("throughput_c64", name, calls / wall)
            figures.add("cpu_us_c64", name, cpu / calls * 1e6)
            figures.add("server_busy_c64", name, server_cpu / wall)

            streams = max(1, _calls_for(name, settings.streams * 4) // 4)
            cpu, chunks, firsts = await _with_client(
                name, server.base_url, lambda b, n=streams: _streams(b, n)
            )
            figures.add("stream_us_per_chunk", name, cpu / max(chunks, 1) * 1e6)
            figures.add("ttft_ms", name, statistics.median(firsts) * 1000)
            print(f"    {name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
        print(f"  loopback run {run + 1}/{settings.runs} done", file=sys.stderr)


def measure_fresh_processes(settings: Settings, figures: Figures, server: Server) -> None:
    """Import time, RSS after import, and import + construct + first call, in new processes."""
    statements = {
        name: CLIENTS[name][1]
        for name in settings.clients
        if CLIENTS[name][1] and name != "ashford bare, aiohttp"
    }
    for _ in range(settings.import_runs):
        for name, statement in statements.items():
            started = time.monotonic()
            command = [sys.executable, str(HERE / "probe.py"), "import", statement]
            output = subprocess.run(
                [*command, name, server.base_url],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            figures.add("import_ms", name, (result["imported"] - started) * 1000)
            figures.add("rss_after_import_mib", name, result["peak_rss_kib"] / 1024)
            figures.add("first_call_ms", name, (result["first_call"] - started) * 1000)
    print("  fresh-process figures done", file=sys.stderr)


def measure_soak(settings: Settings, figures: Figures) -> None:
    """RSS growth over many in-process calls through the recommended stack."""
    name = "ashford stack"
    if name not in settings.clients:
        return
    output = subprocess.run(
        [sys.executable, str(HERE / "probe.py"), "soak", name, str(settings.soak_calls)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    figures.extra["soak"] = {"client": name, **result}
    print("  soak done", file=sys.stderr)


# --- the run ---------------------------------------------------------------------------------


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def parse_args(argv: list[str] | None = None) -> tuple[Settings, Path, bool]:
    """Reads the command line into Settings, the output folder and whether to draw a chart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--clients", help="comma-separated client names (default: every installed one)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    args = parser.parse_args(argv)
    names = list(CLIENTS)
    if args.clients:
        names = [n.strip() for n in args.clients.split(",")]
        unknown = [n for n in names if n not in CLIENTS]
        if unknown:
            parser.error(f"unknown clients {unknown}; known: {list(CLIENTS)}")
    elif not peers_available():
        names = [n for n in names if not CLIENTS[n][2]]
        print("peers not installed: measuring ashford_llm and the floor only", file=sys.stderr)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    client_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if args.quick:
        settings = Settings(1, 200, 200, 2, 1, 2_000, names, client_cpu, server_cpu)
    else:
        settings = Settings(3, 1_000, 1_000, 5, 5, 100_000, names, client_cpu, server_cpu)
    return settings, args.out, not args.no_chart


def main(argv: list[str] | None = None) -> None:
    """Runs every figure and writes the outputs."""
    settings, out, chart = parse_args(argv)
    figures = Figures()
    load_at_start = os.getloadavg()
    started = time.perf_counter()
    server = Server(settings.server_cpu)
    try:
        _pin(settings.client_cpu)
        measure_fresh_processes(settings, figures, server)
        asyncio.run(measure_in_process(settings, figures))
        asyncio.run(measure_loopback(settings, figures, server))
    finally:
        server.close()
    measure_soak(settings, figures)
    meta = {
        **machine(),
        "load_average_at_start": load_at_start,
        "command": " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "settings": settings.__dict__,
        "seconds": round(time.perf_counter() - started, 1),
        "floor": FLOOR,
        "floor_anthropic": FLOOR_ANTHROPIC,
    }
    print(write_outputs(figures.samples, figures.extra, meta, out, chart=chart))


if __name__ == "__main__":
    main()
