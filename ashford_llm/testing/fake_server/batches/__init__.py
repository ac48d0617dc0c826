"""The three vendors' batch APIs on the fake server, with time scaled to seconds.

OpenAI (`/v1/files`, `/v1/batches`), Anthropic (`/v1/messages/batches`) and Gemini
(`models/{model}:batchGenerateContent`, `batches/{id}`, the Files API's resumable upload and
download) speak their vendors' wire formats over one store (`store`): items answered by the
server's answer function, finishing evenly over `processing_seconds`, an optional expiry,
cancellation, and `faults` mapping custom ids to a status fault (`rate_limit`,
`server_error`, `overloaded`, `quota_exhausted`, `unavailable`) or `invalid` (a 400),
answered for that item inside the results. Gemini's routes are served under `v1beta` (the
provider's default); under `v1`, OpenAI's `/v1/batches/{id}` would take them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.routing import Route

from ashford_llm.testing.fake_server.answers import AnswerFunction, PromptCache
from ashford_llm.testing.fake_server.batches.anthropic import AnthropicBatchRoutes
from ashford_llm.testing.fake_server.batches.gemini import GeminiBatchRoutes
from ashford_llm.testing.fake_server.batches.openai import OpenAIBatchRoutes
from ashford_llm.testing.fake_server.batches.store import BatchOptions, BatchStore

__all__ = ["BatchOptions", "FakeBatches"]


class FakeBatches:
    """The batch endpoints of the three vendors, as Starlette routes over one store."""

    def __init__(
        self,
        *,
        answer: AnswerFunction,
        cache: PromptCache,
        api_key: str | None,
        options: BatchOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = BatchStore(
            answer=answer, cache=cache, api_key=api_key, options=options, clock=clock
        )

    def routes(self) -> list[Route]:
        """Returns the routes, to go before the server's generic Gemini route."""
        return [
            *OpenAIBatchRoutes(self.store).routes(),
            *AnthropicBatchRoutes(self.store).routes(),
            *GeminiBatchRoutes(self.store).routes(),
        ]
