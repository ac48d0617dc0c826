"""Test doubles: terminal handlers to put under a stack instead of a real vendor.

The cassette format Replay reads has one home, `ashford_llm.cassette` (the Recorder layer
writes it in production code).

The fake provider server (FakeProviderServer and its types) needs the `testing` extra
(starlette, uvicorn); it is imported only when one of its names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ashford_llm import _lazy
from ashford_llm.testing.mock import MockProvider, MockStream, ScriptExhaustedError
from ashford_llm.testing.replay import Replay, ReplayMismatchError

if TYPE_CHECKING:
    from ashford_llm.testing.fake_server import (
        AnswerRequest,
        FakeProviderServer,
        Fault,
        Outage,
        ServedRecord,
        ServerStats,
        canned,
        echo,
    )

_LAZY = dict.fromkeys(
    (
        "AnswerRequest",
        "FakeProviderServer",
        "Fault",
        "Outage",
        "ServedRecord",
        "ServerStats",
        "canned",
        "echo",
    ),
    "ashford_llm.testing.fake_server",
)

__all__ = [
    "AnswerRequest",
    "FakeProviderServer",
    "Fault",
    "MockProvider",
    "MockStream",
    "Outage",
    "Replay",
    "ReplayMismatchError",
    "ScriptExhaustedError",
    "ServedRecord",
    "ServerStats",
    "canned",
    "echo",
]


__getattr__ = _lazy.lazy_getattr(__name__, _LAZY)
