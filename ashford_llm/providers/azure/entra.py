"""Microsoft Entra ID bearer tokens for Azure OpenAI, as `Credentials`.

`EntraIDCredentials` adapts any azure-identity credential (a `TokenCredential` such as
`DefaultAzureCredential`, `ManagedIdentityCredential`, or the async ones from
`azure.identity.aio`) to the provider's `Credentials` protocol: it asks for a token for the
scope, keeps it until `refresh_margin` seconds before it expires, and asks again on
`refresh()` (the provider calls it once after a 401). Nothing here imports azure-identity;
only `EntraIDCredentials.default()` does, and it names the `azure` extra when it is missing.
The token is never in a repr, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DEFAULT_SCOPE", "AccessTokenLike", "EntraIDCredentials", "TokenCredentialLike"]

DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
"""The token scope of Azure OpenAI (newer Foundry resources also take https://ai.azure.com/.default)."""


class AccessTokenLike(Protocol):
    """What azure-identity's `get_token` returns: the token and its Unix expiry time."""

    @property
    def token(self) -> str: ...

    @property
    def expires_on(self) -> int: ...


class TokenCredentialLike(Protocol):
    """An azure-identity credential: `get_token(*scopes)`, plain or async."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class EntraIDCredentials:
    """Bearer tokens from an azure-identity credential, renewed before they expire.

    Args:
        credential: an azure-identity credential (sync or async `get_token`); a sync one
            runs in a worker thread, since it may make a network request.
        scope: the token scope; default Azure OpenAI's (`DEFAULT_SCOPE`).
        refresh_margin: seconds before expiry at which a new token is fetched.
        clock: returns the Unix time (injectable for tests).
    """

    __slots__ = ("_clock", "_credential", "_expires_on", "_lock", "_token", "margin", "scope")

    def __init__(
        self,
        credential: TokenCredentialLike,
        *,
        scope: str = DEFAULT_SCOPE,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise TypeError(
                "credential must be an azure-identity credential with get_token(), "
                f"got {type(credential).__name__}"
            )
        if not isinstance(scope, str) or not scope.strip():
            raise ValueError(f"scope must be a non-empty string, got {scope!r}")
        if isinstance(refresh_margin, bool) or refresh_margin < 0:
            raise ValueError(f"refresh_margin must be >= 0 seconds, got {refresh_margin!r}")
        self._credential = credential
        self.scope = scope
        self.margin = float(refresh_margin)
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def default(cls, *, scope: str = DEFAULT_SCOPE, **options: Any) -> EntraIDCredentials:
        """Builds one over azure-identity's `DefaultAzureCredential` (`options` go to it).

        Raises ImportError naming the extra when azure-identity is not installed.
        """
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError as exc:
            raise ImportError(
                "Entra ID tokens need azure-identity: pip install 'ashford-llm[azure]'"
            ) from exc
        return cls(DefaultAzureCredential(**options), scope=scope)

    def _fresh(self) -> bool:
        """True while the held token has more than `margin` seconds left."""
        return self._token is not None and self._clock() < self._expires_on - self.margin

    async def _fetch(self) -> str:
        """Asks the credential for a new token and keeps it with its expiry."""
        get_token = self._credential.get_token
        if inspect.iscoroutinefunction(get_token):
            access = await get_token(self.scope)
        else:
            access = await asyncio.to_thread(get_token, self.scope)
            if inspect.isawaitable(access):  # a wrapped async credential
                access = await access
        token = getattr(access, "token", None)
        if not isinstance(token, str) or not token:
            raise TypeError("the credential's get_token() returned no token string")
        expires_on = getattr(access, "expires_on", None)
        if isinstance(expires_on, bool) or not isinstance(expires_on, int | float):
            raise TypeError("the credential's get_token() returned no expires_on time")
        self._token, self._expires_on = token, float(expires_on)
        return token

    async def get(self) -> str:
        """Returns the held token, or a new one when it is missing or about to expire."""
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:  # concurrent calls share one fetch
            if self._fresh():
                assert self._token is not None
                return self._token
            return await self._fetch()

    async def refresh(self) -> str:
        """Fetches a new token (after a 401); azure-identity may hand back its cached one."""
        async with self._lock:
            return await self._fetch()

    async def aclose(self) -> None:
        """Closes the credential when it can be closed (async azure-identity credentials)."""
        close = getattr(self._credential, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result

    def __repr__(self) -> str:
        return f"EntraIDCredentials(scope={self.scope!r}, token=[redacted])"
