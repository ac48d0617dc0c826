"""The docs' figures are what their committed results files give.

Every table and figure between `<!-- results:NAME -->` markers in the docs is rendered by
`benchmarks/render_docs.py` from `benchmarks/results/*.json`; a doc edited by hand, or a
results file re-measured without re-rendering, fails here.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

import render_docs  # noqa: E402

# The blocks each doc must carry, so deleting a table's markers fails too.
REQUIRED = {
    "docs/performance.md": {
        "run-machine",
        "run-tables",
        "run-peers",
        "instructions",
        "instructions-layers",
        "pool-limits",
        "import-time",
    },
    "docs/decisions/provider-selection.md": {"decision-figures", "run-peers"},
    "docs/decisions/default-transport.md": {"transport-figures"},
    "docs/reliability.md": {"redis-steady", "redis-restart", "soak"},
}


def blocks(text: str) -> set[str]:
    return {match.group(1) for match in render_docs.BLOCK.finditer(text)}


@pytest.mark.parametrize("doc", render_docs.DOCS)
def test_doc_matches_its_results_files(doc: str) -> None:
    text = (ROOT / doc).read_text()
    load = render_docs.loader(RESULTS)
    assert render_docs.stale_blocks(text, load) == []
    assert render_docs.render(text, load) == text


@pytest.mark.parametrize(("doc", "names"), REQUIRED.items())
def test_doc_carries_its_rendered_tables(doc: str, names: set[str]) -> None:
    assert blocks((ROOT / doc).read_text()) >= names


def test_check_mode_passes_on_the_committed_docs() -> None:
    assert render_docs.main(["--check"]) == 0


def test_a_number_edited_by_hand_is_stale() -> None:
    text = (ROOT / "docs/performance.md").read_text()
    start = text.index("<!-- results:instructions -->")
    row = text.index("| ashford bare |", start)
    digit = next(i for i in range(row + 15, len(text)) if text[i].isdigit())
    edited = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1 :]
    assert render_docs.stale_blocks(edited, render_docs.loader(RESULTS)) == ["instructions"]


def test_a_soak_figure_edited_by_hand_is_stale() -> None:
    text = (ROOT / "docs/reliability.md").read_text()
    load = render_docs.loader(RESULTS)
    successes = load("soak.json")["successes"]
    row = f"| successes | {successes:,} |"
    assert text.count(row) == 1
    edited = text.replace(row, f"| successes | {successes + 1:,} |")
    assert render_docs.stale_blocks(edited, load) == ["soak"]
    breaches = len(load("soak.json")["violations"])
    row = f"| breaches | {breaches:,} |"
    assert text.count(row) == 1
    edited = text.replace(row, f"| breaches | {breaches + 1:,} |")
    assert render_docs.stale_blocks(edited, load) == ["soak"]


def test_a_soak_with_breaches_renders_them_grouped_and_makes_the_doc_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in RESULTS.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    run = json.loads((tmp_path / "soak.json").read_text())
    run["unexplained"] = 2
    run["violations"] = [
        "call 12 attempt 1: LLMTimeoutError, but the server injected no fault (no event in 1s)",
        "call 40 attempt 3: LLMTimeoutError, but the server injected no fault (total=3s)",
        "2 task(s) still pending: [<Task pending>]",
    ]
    (tmp_path / "soak.json").write_text(json.dumps(run))

    assert render_docs.main(["--check", "--results", str(tmp_path)]) == 1
    assert "docs/reliability.md: stale soak" in capsys.readouterr().out
    table = render_docs.soak(render_docs.loader(tmp_path))
    assert "| failed attempts; failures or retries no injected fault explains | " in table
    assert f"{run['failed_attempts']:,}; 2 |" in table
    assert "| pending tasks at the end | 2 |" in table
    assert "| breaches | 3 |" in table
    assert "- 2 x `call N attempt N: LLMTimeoutError, but the server injected no fault`" in table
    assert "- 1 x `N task(s) still pending: [<Task pending>]`" in table


def test_a_remeasured_results_file_makes_the_docs_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in RESULTS.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    redis = json.loads((tmp_path / "redis_rate.json").read_text())
    redis["runs"]["requests"]["requests_per_minute"] *= 1.5
    (tmp_path / "redis_rate.json").write_text(json.dumps(redis))
    pools = json.loads((tmp_path / "pool_limits.json").read_text())
    pools["rows"][0]["calls_per_s"] = [v * 2 for v in pools["rows"][0]["calls_per_s"]]
    (tmp_path / "pool_limits.json").write_text(json.dumps(pools))
    assert render_docs.main(["--check", "--results", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "docs/reliability.md: stale redis-steady" in out
    assert "docs/performance.md: stale pool-limits" in out
    assert "provider-selection" not in out


def test_unknown_block_unclosed_block_and_missing_file_are_errors(tmp_path: Path) -> None:
    load = render_docs.loader(RESULTS)
    with pytest.raises(render_docs.RenderError, match="unknown results block 'nope'"):
        render_docs.render("<!-- results:nope -->\n<!-- /results:nope -->", load)
    with pytest.raises(render_docs.RenderError, match="run-peers has no closing marker"):
        render_docs.render("<!-- results:run-peers -->\n| a |\n", load)
    with pytest.raises(render_docs.RenderError, match=r"missing results file results\.json"):
        render_docs.render(
            "<!-- results:run-peers -->\n<!-- /results:run-peers -->", render_docs.loader(tmp_path)
        )


def test_inline_and_table_blocks_render_from_the_file() -> None:
    load = render_docs.loader(RESULTS)
    goals = {goal["goal"]: goal for goal in load("results.json")["goals"]}
    expected = f"{goals['throughput c=64 / openai SDK']['ratio']:.2f}x"
    inline = "served <!-- results:goal-throughput -->?<!-- /results:goal-throughput --> of it"
    assert render_docs.render(inline, load) == (
        f"served <!-- results:goal-throughput -->{expected}<!-- /results:goal-throughput --> of it"
    )
    table = render_docs.render(
        "<!-- results:redis-restart -->\n<!-- /results:redis-restart -->", load
    )
    assert table.startswith("<!-- results:redis-restart -->\n\n| policy |")
    assert table.endswith("\n\n<!-- /results:redis-restart -->")
