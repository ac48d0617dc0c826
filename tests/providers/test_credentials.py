import pytest

from ashford_llm.errors import MissingCredentialsError
from ashford_llm.providers.credentials import EnvCredentials, StaticCredentials


async def test_env_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASHFORD_TEST_KEY_A", raising=False)
    monkeypatch.delenv("ASHFORD_TEST_KEY_B", raising=False)
    with pytest.raises(MissingCredentialsError, match="ASHFORD_TEST_KEY_A or ASHFORD_TEST_KEY_B"):
        EnvCredentials(("ASHFORD_TEST_KEY_A", "ASHFORD_TEST_KEY_B"), provider="google")


async def test_env_credentials_refresh_rereads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASHFORD_TEST_KEY_B", "first")
    credentials = EnvCredentials(("ASHFORD_TEST_KEY_A", "ASHFORD_TEST_KEY_B"), provider="x")
    assert await credentials.get() == "first"
    monkeypatch.setenv("ASHFORD_TEST_KEY_A", "rotated")
    assert await credentials.refresh() == "rotated"
    assert await credentials.get() == "rotated"
    assert "rotated" not in repr(credentials)


async def test_static_credentials_hide_the_key() -> None:
    credentials = StaticCredentials("sk-secret-value-123")
    assert await credentials.refresh() == "sk-secret-value-123"
    assert "secret" not in repr(credentials)
    with pytest.raises(ValueError, match="non-empty"):
        StaticCredentials(" ")
