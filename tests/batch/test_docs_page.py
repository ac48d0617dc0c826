"""docs/batch.md's Python example runs, against the fake server's batch APIs."""

from __future__ import annotations

from pathlib import Path

from tests.test_docs import run_page

ROOT = Path(__file__).resolve().parents[2]


async def test_batch_page_example_runs() -> None:
    namespace = await run_page("docs/batch.md", (ROOT / "docs/batch.md").read_text())
    assert namespace["retry_later"] == ["mail-3"]
    assert namespace["resumed"] == namespace["handle"]
    assert namespace["handle"].count == 4
