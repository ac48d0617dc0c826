import pytest

from ashford_llm.errors import MissingCredentialsError
from ashford_llm.providers.credentials import EnvCredentials, StaticCredentials, checked_key


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


async def test_static_credentials_strip_surrounding_whitespace() -> None:
    credentials = StaticCredentials("  sk-secret-value-123\n")
    assert await credentials.get() == "sk-secret-value-123"
    assert await credentials.refresh() == "sk-secret-value-123"


@pytest.mark.parametrize(
    "key",
    [
        "sk-secret value-123",  # inner space
        "sk-secret\nvalue-123",  # inner newline: httpx would quote it in its error
        "sk-secret\x00value-123",  # control character
        "sk-secrét-value-123",  # non-ASCII
    ],
)
async def test_a_key_that_is_not_key_shaped_is_rejected_without_showing_it(key: str) -> None:
    with pytest.raises(ValueError, match="API key") as caught:
        StaticCredentials(key)
    assert "secret" not in str(caught.value)
    with pytest.raises(ValueError, match="API key") as caught:
        checked_key(key)
    assert "secret" not in str(caught.value)


async def test_env_credentials_check_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASHFORD_TEST_KEY_A", "sk-secret-value-123\r\n")
    credentials = EnvCredentials(("ASHFORD_TEST_KEY_A",), provider="x")
    assert await credentials.get() == "sk-secret-value-123"
    monkeypatch.setenv("ASHFORD_TEST_KEY_A", "sk-secret\tvalue")
    with pytest.raises(ValueError, match="API key") as caught:
        await credentials.refresh()
    assert "secret" not in str(caught.value)
