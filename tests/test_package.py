"""The package as a user installs it, and docs/testing.md's examples run as a user's tests.

docs/testing.md is one test module spread over code blocks: its ```toml block becomes the
project's pyproject.toml and its ```python blocks, in order, its test file. The examples run
from a temporary project outside this repository, first with the dev environment (fast), then
from a fresh virtual environment that installs the built wheel (slow): that one catches a
wheel without py.typed, an entry point (the CLI, the pytest plugin) or a package file.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTING_DOC = ROOT / "docs" / "testing.md"
_BLOCK = re.compile(r"^```(python|toml)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_SUMMARY = re.compile(r"^=*\s*(\d+) passed", re.MULTILINE)
ENTRY_POINTS = {
    "console_scripts": "ashford-llm = ashford_llm.cli:main",
    "pytest11": "ashford_llm = ashford_llm.testing.pytest_plugin",
}
SDIST_FILES = {"LICENSE", "README.md", "pyproject.toml", "ashford_llm/py.typed"}


def doc_project(text: str, directory: Path) -> int:
    """Writes the doc's blocks as a project in `directory`; returns how many tests it defines."""
    blocks = _BLOCK.findall(text)
    toml = [code for kind, code in blocks if kind == "toml"]
    python = [code for kind, code in blocks if kind == "python"]
    assert len(toml) == 1, "docs/testing.md needs exactly one ```toml block (the pytest config)"
    assert python, "docs/testing.md has no python examples"
    module = "\n\n".join(python)
    (directory / "pyproject.toml").write_text(toml[0], encoding="utf-8")
    (directory / "test_testing_doc.py").write_text(module, encoding="utf-8")
    return sum(
        isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name.startswith("test_")
        for node in ast.parse(module).body
    )


def user_env() -> dict[str, str]:
    """The environment of a user's shell: nothing pointing into this repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    return env | {"PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def run(command: list[str | Path], cwd: Path, timeout: float = 300) -> str:
    """Runs a command as a user would; fails the test with its output when it fails."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{output[-4000:]}"
    return output


def run_doc_tests(python: Path, project: Path, expected: int) -> str:
    """Runs the doc project's tests with `python`'s pytest; all `expected` tests must pass."""
    output = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    passed = _SUMMARY.search(output)
    assert passed is not None, output[-4000:]
    assert int(passed.group(1)) == expected, output[-4000:]
    assert " failed" not in output, output[-4000:]
    assert " error" not in output, output[-4000:]
    return output


def missing_from_wheel(wheel: Path, root: Path = ROOT) -> list[str]:
    """Names the package files and entry points of the source tree that the wheel lacks."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        declared = archive.read(entry_points).decode()
    package = root / "ashford_llm"
    wanted = {
        path.relative_to(root).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    missing = sorted(wanted - names)
    for group, line in ENTRY_POINTS.items():
        if f"[{group}]\n{line}" not in declared:
            missing.append(f"entry point [{group}] {line}")
    return missing


@pytest.mark.timeout(300)  # a whole pytest run in a subprocess, on a busy machine
async def test_the_testing_doc_runs_as_a_project_outside_the_repository(tmp_path: Path) -> None:
    expected = doc_project(TESTING_DOC.read_text(encoding="utf-8"), tmp_path)
    assert expected >= 7
    assert not tmp_path.resolve().is_relative_to(ROOT)
    run_doc_tests(Path(sys.executable), tmp_path, expected)


@pytest.mark.timeout(300)
def test_a_broken_doc_example_fails_the_doc_run(tmp_path: Path) -> None:
    text = TESTING_DOC.read_text(encoding="utf-8")
    broken = text.replace('assert response.content == "hello there"', "assert False", 1)
    assert broken != text
    expected = doc_project(broken, tmp_path)
    with pytest.raises(AssertionError, match="exited 1"):
        run_doc_tests(Path(sys.executable), tmp_path, expected)


def test_the_wheel_check_names_a_missing_file_and_entry_point(tmp_path: Path) -> None:
    root = tmp_path / "src"
    (root / "ashford_llm").mkdir(parents=True)
    (root / "ashford_llm" / "__init__.py").write_text("")
    (root / "ashford_llm" / "py.typed").write_text("")
    wheel = tmp_path / "broken.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("ashford_llm/__init__.py", "")
        archive.writestr(
            "x.dist-info/entry_points.txt", "[console_scripts]\n" + ENTRY_POINTS["console_scripts"]
        )
    assert missing_from_wheel(wheel, root) == [
        "ashford_llm/py.typed",
        f"entry point [pytest11] {ENTRY_POINTS['pytest11']}",
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_built_wheel_works_from_a_fresh_environment(tmp_path: Path) -> None:
    dist, venv, project = tmp_path / "dist", tmp_path / "venv", tmp_path / "project"
    project.mkdir()
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], cwd=tmp_path)
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    assert missing_from_wheel(wheel) == []
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        assert {f"{top}/{name}" for name in SDIST_FILES} <= set(archive.getnames())

    # A fresh environment: the wheel with its testing extra, and pytest, from the registry.
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    constraints = ["-c", ROOT / "constraints.txt"]
    run([*install, *constraints, f"{wheel}[testing]", "pytest", "pytest-asyncio"], cwd=project)

    probe = """
import asyncio, importlib.resources, pathlib, sys
import ashford_llm
from ashford_llm import ChatMessage, CompletionRequest
from ashford_llm.testing import MockProvider

installed = pathlib.Path(ashford_llm.__file__).resolve()
assert installed.is_relative_to(pathlib.Path(sys.prefix).resolve()), installed
assert importlib.resources.files("ashford_llm").joinpath("py.typed").is_file()

async def main():
    async with MockProvider(["Paris"]) as mock:
        response = await mock.complete(CompletionRequest([ChatMessage.user("Capital?")]))
    print("answer:", response.content)

asyncio.run(main())
"""
    assert "answer: Paris" in run([python, "-c", probe], cwd=project)
    assert "usage: ashford-llm" in run([venv / "bin" / "ashford-llm", "--help"], cwd=project)
    expected = doc_project(TESTING_DOC.read_text(encoding="utf-8"), project)
    run_doc_tests(python, project, expected)  # its fixtures come from the plugin's entry point
