"""Fuzzes the public constructors and decoders: bad input gets only the documented errors.

Messages and requests raise ValueError or TypeError (msgspec.ValidationError when decoded),
configs ConfigError (from dicts and TOML text, nesting included), providers ValueError or
TypeError, cassettes ValueError from `Cassette.load`; a rebuilt recorded error is always an
exception object, never an import side effect.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse, ModelConfig, StackConfig
from ashford_llm.cassette import Cassette, RecordedCall, RecordedError
from ashford_llm.config import ConfigError
from ashford_llm.errors import LLMError, ServerError
from tests.reliability.vendors import VENDORS, make_provider

T = TypeVar("T")


def attempt(build: Callable[[], T], *allowed: type[Exception]) -> T | Exception:
    """Returns what `build()` gives, or the allowed error it raised, which must say something.

    Any other exception escapes and fails the test.
    """
    try:
        return build()
    except allowed as error:
        raised = error
    assert str(raised).strip(), "an error without a message"
    return raised


FUZZ = settings(max_examples=100, deadline=None, derandomize=True)

ANY_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.binary(max_size=4)
    | st.sampled_from(["user", "system", "assistant", "", " ", "openai", "gpt-4o-mini"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
MESSAGES = st.builds(
    ChatMessage, st.sampled_from(["system", "user", "assistant"]), st.text(max_size=10)
)


@FUZZ
@given(role=ANY_VALUE, content=ANY_VALUE)
def test_chat_message_accepts_valid_input_or_raises_value_or_type_error(
    role: Any, content: Any
) -> None:
    message = attempt(lambda: ChatMessage(role, content), ValueError, TypeError)
    if isinstance(message, ChatMessage):
        assert message.role in ("system", "user", "assistant")
        assert isinstance(message.content, str)


@FUZZ
@given(
    messages=ANY_VALUE | st.lists(MESSAGES | ANY_VALUE, max_size=3),
    temperature=ANY_VALUE,
    max_tokens=ANY_VALUE,
    stop=ANY_VALUE | st.lists(st.text(max_size=3), max_size=3),
)
def test_completion_request_accepts_valid_input_or_raises_value_or_type_error(
    messages: Any, temperature: Any, max_tokens: Any, stop: Any
) -> None:
    request = attempt(
        lambda: CompletionRequest(
            messages, temperature=temperature, max_tokens=max_tokens, stop=stop
        ),
        ValueError,
        TypeError,
    )
    if isinstance(request, CompletionRequest):
        assert request.messages
        assert all(isinstance(m, ChatMessage) for m in request.messages)
        assert request.temperature is None or 0 <= request.temperature <= 2
        assert request.max_tokens is None or request.max_tokens >= 1
        assert all(isinstance(s, str) and s for s in request.stop)


JSON_DOCUMENTS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["role", "content", "messages", "temperature", "max_tokens", "stop"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


@FUZZ
@given(document=JSON_DOCUMENTS)
def test_decoding_a_request_gives_a_request_or_a_validation_error(document: Any) -> None:
    data = json.dumps(document).encode()
    # ValidationError also carries the ValueErrors of __post_init__.
    request = attempt(
        lambda: msgspec.json.decode(data, type=CompletionRequest), msgspec.ValidationError
    )
    if isinstance(request, CompletionRequest):
        assert request.messages


CONFIG_KEYS = st.sampled_from(
    ["provider", "model", "temperature", "max_output_tokens", "layer", "base_url", "api_key"]
)
TOML_VALUES = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(CONFIG_KEYS | st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
TABLES = st.dictionaries(CONFIG_KEYS | st.text(max_size=5), TOML_VALUES | ANY_VALUE, max_size=5)


@FUZZ
@given(data=TABLES | ANY_VALUE)
def test_model_config_from_a_dict_gives_a_config_or_a_config_error(data: Any) -> None:
    config = attempt(lambda: ModelConfig.from_dict(data), ConfigError)
    if isinstance(config, ModelConfig):
        assert config.provider.strip()
        assert config.model.strip()
        assert config.max_output_tokens >= 1


@FUZZ
@given(
    model=TABLES,
    provider=TABLES,
    middleware=st.lists(TABLES, max_size=3) | ANY_VALUE,
)
def test_stack_config_from_a_dict_gives_a_config_or_a_config_error(
    model: Any, provider: Any, middleware: Any
) -> None:
    data = {"model": model, "provider": provider, "middleware": middleware}
    stack = attempt(lambda: StackConfig.from_dict(data), ConfigError)
    if isinstance(stack, StackConfig):
        assert "api_key" not in stack.provider
        assert all(name for name, _ in stack.layers())


VALID_TOML = (
    '[model]\nprovider = "openai"\nmodel = "gpt-4o-mini"\ntemperature = 0.2\n\n'
    '[provider]\nbase_url = "http://127.0.0.1:9/v1"\n\n'
    '[[middleware]]\nlayer = "Retry"\nmax_retries = 2\n'
)


@st.composite
def toml_texts(draw: st.DrawFn) -> str:
    """Valid stack TOML with lines dropped, duplicated or replaced, or text inserted."""
    lines = VALID_TOML.split("\n")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "replace", "nest"]))
        if action == "drop":
            del lines[at]
        elif action == "repeat":
            lines.insert(at, lines[at])
        elif action == "nest":
            depth = draw(st.sampled_from([3, 400, 2000]))
            lines.insert(at, "deep = " + "[" * depth + "]" * depth)
        else:
            lines[at] = draw(st.text(max_size=30))
        if not lines:
            break
    return "\n".join(lines)


@FUZZ
@given(text=toml_texts() | st.text(max_size=60))
def test_stack_config_from_toml_gives_a_config_or_a_config_error(text: str) -> None:
    attempt(lambda: StackConfig.from_toml(text), ConfigError)
    attempt(lambda: ModelConfig.from_toml(text, table="model"), ConfigError)


@pytest.mark.parametrize("depth", [500, 5000])
def test_deeply_nested_toml_is_a_config_error(depth: int) -> None:
    text = VALID_TOML + "\n[extra]\nx = " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ConfigError):
        StackConfig.from_toml(text)
    with pytest.raises(ConfigError):
        ModelConfig.from_toml(text, table="model")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    vendor=st.sampled_from(VENDORS),
    base=st.text(max_size=20) | st.sampled_from(["http://127.0.0.1:1", "ftp://x", "http://[::1"]),
    api_key=st.none() | st.text(max_size=6) | ANY_VALUE,
    timeout=st.none() | st.floats() | st.integers(-2, 2) | st.booleans(),
)
def test_providers_accept_valid_options_or_raise_value_or_type_error(
    vendor: str, base: Any, api_key: Any, timeout: Any
) -> None:
    options = {"api_key": "k-test" if api_key is None else api_key, "timeout": timeout}
    attempt(lambda: make_provider(vendor, base, None, **options), ValueError, TypeError)


def cassette_bytes() -> bytes:
    """A valid cassette with one complete call, one stream and one error."""
    request = CompletionRequest([ChatMessage.user("Hi")], max_tokens=5)
    response = CompletionResponse(
        content="Hello",
        model="m",
        input_tokens=1,
        output_tokens=1,
        latency_ms=1.0,
        finish_reason="stop",
        provider="mock",
    )
    calls = (
        RecordedCall(
            request=request, kind="complete", response=response, started_at=0, duration_ms=1
        ),
        RecordedCall(
            request=request,
            kind="complete",
            error=RecordedError.from_exception(ServerError("boom", status=500)),
            started_at=0,
            duration_ms=1,
        ),
    )
    return msgspec.json.encode(Cassette(provider="mock", calls=calls))


CASSETTE = json.loads(cassette_bytes())


@st.composite
def mutated_cassettes(draw: st.DrawFn) -> bytes:
    """A valid cassette with one value replaced, or its bytes cut or altered."""
    document = json.loads(json.dumps(CASSETTE))
    node: Any = document
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or draw(st.integers(0, 3)) == 0:
            node[key] = draw(JSON_DOCUMENTS)
            break
        node = node[key]
    data = json.dumps(document).encode()
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=4))
    return data


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=mutated_cassettes() | st.binary(max_size=40))
def test_loading_a_cassette_gives_a_cassette_or_a_value_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "calls.json"
        path.write_bytes(data)
        cassette = attempt(lambda: Cassette.load(path), ValueError)
    for call in cassette.calls if isinstance(cassette, Cassette) else ():
        if call.error is not None:
            assert isinstance(call.error.rebuild(), Exception)


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": 1, "provider": "caf\xe9"}',
        b'{"version": 1, "provider": "m", "calls": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"version": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=["latin-1", "deep-calls", "deep-version"],
)
def test_a_cassette_that_is_not_utf8_or_nests_deeply_is_a_value_error(
    body: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "calls.json"
    path.write_bytes(body)
    with pytest.raises(ValueError, match="cassette"):
        Cassette.load(path)


@pytest.mark.parametrize(
    "module", ["ashford_llm.__main__", "ashford_llm.cli", "os", "ashford_llm.nope"]
)
def test_rebuilding_a_recorded_error_imports_nothing_but_error_classes(module: str) -> None:
    recorded = RecordedError(error_class="main", module=module, message="m")
    rebuilt = recorded.rebuild()
    assert isinstance(rebuilt, RuntimeError)
    assert not isinstance(rebuilt, LLMError)
    assert module in str(rebuilt)
