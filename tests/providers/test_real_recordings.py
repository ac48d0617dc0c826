"""The real-recording replays are skipped without ../shared, and fail the collection under CI."""

from pathlib import Path

import pytest

from tests.providers.real_recordings import recordings


def test_missing_recordings_are_skipped_outside_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    [param] = recordings("openai", root=tmp_path)
    assert param.values == (None,)
    assert "no shared recordings" in param.marks[0].kwargs["reason"]


def test_missing_recordings_fail_loudly_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI replays every recording"):
        recordings("openai", root=tmp_path)
