"""A throwaway redis-server for tests: a free loopback port, no persistence, killed by PID.

`redis_server_or_skip()` starts one, or skips with a clear reason when the binary is absent,
except under CI (the environment variable CI set), where its absence fails the run: there
the project's set-up (`make services`) must have installed it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["RedisServer", "redis_server_or_skip"]

_START_TIMEOUT_S = 10.0


class RedisServer:
    """One redis-server process on 127.0.0.1, which can be stopped and started again."""

    def __init__(self, binary: str, directory: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Starts the server on its port and waits (bounded) until it answers PING."""
        options = {
            "--port": str(self.port),
            "--bind": "127.0.0.1",
            "--save": "",
            "--appendonly": "no",
            "--dir": self.directory,
            "--logfile": "",
        }
        self._process = subprocess.Popen(
            [self.binary, *(part for option in options.items() for part in option)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _answers_ping(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {_START_TIMEOUT_S}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kills the server by its PID and waits for it to exit."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self, down_s: float) -> None:
        """Kills the server (losing every key), stays down `down_s` seconds, starts it again."""
        self.stop()
        time.sleep(down_s)
        self.start()


@contextmanager
def redis_server_or_skip() -> Iterator[RedisServer]:
    """Runs a RedisServer for the block; skips (fails under CI) when redis-server is absent."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (`make services` installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI needs it")
        pytest.skip(reason)
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(binary, directory)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _free_port() -> int:
    """Returns a port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    """Tells whether a Redis server on the port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False
