import json
import re
from pathlib import Path

import httpx
import pytest
import respx

from ashford_llm.cli import main
from ashford_llm.config import StackConfig

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"
BASE = "http://127.0.0.1:9/v1"


def openai_answer(text: str) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"x-request-id": "req_1"},
        json={
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
    )


def sse(payload: object) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def openai_stream(chunks: list[str]) -> httpx.Response:
    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, object]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": "c1", "model": "gpt-4o-mini", "choices": [choice]}

    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    body = "".join(sse(chunk({"content": text}, None)) for text in chunks)
    body += sse(chunk({}, "stop"))
    body += sse({"id": "c1", "model": "gpt-4o-mini", "choices": [], "usage": usage})
    body += "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ashford.toml"
    path.write_text(
        '[model]\nprovider = "openai"\nmodel = "gpt-4o-mini"\n\n'
        f'[provider]\nbase_url = "{BASE}"\n\n'
        '[[middleware]]\nlayer = "Retry"\nmax_retries = 2\nbase_delay = 0.01\n\n'
        '[[middleware]]\nlayer = "JsonValidation"\n'
    )
    return path


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cli-key-0123456789")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@respx.mock
def test_complete_prints_the_answer_and_usage(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = respx.post(f"{BASE}/chat/completions").mock(return_value=openai_answer('{"a": 1}'))
    assert main(["complete", "hi", "--config", str(config_file), "--json"]) == 0
    out, err = capsys.readouterr()
    assert out == '{"a": 1}\n'
    assert "5 in, 2 out" in err
    assert b'"response_format":{"type":"json_object"}' in route.calls.last.request.content


@respx.mock
def test_complete_retries_then_succeeds(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.post(f"{BASE}/chat/completions").mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "busy", "type": "server_error"}}),
            openai_answer("fine"),
        ]
    )
    assert main(["complete", "hi", "--config", str(config_file)]) == 0
    assert "attempts 2" in capsys.readouterr().err


@respx.mock
def test_complete_streams_text(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.post(f"{BASE}/chat/completions").mock(return_value=openai_stream(["Hel", "lo"]))
    assert main(["complete", "hi", "--config", str(config_file), "--stream"]) == 0
    assert capsys.readouterr().out == "Hello\n"


@respx.mock
def test_fatal_error_exits_2_with_one_line(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(
            400, json={"error": {"message": "bad model", "type": "invalid_request_error"}}
        )
    )
    assert main(["complete", "hi", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: InvalidRequestError: bad model")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@respx.mock
def test_retryable_error_exits_3(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(
            429,
            headers={"retry-after": "600"},
            json={
                "error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
            },
        )
    )
    assert main(["complete", "hi", "--config", str(config_file)]) == 3
    assert capsys.readouterr().err.startswith("error: RateLimitError: slow down")


def test_missing_key_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["complete", "hi", "--provider", "anthropic", "--model", "claude-sonnet-4-5"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[model]\nprovider = "openai"\nmodel = "m"\n[[midleware]]\nlayer = "Retry"\n',
            "midleware",
        ),
        (
            '[model]\nprovider = "openai"\nmodel = "m"\n[[middleware]]\nlayer = "Retyr"\n',
            "unknown layer",
        ),
        (
            '[model]\nprovider = "openai"\nmodel = "m"\n'
            '[[middleware]]\nlayer = "Retry"\nretries = 1\n',
            "retries",
        ),
        ('[model]\nprovider = "nope"\nmodel = "m"\n', "unknown provider"),
        ("[model\n", "invalid TOML"),
    ],
)
def test_config_errors_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["complete", "hi", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_config_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["complete", "hi", "--config", "/nonexistent/ashford.toml"]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_documented_example_config_builds_the_documented_stack() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert blocks, "docs/config.md has no TOML example"
    config = StackConfig.from_toml(blocks[0])
    from ashford_llm import ClientBuilder, provider_from_config

    stack = ClientBuilder.from_layers(config.layers()).build(
        provider_from_config(config.model, **config.provider)
    )
    assert repr(stack).startswith("Tracing -> Retry(max_retries=4) -> RateLimit(")
    assert repr(stack).endswith("OpenAIProvider(model='gpt-4o-mini')")
