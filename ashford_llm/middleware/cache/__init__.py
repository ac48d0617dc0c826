"""Cache: the layer (`layer`), its key (`key`), the in-process LRU backend (`backends`), and
the Redis-shared one (`redis_cache`, imported only when used: it needs the `redis` extra)."""

from ashford_llm.middleware.cache.backends import CacheBackend, MemoryCache
from ashford_llm.middleware.cache.key import cache_key
from ashford_llm.middleware.cache.layer import Cache, replay

__all__ = ["Cache", "CacheBackend", "MemoryCache", "cache_key", "replay"]
