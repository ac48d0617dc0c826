"""The blocking `serve` entry point (what the CLI runs), in a child process on 127.0.0.1."""

import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.testing.fake_server.helpers import request_parts

SERVE = (
    "from ashford_llm.testing.fake_server import serve; "
    "serve(port={port}, fault_rate=1.0, faults={{'unavailable': 1}}, seed=7, log_level='warning')"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_serve_runs_a_seeded_faulty_server_until_stopped() -> None:
    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", SERVE.format(port=port)])
    try:
        path, headers, body = request_parts("openai", "hi", key="any-key-works")
        response = None
        deadline = time.monotonic() + 15
        while response is None and time.monotonic() < deadline:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/v1{path}", headers=headers, json=body, timeout=5
                )
            except httpx.ConnectError:
                time.sleep(0.05)
        assert response is not None
        assert response.status_code == 503
    finally:
        child.terminate()
        assert child.wait(timeout=10) is not None
