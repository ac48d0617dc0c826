"""`ashford-llm batch submit | status | collect` against the fake server, in new processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ashford_llm.batch.jsonl import BatchFileError, read_requests
from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server.batches import BatchOptions
from ashford_llm.types import ImagePart

ROOT = Path(__file__).resolve().parents[2]
LINES = [
    {"custom_id": "a-1", "request": {"messages": [{"role": "user", "content": "first one"}]}},
    {
        "custom_id": "a-2",
        "request": {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "second one"},
                        {"type": "image", "data": "iVBORw0KGgo=", "media_type": "image/png"},
                    ],
                }
            ],
            "max_tokens": 50,
            "tools": [{"name": "label", "description": "Sets a label"}],
        },
    },
    {"custom_id": "a-3", "request": {"messages": [{"role": "user", "content": "third"}]}},
]


async def cli(*args: str) -> tuple[int, str, str]:
    env = os.environ | {"OPENAI_API_KEY": "test-key"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ashford_llm",
        *args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_submit_status_and_collect_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    handle_file = tmp_path / "handle.json"
    server = FakeProviderServer(
        batch=BatchOptions(processing_seconds=0.3, faults={"a-3": "invalid"})
    )
    async with server.run() as running:
        base = ["--base-url", running.base_url("openai")]
        code, out, err = await cli(
            "batch",
            "submit",
            str(source),
            "--provider",
            "openai",
            "--model",
            "gpt-x",
            "--handle-file",
            str(handle_file),
            *base,
        )
        assert code == 0, err
        handle = json.loads(out)
        assert handle == json.loads(handle_file.read_text())
        assert (handle["vendor"], handle["model"], handle["count"]) == ("openai", "gpt-x", 3)
        code, out, err = await cli("batch", "status", str(handle_file), *base)
        assert code == 0, err
        assert json.loads(out)["total"] == 3
        code, out, err = await cli(
            "batch", "collect", handle_file.read_text(), "--poll-seconds", "0.1", *base
        )
    assert code == 2, err  # one item failed for good
    outcomes = {line["custom_id"]: line for line in map(json.loads, out.splitlines())}
    assert outcomes["a-1"]["ok"] is True
    assert outcomes["a-1"]["content"] == "first one"
    # a-2 offers a tool, so the fake model calls it (docs/testing.md, "Tool calls")
    assert outcomes["a-2"]["finish_reason"] == "tool_calls"
    assert [(c["name"], c["arguments"]) for c in outcomes["a-2"]["tool_calls"]] == [("label", {})]
    assert "tool_calls" not in outcomes["a-1"]
    assert outcomes["a-3"] == {
        "custom_id": "a-3",
        "ok": False,
        "error": "InvalidRequestError",
        "retryable": False,
        "message": outcomes["a-3"]["message"],
    }
    assert "3 items: 2 ok, 1 failed" in err


def test_the_input_format_reads_parts_and_tools() -> None:
    requests = read_requests(json.dumps(line) for line in LINES)
    second = requests["a-2"]
    image = second.messages[0].content[1]
    assert isinstance(image, ImagePart)
    assert image.data == b"\x89PNG\r\n\x1a\n"
    assert second.tools[0].name == "label"
    assert second.max_tokens == 50


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [
                '{"custom_id": "a", "request": {"messages": [{"role": "user", "content": "x"}]}}',
                '{"custom_id": "a", "request": {"messages": [{"role": "user", "content": "x"}]}}',
            ],
            "line 2: custom_id 'a' is repeated",
        ),
        (['{"custom_id": "a"}'], "line 1: Object missing required field `request`"),
        (["not json"], "line 1: JSON is malformed"),
        (['{"custom_id": "a", "request": {"messages": "x"}}'], "line 1: Expected `array`"),
        ([""], "no requests"),
    ],
)
def test_a_bad_input_file_names_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(BatchFileError, match=message.replace("`", ".")):
        read_requests(lines)
