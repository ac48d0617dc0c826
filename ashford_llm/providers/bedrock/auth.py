"""AWS authentication for Bedrock: SigV4 request signing and the credential chain, by botocore.

No crypto is written here: `SigV4Signer` hands each built request (method, URL, the `host`
and `content-type` headers, the timestamp, the body) to botocore's `SigV4Auth`, which builds
the canonical request (the body's SHA-256 included) and signs it; the request then gets the
`Authorization`, `X-Amz-Date` and (for temporary credentials) `X-Amz-Security-Token`
headers. Credentials are botocore's: the standard chain (`botocore.session.Session()
.get_credentials()`: environment, shared files and profiles, SSO, containers, instance
metadata) or an object passed in. Refreshable credentials are
refreshed by botocore before they expire; the refresh may call a service, so it runs in a
worker thread rather than on the event loop.

botocore is the optional extra `bedrock`; it is imported here only when a signer is built,
and a missing install is an ImportError naming the extra.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ashford_llm.errors import MissingCredentialsError

if TYPE_CHECKING:
    import httpx

__all__ = ["SIGNED_HEADERS", "SigV4Signer", "chain_credentials", "require_botocore"]

SIGNED_HEADERS = ("host", "content-type")
"""The request headers signed besides botocore's own (`x-amz-date`, `x-amz-security-token`)."""

_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+")


def require_botocore() -> ModuleType:
    """Imports botocore, or raises an ImportError that names the extra to install."""
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.eventstream
        import botocore.session
    except ImportError as exc:
        raise ImportError(
            "the Bedrock provider needs botocore: pip install 'ashford-llm[bedrock]'"
        ) from exc
    module: ModuleType = botocore
    return module


def check_region(region: str) -> str:
    """Returns an AWS region name, or raises ValueError for one that is not shaped like it."""
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ValueError(f"region must be an AWS region name like 'us-east-1', got {region!r}")
    return region


def chain_credentials(profile: str | None = None) -> Any:
    """Returns the credentials the standard AWS chain finds, or raises MissingCredentialsError.

    It may look up instance or container metadata when nothing closer is configured.
    """
    botocore = require_botocore()
    session = botocore.session.Session(profile=profile)
    credentials = session.get_credentials()
    if credentials is None:
        raise MissingCredentialsError(
            "no AWS credentials for bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "a profile, or AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key)",
            provider="bedrock",
        )
    return credentials


class SigV4Signer:
    """Signs each Bedrock request with AWS Signature Version 4 (botocore's `SigV4Auth`).

    Args:
        credentials: botocore credentials (`Credentials`, `RefreshableCredentials`, ...).
        region: the AWS region the request goes to.
        service: the signing name ("bedrock" for bedrock-runtime).
    """

    __slots__ = ("_botocore", "_credentials", "_refreshable", "region", "service")

    def __init__(self, credentials: Any, *, region: str, service: str = "bedrock") -> None:
        botocore = require_botocore()
        if not isinstance(credentials, botocore.credentials.Credentials):
            raise TypeError(
                "credentials must be botocore credentials (botocore.credentials.Credentials), "
                f"got {type(credentials).__name__}"
            )
        self.region = check_region(region)
        self.service = service
        self._credentials = credentials
        self._refreshable = isinstance(credentials, botocore.credentials.RefreshableCredentials)
        self._botocore = botocore

    async def _frozen(self) -> Any:
        """Returns a consistent (key, secret, token) snapshot, refreshing off the loop if due."""
        credentials = self._credentials
        if self._refreshable and credentials.refresh_needed():
            return await asyncio.to_thread(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    async def sign(self, request: httpx.Request) -> None:
        """Adds `Authorization`, `X-Amz-Date` and any `X-Amz-Security-Token` to the request.

        botocore's public SigV4Auth steps are called one by one rather than `add_auth`,
        which logs the canonical request at DEBUG, session token included.
        """
        frozen = await self._frozen()
        botocore = self._botocore
        headers = {
            name: request.headers[name] for name in SIGNED_HEADERS if name in request.headers
        }
        timestamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers["X-Amz-Date"] = timestamp
        if frozen.token:
            headers["X-Amz-Security-Token"] = frozen.token
        aws_request = botocore.awsrequest.AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        aws_request.context["timestamp"] = timestamp
        auth = botocore.auth.SigV4Auth(frozen, self.service, self.region)
        canonical = auth.canonical_request(aws_request)
        signature = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
        signed = auth.signed_headers(auth.headers_to_sign(aws_request))
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={auth.scope(aws_request)}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        request.headers["X-Amz-Date"] = timestamp
        if frozen.token:
            request.headers["X-Amz-Security-Token"] = frozen.token

    def __repr__(self) -> str:
        return f"SigV4Signer(region={self.region!r}, service={self.service!r})"
