"""Faster HTTP transports behind the providers' `http_client` seam, keeping httpx's API.

httpx 0.28's own connection pool costs more CPU per call the more connections it juggles;
the httpx-aiohttp transport runs the same `httpx.AsyncClient` on aiohttp's pool, which the
benchmarks measure at several times the calls per second at concurrency 64. It is an extra
(`pip install 'ashford-llm[aiohttp]'`), imported only when a client is built.
"""

from __future__ import annotations

import httpx

from ashford_llm.providers._http import DEFAULT_LIMITS, DEFAULT_TIMEOUT

__all__ = ["aiohttp_client"]

_EXTRA_HINT = (
    "aiohttp_client needs the httpx-aiohttp package: install the aiohttp extra, "
    "pip install 'ashford-llm[aiohttp]'"
)


def aiohttp_client(
    *, limits: httpx.Limits | None = None, timeout: httpx.Timeout | None = None
) -> httpx.AsyncClient:
    """Returns an httpx.AsyncClient on the aiohttp transport, for a provider's `http_client`.

    Every provider, layer and error mapping works unchanged: the transport raises httpx's
    exceptions. The caller owns the client and closes it (`await client.aclose()`), as with
    any client given to a provider; share one between providers of one event loop.

    Args:
        limits: the connection pool's limits; None uses the providers' own defaults.
        timeout: per-request timeouts; None uses the providers' default (long reads, short
            connects).

    Raises:
        ImportError: httpx-aiohttp is not installed; the message names the extra.
    """
    if limits is not None and not isinstance(limits, httpx.Limits):
        raise TypeError(f"limits must be an httpx.Limits or None, got {type(limits).__name__}")
    if timeout is not None and not isinstance(timeout, httpx.Timeout):
        raise TypeError(f"timeout must be an httpx.Timeout or None, got {type(timeout).__name__}")
    try:
        from httpx_aiohttp import AiohttpTransport  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT, name="httpx_aiohttp") from exc
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits or DEFAULT_LIMITS),
        timeout=timeout or DEFAULT_TIMEOUT,
    )
