"""How the command reports a failed call: one line, and an exit status a job runner can use."""

from __future__ import annotations

import sys
from typing import TextIO

from ashford_llm.config import ConfigError
from ashford_llm.errors import LLMError, RetryableError

EXIT_OK = 0
EXIT_FATAL = 2
EXIT_RETRYABLE = 3


def report(error: BaseException, *, stream: TextIO | None = None) -> int:
    """Prints `error` as one line (class and message, no traceback); returns the exit status.

    A retryable LLMError exits 3, any other LLMError and a configuration error exit 2.
    """
    out = stream if stream is not None else sys.stderr
    if isinstance(error, LLMError):
        print(f"error: {type(error).__name__}: {error}", file=out)
        return EXIT_RETRYABLE if isinstance(error, RetryableError) else EXIT_FATAL
    if isinstance(error, ConfigError | ValueError | TypeError):
        print(f"error: {type(error).__name__}: {error}", file=out)
        return EXIT_FATAL
    raise error
