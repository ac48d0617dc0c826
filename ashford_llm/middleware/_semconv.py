"""Every OpenTelemetry name ashford_llm emits, in one place.

The GenAI conventions are about to rename the client metrics; keeping every span, event,
attribute and metric name here makes that a one-file change.
"""

from __future__ import annotations

from typing import Final

# Events other layers add to the current (Tracing) span, so retries and waits are visible.
RETRY_EVENT: Final = "ashford.retry"
RETRY_ATTEMPT: Final = "ashford.retry.attempt"
RETRY_DELAY_S: Final = "ashford.retry.delay_s"
RATE_LIMIT_WAIT_EVENT: Final = "ashford.rate_limit.wait"
RATE_LIMIT_WAIT_S: Final = "ashford.rate_limit.wait_s"
ERROR_TYPE: Final = "error.type"
