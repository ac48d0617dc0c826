"""Google access tokens for Vertex AI, through the project's `Credentials` protocol.

`GoogleAuthCredentials` wraps a google-auth credentials object: Application Default
Credentials (found by `google.auth.default` on first use) or one the caller made. google-auth
is the optional extra `vertex`, imported only when ADC are loaded, never by `import
ashford_llm`. Loading and refreshing block (they may call the metadata server or the token
endpoint), so both run in a worker thread, one at a time. A token is fetched on the first
request, renewed when it has less than `refresh_margin` seconds left, and renewed once more
when the provider's 401 rule asks for it. Tokens never appear in a repr or an error message.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ashford_llm.errors import (
    AuthenticationError,
    LLMError,
    MissingCredentialsError,
    NetworkError,
    redact,
)

__all__ = ["CLOUD_PLATFORM_SCOPE", "GoogleAuthCredentials", "GoogleCredentialsLike"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# google-auth itself treats a token as expired 3 min 45 s early; 5 minutes leaves room for a
# long request that starts just before that.
DEFAULT_REFRESH_MARGIN = 300.0


class GoogleCredentialsLike(Protocol):
    """What this module uses of a `google.auth.credentials.Credentials` object.

    `expiry` is a naive UTC datetime (google-auth's convention), or None for no known expiry.
    """

    token: str | None
    expiry: datetime.datetime | None

    def refresh(self, request: Any) -> None:
        """Fetches a new token (blocking)."""
        ...


def _utcnow() -> datetime.datetime:
    """The current UTC time as a naive datetime, as google-auth compares expiries."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _default_credentials(scopes: Sequence[str]) -> GoogleCredentialsLike:
    """Loads Application Default Credentials (blocking); a clear error when there are none."""
    try:
        import google.auth
        import google.auth.exceptions
    except ImportError:
        raise MissingCredentialsError(
            "Vertex AI needs google-auth for Application Default Credentials: "
            "pip install 'ashford-llm[vertex]', or pass credentials= or access_token=",
            provider="vertex",
        ) from None
    try:
        credentials, _project = google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise MissingCredentialsError(
            f"no Google Application Default Credentials: {redact(str(exc))}",
            provider="vertex",
        ) from None
    found: GoogleCredentialsLike = credentials
    return found


def _transport_request() -> Any:
    """Returns google-auth's HTTP request object for refreshing (its `requests` transport)."""
    try:
        from google.auth.transport.requests import Request
    except ImportError:
        raise MissingCredentialsError(
            "refreshing Google credentials needs google-auth with requests: "
            "pip install 'ashford-llm[vertex]'",
            provider="vertex",
        ) from None
    return Request()


class GoogleAuthCredentials:
    """Bearer tokens from google-auth, fetched lazily and renewed before they expire.

    Args:
        credentials: a google-auth credentials object (anything with `token`, `expiry` and
            `refresh(request)`); None loads Application Default Credentials on first use.
        scopes: the OAuth scopes asked of ADC (Vertex AI needs cloud-platform).
        refresh_margin: seconds before expiry at which a token is renewed.
        request_factory: makes the HTTP request object `refresh` takes (default: google-auth's
            `requests` transport); tests pass their own.
    """

    __slots__ = ("_credentials", "_lock", "_request_factory", "refresh_margin", "scopes")

    def __init__(
        self,
        credentials: GoogleCredentialsLike | None = None,
        *,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        request_factory: Callable[[], Any] = _transport_request,
    ) -> None:
        if isinstance(refresh_margin, bool) or not isinstance(refresh_margin, int | float):
            raise TypeError("refresh_margin must be a number of seconds")
        if not 0 <= refresh_margin < 3600:
            raise ValueError(f"refresh_margin must be within [0, 3600), got {refresh_margin!r}")
        if credentials is not None and not callable(getattr(credentials, "refresh", None)):
            raise TypeError("credentials must be a google-auth credentials object")
        self._credentials = credentials
        self.scopes = tuple(scopes)
        self.refresh_margin = float(refresh_margin)
        self._request_factory = request_factory
        self._lock = asyncio.Lock()

    @property
    def quota_project(self) -> str | None:
        """The credentials' quota project (sent as `x-goog-user-project`), once loaded."""
        value = getattr(self._credentials, "quota_project_id", None)
        return value if isinstance(value, str) and value else None

    def _fresh(self, credentials: GoogleCredentialsLike) -> bool:
        """True when the token exists and lives longer than the margin."""
        if not credentials.token:
            return False
        expiry = credentials.expiry
        if expiry is None:
            return True
        margin = datetime.timedelta(seconds=self.refresh_margin)
        return _utcnow() < expiry.replace(tzinfo=None) - margin

    def _load_and_refresh(self, *, force: bool) -> str:
        """Loads the credentials if needed and refreshes the token (blocking, in a thread)."""
        if self._credentials is None:
            self._credentials = _default_credentials(self.scopes)
        credentials = self._credentials
        if force or not self._fresh(credentials):
            try:
                credentials.refresh(self._request_factory())
            except Exception as exc:
                raise _refresh_error(exc) from None
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                "the Google credentials gave no access token after refreshing", provider="vertex"
            )
        return token

    async def _token(self, *, force: bool) -> str:
        """Returns the token, renewing it in a worker thread when needed (one at a time)."""
        credentials = self._credentials
        if not force and credentials is not None and self._fresh(credentials):
            token = credentials.token
            assert token is not None  # _fresh checked it
            return token
        async with self._lock:
            credentials = self._credentials
            if not force and credentials is not None and self._fresh(credentials):
                token = credentials.token
                assert token is not None
                return token
            return await asyncio.to_thread(self._load_and_refresh, force=force)

    async def get(self) -> str:
        """Returns a token with more than `refresh_margin` seconds left (fetched lazily)."""
        return await self._token(force=False)

    async def refresh(self) -> str:
        """Renews the token whatever its expiry (after Vertex rejected it with a 401)."""
        return await self._token(force=True)

    def __repr__(self) -> str:
        kind = "ADC" if self._credentials is None else type(self._credentials).__name__
        return f"GoogleAuthCredentials({kind}, token=[redacted])"


def _refresh_error(exc: Exception) -> Exception:
    """Maps a google-auth refresh failure to the error tree, naming no token.

    google-auth's TransportError (the token endpoint or metadata server was unreachable), or a
    RefreshError it marks `retryable`, is a NetworkError; any other failure (revoked or invalid
    credentials) an AuthenticationError, which Retry does not repeat by default. Messages are
    redacted.
    """
    if isinstance(exc, LLMError):
        return exc
    kind = type(exc).__name__
    message = redact(str(exc.args[0]) if exc.args else kind)
    if kind == "TransportError" or getattr(exc, "retryable", False) is True:
        return NetworkError(
            f"could not reach Google to refresh the access token: {message}", provider="vertex"
        )
    return AuthenticationError(
        f"refreshing the Google access token failed ({kind}): {message}", provider="vertex"
    )
