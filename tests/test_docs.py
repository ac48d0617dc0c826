"""The Python examples of docs/middleware.md, content.md, tools.md and the README run.

From the README, the "Composing a stack" section runs. Each page's ```python blocks run in
order in one namespace, top-level `await` allowed, as a reader would paste them into
`python -m asyncio`. Coroutine functions named `test_*` that a page defines (the README's
example tests) are run afterwards. Vendor HTTP is mocked with respx.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
TICKET_JSON = '{"label": "billing", "urgent": true}'


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Returns each ```python block's code and the line before its first line."""
    return [
        (text.count("\n", 0, match.start(1)), match.group(1)) for match in _BLOCK.finditer(text)
    ]


def section(text: str, heading: str) -> tuple[int, str]:
    """Returns a `## heading` section (up to the next `## `) and the lines before it."""
    start = text.index(f"\n{heading}\n") + 1
    end = text.find("\n## ", start)
    return text.count("\n", 0, start), text[start : end if end != -1 else len(text)]


async def run_page(name: str, text: str, offset: int = 0) -> dict[str, Any]:
    """Runs the page's blocks in order in one namespace; tracebacks name the page's lines."""
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    blocks = python_blocks(text)
    assert blocks, f"{name} has no python examples"
    for line, code in blocks:
        compiled = compile(
            "\n" * (offset + line) + code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = eval(compiled, namespace)  # the docs are ours, checked in with this test
        if inspect.iscoroutine(result):
            await result
    for key, value in list(namespace.items()):
        if key.startswith("test_") and inspect.iscoroutinefunction(value):
            await value()
    return namespace


def openai_answers_a_ticket(request: httpx.Request) -> httpx.Response:
    body = {
        "id": "chatcmpl-docs",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TICKET_JSON},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9},
    }
    return httpx.Response(200, json=body)


async def test_middleware_page_examples_run() -> None:
    path = ROOT / "docs" / "middleware.md"
    namespace = await run_page("docs/middleware.md", path.read_text(encoding="utf-8"))
    assert {"TokenMeter", "CountingLimiter", "Label"} <= namespace.keys()


async def test_readme_composing_a_stack_examples_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-readme0123456789")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    offset, text = section((ROOT / "README.md").read_text(encoding="utf-8"), "## Composing a stack")
    with respx.mock(assert_all_mocked=True) as vendor:
        route = vendor.post("https://api.openai.com/v1/chat/completions").mock(
            side_effect=openai_answers_a_ticket
        )
        namespace = await run_page("README.md", text, offset)
    assert route.call_count == 2  # the service call and the recording; never the replay
    assert "test_classify_replays_the_recorded_call" in namespace
    cassette = (tmp_path / "classify.json").read_text(encoding="utf-8")
    assert "sk-proj-readme0123456789" not in cassette


async def test_content_page_examples_run() -> None:
    path = ROOT / "docs" / "content.md"
    namespace = await run_page("docs/content.md", path.read_text(encoding="utf-8"))
    assert {"provider", "classify", "RULES"} <= namespace.keys()


async def test_tools_page_examples_run() -> None:
    path = ROOT / "docs" / "tools.md"
    namespace = await run_page("docs/tools.md", path.read_text(encoding="utf-8"))
    assert {"weather", "run", "final"} <= namespace.keys()
