"""Measures `import ashford_llm` against `import httpx` in fresh processes.

Prints a markdown table of medians (min-max) over several runs and the ratio, which the
performance goal bounds at 1.2x, and writes `benchmarks/results/import_time.json`.
The runs alternate between the statements, so drift hits each alike, and the ratios are the
medians of the round-by-round ratios, of wall time and of the child's CPU time (user +
system), which a busy machine disturbs less.
Run: `.venv/bin/python benchmarks/import_time.py [--runs 15]`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import resultfile

RUNS = 15
MODULES = {
    "bare interpreter": "pass",
    "httpx": "import httpx",
    "ashford_llm": (
        "import ashford_llm, ashford_llm.providers, ashford_llm.middleware, ashford_llm.testing"
    ),
    "httpx2": "import httpx2",
    "httpx_aiohttp": "import httpx_aiohttp",
    # What a provider built without `http_client` has loaded: its own client is httpx2's.
    "ashford_llm + httpx2": (
        "import ashford_llm, ashford_llm.providers, ashford_llm.middleware, "
        "ashford_llm.testing, httpx2"
    ),
}
_RSS = "; import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def time_import(statement: str) -> tuple[float, float, float]:
    """Returns wall-clock and CPU (user + system) ms and peak RSS MiB of a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", statement + _RSS], check=True, capture_output=True, text=True
    ).stdout
    wall = (time.perf_counter() - started) * 1000.0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000.0
    return wall, cpu, int(output.split()[-1]) / 1024


def paired_ratio(mine: list[float], theirs: list[float]) -> float:
    """Returns the median of round-by-round ratios mine / theirs."""
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


def main() -> None:
    """Prints the table and writes the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--out", type=Path, default=resultfile.RESULTS / "import_time.json")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in MODULES}
    cpu: dict[str, list[float]] = {name: [] for name in MODULES}
    rss: dict[str, list[float]] = {name: [] for name in MODULES}
    for _ in range(args.runs):
        for name, code in MODULES.items():
            wall, used, peak = time_import(code)
            samples[name].append(wall)
            cpu[name].append(used)
            rss[name].append(peak)
    print("| import | wall ms, median (min-max) | CPU ms, median (min-max) |")
    print("|---|---|---|")
    for name, values in samples.items():
        print(
            f"| {name} | {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) "
            f"| {statistics.median(cpu[name]):.0f} ({min(cpu[name]):.0f}-{max(cpu[name]):.0f}) |"
        )
    ratio = paired_ratio(samples["ashford_llm"], samples["httpx"])
    cpu_ratio = paired_ratio(cpu["ashford_llm"], cpu["httpx"])
    with_client = paired_ratio(cpu["ashford_llm + httpx2"], cpu["httpx"])
    print(
        f"\nashford_llm / httpx, median of round-by-round ratios: wall {ratio:.2f}x, "
        f"CPU {cpu_ratio:.2f}x (goal <= 1.2x)"
    )
    resultfile.write(
        args.out,
        script="import_time.py",
        parameters={"runs": args.runs, "statements": MODULES},
        data={
            "samples_ms": samples,
            "cpu_ms": cpu,
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "cpu_ratio_with_default_client": with_client,
            "rss_mib": rss,
            "bound": 1.2,
        },
    )


if __name__ == "__main__":
    main()
