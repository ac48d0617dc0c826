"""Importing ashford_llm must stay light: no heavy module until it is used."""

import subprocess
import sys

FORBIDDEN = ["opentelemetry.sdk", "rich", "starlette", "uvicorn", "pydantic", "redis", "matplotlib"]


def test_import_pulls_in_no_forbidden_module() -> None:
    code = (
        "import sys, ashford_llm, ashford_llm.providers, ashford_llm.middleware,"
        " ashford_llm.testing\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}"
        f" or any(m.startswith(f + '.') or m == f for f in {FORBIDDEN!r}))\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"heavy imports: {result.stdout.strip()}"
