"""Measures `import ashford_llm` against `import httpx` in fresh processes.

Prints a markdown table of medians (min-max) over several runs and the ratio, which the
performance goal bounds at 1.2x, and writes `benchmarks/results/import_time.json`.
The runs alternate between the statements, so drift hits each alike, and the ratio is the
median of the round-by-round ratios.
Run: `.venv/bin/python benchmarks/import_time.py [--runs 15]`.
"""

from __future__ import annotations

import argparse
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
}


def time_import(statement: str) -> float:
    """Returns wall-clock milliseconds of a fresh interpreter running `statement`."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return (time.perf_counter() - started) * 1000.0


def main() -> None:
    """Prints the table and writes the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--out", type=Path, default=resultfile.RESULTS / "import_time.json")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in MODULES}
    for _ in range(args.runs):
        for name, code in MODULES.items():
            samples[name].append(time_import(code))
    print("| import | median ms | min-max ms |")
    print("|---|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {statistics.median(values):.0f} | {min(values):.0f}-{max(values):.0f} |")
    pairs = zip(samples["ashford_llm"], samples["httpx"], strict=True)
    ratio = statistics.median(mine / theirs for mine, theirs in pairs)
    print(f"\nashford_llm / httpx, median of round-by-round ratios: {ratio:.2f}x (goal <= 1.2x)")
    resultfile.write(
        args.out,
        script="import_time.py",
        parameters={"runs": args.runs, "statements": MODULES},
        data={"samples_ms": samples, "ratio": ratio, "bound": 1.2},
    )


if __name__ == "__main__":
    main()
