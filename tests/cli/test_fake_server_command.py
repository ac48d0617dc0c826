import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ashford_llm import ChatMessage, CompletionRequest, ModelConfig
from ashford_llm.providers import OpenAIProvider


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_port() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ashford_llm", "fake-server", "--port", str(port), "--seed", "7"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert process.poll() is None, "fake-server exited early"
                time.sleep(0.05)
        else:
            pytest.fail("fake-server did not start listening")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_fake_server_command_serves_a_provider(server_port: int) -> None:
    provider = OpenAIProvider(
        ModelConfig("openai", "gpt-4o-mini"),
        api_key="any-key",
        base_url=f"http://127.0.0.1:{server_port}/v1",
    )
    async with provider:
        response = await provider.complete(CompletionRequest([ChatMessage.user("echo me")]))
    assert response.content == "echo me"


def test_fake_server_command_rejects_bad_fault_names() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ashford_llm", "fake-server", "--fault", "meteor"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "invalid choice: 'meteor'" in result.stderr
