from pathlib import Path

import pytest

from ashford_llm import ConfigError, ModelConfig
from ashford_llm.config import StackConfig


def test_config_from_dict_fills_defaults() -> None:
    config = ModelConfig.from_dict({"provider": "openai", "model": "gpt-4o-mini"})
    assert config == ModelConfig("openai", "gpt-4o-mini", None, 1024)


def test_config_from_toml_table(tmp_path: Path) -> None:
    path = tmp_path / "ashford.toml"
    path.write_text(
        '[model]\nprovider = "anthropic"\nmodel = "claude-sonnet-4-5"\n'
        "temperature = 0.3\nmax_output_tokens = 200\n"
    )
    config = ModelConfig.from_toml(path, table="model")
    assert config.provider == "anthropic"
    assert config.temperature == 0.3
    assert config.max_output_tokens == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": "m"}, "provider"),
        ({"provider": "openai", "model": "m", "temprature": 1}, "temprature"),
        ({"provider": "openai", "model": "m", "temperature": "hot"}, "temperature"),
        ({"provider": "openai", "model": "m", "temperature": 3.0}, "temperature"),
        ({"provider": "openai", "model": "m", "max_output_tokens": 0}, "max_output_tokens"),
        ({"provider": "", "model": "m"}, "provider"),
        ("not a table", "Expected `object`"),
    ],
)
def test_config_names_the_bad_field(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_dict(data)


def test_config_rejects_bad_toml() -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        ModelConfig.from_toml("provider = ")


def test_config_reports_missing_table() -> None:
    with pytest.raises(ConfigError, match=r"no table \[llm.model\]"):
        ModelConfig.from_toml('provider = "openai"\nmodel = "m"', table="llm.model")


def test_config_direct_construction_validates() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        ModelConfig("openai", "m", temperature=-1)


STACK_TOML = """
[model]
provider = "openai"
model = "gpt-4o-mini"

[provider]
base_url = "http://127.0.0.1:8089/v1"
timeout = 30

[[middleware]]
layer = "Retry"
max_retries = 4

[[middleware]]
layer = "Timeout"
total = 30
"""


def test_stack_config_reads_model_provider_and_layers_in_order() -> None:
    stack = StackConfig.from_toml(STACK_TOML)
    assert stack.model == ModelConfig("openai", "gpt-4o-mini")
    assert stack.provider == {"base_url": "http://127.0.0.1:8089/v1", "timeout": 30}
    assert stack.layers() == [("Retry", {"max_retries": 4}), ("Timeout", {"total": 30})]


def test_stack_config_refuses_keys_in_the_file() -> None:
    text = STACK_TOML.replace("timeout = 30", 'timeout = 30\napi_key = "sk-abc"')
    with pytest.raises(ConfigError, match="must not hold api_key"):
        StackConfig.from_toml(text)


def test_stack_config_needs_layer_names() -> None:
    with pytest.raises(ConfigError, match="entry 1 needs a layer"):
        StackConfig.from_toml(
            '[model]\nprovider = "openai"\nmodel = "m"\n[[middleware]]\nmax_retries = 2\n'
        )


def test_stack_config_names_unknown_tables() -> None:
    with pytest.raises(ConfigError, match="midleware"):
        StackConfig.from_toml(
            '[model]\nprovider = "openai"\nmodel = "m"\n[[midleware]]\nlayer = "Retry"\n'
        )
