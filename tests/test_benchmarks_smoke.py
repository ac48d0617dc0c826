"""The benchmark script runs end to end (quick mode, floor and ashford_llm clients only).

Not a timed test: it checks that the script measured every figure and wrote its outputs, so a
change that breaks `make bench` fails here first.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
CLIENTS = ["httpx+msgspec (floor)", "ashford bare", "ashford stack"]
QUICK = ["--quick", "--no-chart", "--clients", ",".join(CLIENTS)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_benchmark_writes_table_and_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(RUN), *QUICK, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads((tmp_path / "results.json").read_text())
    for figure in ("cpu_us_in_process", "cpu_us_loopback", "throughput_c64", "stream_us_per_chunk"):
        assert set(document["summary"][figure]) == set(CLIENTS)
        assert all(s["median"] > 0 for s in document["summary"][figure].values())
    assert document["soak"]["calls"] > 0
    assert {g["goal"] for g in document["goals"]} >= {"bare CPU loopback / floor"}
    table = (tmp_path / "table.md").read_text()
    assert table in result.stdout
    assert all(f"| {client} |" in table for client in CLIENTS)


@pytest.mark.timeout(120)
def test_import_time_writes_a_results_file_the_docs_render(tmp_path: Path) -> None:
    script = RUN.parent / "import_time.py"
    out = tmp_path / "import_time.json"
    result = subprocess.run(
        [sys.executable, str(script), "--runs", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(out.read_text())
    assert document["meta"]["parameters"]["runs"] == 2
    assert document["meta"]["command"].endswith("import_time.py --runs 2 --out " + str(out))
    assert {name: len(v) for name, v in document["samples_ms"].items()} == {
        "bare interpreter": 2,
        "httpx": 2,
        "ashford_llm": 2,
        "httpx2": 2,
        "httpx_aiohttp": 2,
        "ashford_llm + httpx2": 2,
    }
    sys.path.insert(0, str(RUN.parent))
    import render_docs

    table = render_docs.import_time(render_docs.loader(tmp_path))
    assert f"wall time {document['ratio']:.2f}x, CPU time {document['cpu_ratio']:.2f}x" in table
    assert "each the median of 2 round-by-round ratios" in table
    assert all(v > 0 for values in document["cpu_ms"].values() for v in values)
    assert all(v > 5 for values in document["rss_mib"].values() for v in values)
