"""Writes one benchmark's results file: its figures plus the machine, versions and command.

Every figure the docs quote comes from a file under `benchmarks/results/` written here;
`benchmarks/render_docs.py` renders the docs' tables from those files.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = (
    "ashford-llm",
    "httpx",
    "httpx-sse",
    "msgspec",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "openai",
    "anthropic",
    "litellm",
    "httpx2",
    "httpcore2",
    "pydantic-ai-slim",
    "any-llm-sdk",
    "httpx-aiohttp",
    "aiohttp",
    "redis",
)


def machine() -> dict[str, Any]:
    """Describes the machine and the versions of the packages installed."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "versions": versions,
    }


def command(script: str, argv: list[str] | None = None) -> str:
    """Returns the command line that produced a file, relative to the repository."""
    return shlex.join(["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])


def write(path: Path, *, script: str, parameters: dict[str, Any], data: dict[str, Any]) -> None:
    """Writes `data` with its provenance (date, command, parameters, machine) to `path`."""
    document = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            "command": command(script),
            "parameters": parameters,
            **machine(),
        },
        **data,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
