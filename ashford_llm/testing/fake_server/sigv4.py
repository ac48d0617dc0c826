"""Checks AWS Signature Version 4 on a request the fake server received, with botocore.

The server knows the secret of each test access key, so it recomputes the signature the way
the client's botocore did (canonical request from the raw path, the signed headers and the
body's SHA-256; string to sign; HMAC chain) and compares. No crypto is written here.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["check_signature"]

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<headers>[a-z0-9;\-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_MAX_SKEW_SECONDS = 300


def check_signature(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> str | None:
    """Checks a SigV4 `Authorization` with botocore; returns why it fails, or None when valid.

    The signature is recomputed from the request as received (raw path, the headers it
    names as signed, the body) with the secret of its access key in `keys` (access key id ->
    secret key). The reasons: "malformed", "unknown key", "no date", "date mismatch",
    "expired" (more than five minutes off), "unsigned host or missing header", "mismatch".
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    match = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
    if match is None:
        return "malformed"
    secret = keys.get(match["key"])
    if secret is None:
        return "unknown key"
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "no date"
    if amz_date[:8] != match["date"]:
        return "date mismatch"
    if abs(((now or datetime.now(UTC)) - signed_at).total_seconds()) > _MAX_SKEW_SECONDS:
        return "expired"
    names = match["headers"].split(";")
    if "host" not in names or any(name not in headers for name in names):
        return "unsigned host or missing header"
    url = f"http://{headers['host']}{raw_path}"
    aws_request = AWSRequest(
        method=method, url=url, data=body, headers={name: headers[name] for name in names}
    )
    aws_request.context["timestamp"] = amz_date
    token = headers.get("x-amz-security-token")
    credentials = ReadOnlyCredentials(match["key"], secret, token)
    auth = SigV4Auth(credentials, match["service"], match["region"])
    canonical = auth.canonical_request(aws_request)
    expected = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
    if not hmac.compare_digest(expected, match["signature"]):
        return "mismatch"
    return None
