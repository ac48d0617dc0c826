"""A throwaway redis-server for tests, the one the workers demo runs (`cli/_redis_server.py`).

`redis_server_or_skip()` starts one, or skips with a one-line reason saying how to get it
when there is none, except under CI (the environment variable CI set), where its absence
fails the run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ashford_llm.cli._redis_server import MISSING, RedisServer, find_redis_server, free_port

__all__ = ["RedisServer", "closed_port", "find_redis_server", "redis_server_or_skip"]


@contextmanager
def redis_server_or_skip() -> Iterator[RedisServer]:
    """Runs a RedisServer for the block; skips (fails under CI) when redis-server is absent."""
    binary = find_redis_server()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING}; CI runs every test")
        pytest.skip(MISSING)
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(binary, directory)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def closed_port() -> int:
    """A loopback port nothing listens on: a Redis that is down."""
    return free_port()
