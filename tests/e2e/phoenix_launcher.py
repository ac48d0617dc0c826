"""Starts Arize Phoenix with its gRPC listener on loopback (run by Phoenix's own Python).

Phoenix binds its OTLP/gRPC port on every interface whatever PHOENIX_HOST says; the tests
send over OTLP/HTTP only, and nothing they start may listen beyond 127.0.0.1, so this
launcher rewrites that one bind address before handing over to `phoenix serve`.
"""

import sys

import grpc.aio._server as grpc_server

_add_insecure_port = grpc_server.Server.add_insecure_port


def _loopback_only(self: grpc_server.Server, address: str) -> int:
    return _add_insecure_port(self, address.replace("[::]", "127.0.0.1"))


grpc_server.Server.add_insecure_port = _loopback_only  # type: ignore[method-assign]

from phoenix.server.main import main  # noqa: E402 - after the bind address is fixed

sys.argv = ["phoenix", "serve"]
sys.exit(main())
