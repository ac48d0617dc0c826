"""Measures `import ashford_llm` against `import httpx` in fresh processes.

Prints a markdown table of medians (min-max) over several runs and the ratio, which the
performance goal bounds at 1.2x. Run: `.venv/bin/python benchmarks/import_time.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15
MODULES = {
    "httpx": "import httpx",
    "ashford_llm": (
        "import ashford_llm, ashford_llm.providers, ashford_llm.middleware, ashford_llm.testing"
    ),
}


def time_import(statement: str, runs: int = RUNS) -> list[float]:
    """Returns wall-clock milliseconds of a fresh interpreter running `statement`, per run."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def main() -> None:
    """Prints the table."""
    baseline = time_import("pass")
    results = {name: time_import(code) for name, code in MODULES.items()}
    print("| import | median ms | min-max ms | over bare interpreter ms |")
    print("|---|---|---|---|")
    floor = statistics.median(baseline)
    for name, samples in results.items():
        median = statistics.median(samples)
        print(
            f"| {name} | {median:.0f} | {min(samples):.0f}-{max(samples):.0f} "
            f"| {median - floor:.0f} |"
        )
    ratio = statistics.median(results["ashford_llm"]) / statistics.median(results["httpx"])
    print(f"\nashford_llm / httpx: {ratio:.2f}x (goal <= 1.2x)")


if __name__ == "__main__":
    main()
