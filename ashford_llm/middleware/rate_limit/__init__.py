"""RateLimit: the layer (`layer`), its in-process limiter (`limiter`), the Redis-shared one
(`redis_limiter`, imported only when used: it needs the `redis` extra), and the token
estimates of images and documents (`media`)."""

from ashford_llm.middleware.rate_limit.layer import RateLimit, estimate_input_tokens

__all__ = ["RateLimit", "estimate_input_tokens"]
