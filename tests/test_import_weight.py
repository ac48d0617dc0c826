"""Importing ashford_llm must stay light: no heavy module until it is used.

httpx itself imports its optional command-line client (rich, click, pygments) whenever those
happen to be installed, as they are in the dev environment; that cost is httpx's, paid by any
httpx user, so the guard counts only the modules that importing ashford_llm adds on top.
"""

import subprocess
import sys

# The list (opentelemetry.sdk, rich, starlette, uvicorn, pydantic), plus the other extras.
FORBIDDEN = [
    "opentelemetry.sdk",
    "rich",
    "starlette",
    "uvicorn",
    "pydantic",
    "redis",
    "matplotlib",
    "aiohttp",
    "httpx_aiohttp",
    "google.auth",
    "botocore",
    "celery",
    "kombu",
    "billiard",
]

PROBE = f"""
import sys
import httpx
before = set(sys.modules)
import ashford_llm, ashford_llm.providers, ashford_llm.middleware, ashford_llm.testing
import ashford_llm.jobs
added = set(sys.modules) - before
forbidden = {FORBIDDEN!r}
print(",".join(sorted(m for m in added if any(m == f or m.startswith(f + ".") for f in forbidden))))
"""


def test_import_pulls_in_no_forbidden_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"heavy imports: {result.stdout.strip()}"


def test_the_bedrock_module_imports_botocore_only_when_a_provider_is_built() -> None:
    probe = PROBE.replace(
        "import ashford_llm,", "import ashford_llm.providers.bedrock, ashford_llm,"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"heavy imports: {result.stdout.strip()}"


def test_the_guard_sees_a_forbidden_import() -> None:
    probe = PROBE.replace("import ashford_llm,", "import ashford_llm, starlette,")
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "starlette" in result.stdout


# Loaded only when a layer or provider that needs them is used: the import-time goal
# (`import ashford_llm` within 1.2x of `import httpx`) depends on it.
DEFERRED = ["asyncio", "opentelemetry", "aiolimiter", "importlib.metadata", "tomllib"]

DEFER_PROBE = f"""
import sys
import httpx
before = set(sys.modules)
import ashford_llm, ashford_llm.providers, ashford_llm.middleware
ashford_llm.providers.OpenAIProvider, ashford_llm.middleware.Middleware
USE
added = set(sys.modules) - before
deferred = {DEFERRED!r}
print(",".join(sorted(m for m in added if any(m == d or m.startswith(d + ".") for d in deferred))))
"""


def test_import_defers_layers_until_used() -> None:
    probe = DEFER_PROBE.replace("USE", "")
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"loaded before use: {result.stdout.strip()}"


def test_using_a_layer_loads_what_it_needs() -> None:
    probe = DEFER_PROBE.replace("USE", "ashford_llm.middleware.Tracing")
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "opentelemetry" in result.stdout.split(",")


def test_production_layers_do_not_import_the_testing_package() -> None:
    probe = (
        "import sys\n"
        "import ashford_llm.middleware.recording\n"
        "print(sorted(m for m in sys.modules if m.startswith('ashford_llm.testing')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
