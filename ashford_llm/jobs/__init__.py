"""Jobs: the retry-or-fail contract for job queues.

`decide(error, attempt=n, backoff=Backoff(...))` returns a `JobDecision`: retry (after the
vendor's retry-after, a circuit's cooldown or the backoff) or fail for good, with the typed
reason. It imports no queue. The Celery task base class is in `ashford_llm.jobs.celery`
(the `celery` extra); arq and Dramatiq use `decide` directly (docs/scaling.md).
"""

from ashford_llm.jobs.decision import Backoff, DelaySource, JobDecision, decide

__all__ = ["Backoff", "DelaySource", "JobDecision", "decide"]
