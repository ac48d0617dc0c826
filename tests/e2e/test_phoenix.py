"""End to end: the demo's traces, exported over OTLP/HTTP, read back from Arize Phoenix.

Phoenix runs from its own environment (made by `make test`), started once per session on
127.0.0.1 and stopped by its PID. Phoenix keeps attributes, status and events, but not the
span kind and no metrics: those are checked with in-memory exporters in the unit tests.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ashford_llm.cli import main
from ashford_llm.cli.demo import MODELS

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("phoenix_launcher.py")
READY_TIMEOUT_S = 180.0
READ_BACK_TIMEOUT_S = 60.0

pytestmark = pytest.mark.timeout(600)


def phoenix_python() -> Path | None:
    """Finds the Python of Phoenix's environment, or None when it is not installed."""
    configured = os.environ.get("ASHFORD_PHOENIX")
    binary = Path(configured) if configured else REPO / ".venv-phoenix" / "bin" / "phoenix"
    python = binary.with_name("python")
    return python if binary.exists() and python.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def phoenix_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = phoenix_python()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail("Phoenix is not installed: `make test` installs it into .venv-phoenix")
        pytest.skip("Phoenix is not installed (run `make test`, which installs it)")
    workdir = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
        "PHOENIX_ENABLE_MCP_SERVER": "false",
        "OTEL_SDK_DISABLED": "true",
    }
    log = (workdir / "phoenix.log").open("wb")
    process = subprocess.Popen(
        [str(python), str(LAUNCHER)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"Phoenix exited with {process.returncode}; see {workdir}/phoenix.log")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Phoenix not ready after {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def read_spans(url: str, project: str, expected: int) -> list[dict[str, Any]]:
    """Polls Phoenix's REST API until `expected` spans of the project are visible."""
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/v1/projects/{project}/spans", params={"limit": 1000})
        if response.status_code == 200:
            spans = response.json()["data"]
            if len(spans) >= expected:
                return spans
        time.sleep(0.5)
    pytest.fail(f"Phoenix shows {len(spans)} spans of {project}, expected {expected}")


def test_demo_traces_reach_phoenix_with_genai_attributes(
    phoenix_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = f"ashford-e2e-{uuid.uuid4().hex[:8]}"
    calls = 18
    status = main(
        [
            "demo",
            "--calls",
            str(calls),
            "--fault-rate",
            "0.45",
            "--seed",
            "11",
            "--otlp-endpoint",
            phoenix_url,
            "--no-otlp-metrics",
            "--project",
            project,
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    # Attempts after each call's first: Retry's retries and Fallback's switches.
    retries = int(re.search(r"retries\s+(\d+) attempts", out).group(1))  # type: ignore[union-attr]
    failures = int(re.search(r"typed failures\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    assert retries > 0, "the seeded faults should force at least one retry"

    spans = read_spans(phoenix_url, project, calls)
    assert len(spans) == calls
    names = {f"chat {model}" for model in MODELS.values()}
    for span in spans:
        attributes = span["attributes"]
        assert span["name"] in names
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] in {"openai", "anthropic", "gcp.gemini"}
        assert span["name"] == f"chat {attributes['gen_ai.request.model']}"
        assert attributes["server.address"] == "127.0.0.1"
        if span["status_code"] == "ERROR":
            assert attributes["error.type"]
        else:
            assert attributes["gen_ai.usage.input_tokens"] > 0
            assert attributes["gen_ai.usage.output_tokens"] > 0
            assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
            assert attributes["gen_ai.response.id"]
    assert sum(span["status_code"] == "ERROR" for span in spans) == failures
    retry_events = [
        event for span in spans for event in span["events"] if event["name"] == "ashford.retry"
    ]
    switches = [
        event for span in spans for event in span["events"] if event["name"] == "ashford.fallback"
    ]
    assert len(retry_events) + len(switches) == retries
    for event in retry_events:
        assert event["attributes"]["ashford.retry.attempt"] >= 1
        assert event["attributes"]["error.type"].endswith("Error")
