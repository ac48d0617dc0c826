"""Where cached answers live: the `CacheBackend` seam and the in-process LRU `MemoryCache`.

A backend stores opaque bytes (the Cache layer encodes answers with msgspec) under a key,
each with an optional time to live. `RedisCache` (in `redis_cache`) shares entries across
processes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["CacheBackend", "MemoryCache"]


@runtime_checkable
class CacheBackend(Protocol):
    """Stores bytes under string keys, each for a time to live."""

    async def get(self, key: str) -> bytes | None:
        """Returns the value stored under `key`, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        """Stores `value` under `key` for `ttl` seconds (None: until evicted)."""
        ...


class MemoryCache:
    """Keeps up to `max_entries` answers in this process, evicting the least recently used.

    Args:
        max_entries: how many entries to keep; the least recently read or written goes first.
        clock: seconds on a monotonic clock, for the time to live; injectable for tests.
    """

    def __init__(self, max_entries: int = 1024, *, clock: Callable[[], float] = time.monotonic):
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        if not callable(clock):
            raise TypeError("clock must be a callable returning seconds")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        """Returns a live entry (marking it recently used); drops an expired one."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires is not None and self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        """Stores an entry, evicting the least recently used beyond `max_entries`."""
        self._entries[key] = (None if ttl is None else self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self.max_entries}, entries={len(self._entries)})"
