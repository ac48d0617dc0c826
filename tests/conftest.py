"""Lets respx mock httpx2 clients too: the providers' own client is httpx2 (same API as httpx).

respx patches httpcore's connection pools; httpx2 sends through httpcore2's, whose request and
response objects have the same shape, so respx's httpcore mocker drives them unchanged once it
also patches httpcore2's classes (what the pytest-httpx2 plugin does). Routes still receive
`httpx.Request` objects and answer with `httpx.Response`.
"""

from __future__ import annotations

from respx.mocks import HTTPCoreMocker

HTTPCoreMocker.add_targets(
    "httpcore2._async.connection.AsyncHTTPConnection",
    "httpcore2._async.connection_pool.AsyncConnectionPool",
    "httpcore2._async.http_proxy.AsyncHTTPProxy",
)
