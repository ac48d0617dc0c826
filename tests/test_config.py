from pathlib import Path

import pytest

from ashford_llm import ConfigError, ModelConfig


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
