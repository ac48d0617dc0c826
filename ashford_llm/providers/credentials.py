"""API keys for the providers: a fixed key, or the vendor's environment variables.

A provider asks `get()` before each request and `refresh()` once after a 401, and sends the
request again only when the refreshed key differs from the rejected one; any object with
these two coroutines can stand in (a secrets manager, a token service). Every key goes
through `checked_key` before it is used.

Where a key alone is not the credential, a `RequestSigner` authenticates each request as it
is sent instead (AWS SigV4 signs the method, URL, headers and a hash of the body, with a
timestamp, so no header can be computed ahead of the request).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from ashford_llm.errors import MissingCredentialsError

if TYPE_CHECKING:
    import httpx

__all__ = ["Credentials", "EnvCredentials", "RequestSigner", "StaticCredentials", "checked_key"]


def checked_key(key: str) -> str:
    """Returns the key without surrounding whitespace; rejects one that is not key-shaped.

    A pasted key often ends in a newline, and httpx refuses a header value with control
    characters in an error that quotes the value, key included. Surrounding whitespace is
    dropped; whitespace, control or non-ASCII characters inside raise a ValueError whose
    message never contains the key.
    """
    if not isinstance(key, str):
        raise TypeError(f"an API key must be a string, got {type(key).__name__}")
    key = key.strip()
    if not key:
        raise ValueError("the API key must be a non-empty string")
    if not key.isascii() or not key.isprintable() or any(char.isspace() for char in key):
        raise ValueError(
            "the API key contains whitespace, control or non-ASCII characters "
            "(the key is not shown); check how it was copied"
        )
    return key


class Credentials(Protocol):
    """Supplies an API key, and a fresh one after the vendor rejected it."""

    async def get(self) -> str:
        """Returns the current key."""
        ...

    async def refresh(self) -> str:
        """Returns a renewed key (called once after a 401)."""
        ...


class RequestSigner(Protocol):
    """Authenticates each request at send time, from the request itself (e.g. AWS SigV4)."""

    async def sign(self, request: httpx.Request) -> None:
        """Adds the auth headers to a built request whose body is complete."""
        ...


class StaticCredentials:
    """A fixed key; refreshing returns the same key."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = checked_key(key)

    async def get(self) -> str:
        """Returns the key."""
        return self._key

    async def refresh(self) -> str:
        """Returns the same key: a static key cannot be renewed."""
        return self._key

    def __repr__(self) -> str:
        return "StaticCredentials(key=[redacted])"


class EnvCredentials:
    """Reads the key from the first set environment variable; refresh re-reads them."""

    __slots__ = ("_key", "names", "provider")

    def __init__(self, names: tuple[str, ...], *, provider: str) -> None:
        self.names = names
        self.provider = provider
        self._key = self._read()

    def _read(self) -> str:
        """Returns the first non-empty variable's value, or raises naming all of them."""
        for name in self.names:
            value = os.environ.get(name, "").strip()
            if value:
                return checked_key(value)
        raise MissingCredentialsError(
            f"no API key for {self.provider}: pass api_key= or set " + " or ".join(self.names),
            provider=self.provider,
        )

    async def get(self) -> str:
        """Returns the key read at construction or at the last refresh."""
        return self._key

    async def refresh(self) -> str:
        """Re-reads the environment, so a rotated key is picked up."""
        self._key = self._read()
        return self._key

    def __repr__(self) -> str:
        return f"EnvCredentials(names={self.names!r})"
