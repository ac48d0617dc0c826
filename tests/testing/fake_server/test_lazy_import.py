import subprocess
import sys

PROBE = """
import sys
import ashford_llm.testing, ashford_llm.testing.pytest_plugin
before = {name for name in ("starlette", "uvicorn") if name in sys.modules}
ashford_llm.testing.FakeProviderServer
after = {name for name in ("starlette",) if name in sys.modules}
print(sorted(before), sorted(after))
"""


def test_plugin_and_testing_import_starlette_only_when_the_server_is_used() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.split() == ["[]", "['starlette']"]
