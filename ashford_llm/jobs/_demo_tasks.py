"""The demo's Celery app: the e-mail classifier as a task, run by `ashford-llm demo --workers N`.

Each worker process (`celery -A ashford_llm.jobs._demo_tasks worker`) builds the recommended
stack once per vendor, on an event loop of its own in a background thread: a CircuitBreaker on
a `RedisCircuitBackend` (one circuit per vendor and model, shared by every worker), RateLimit
on a `RedisRateLimiter` (one quota per vendor, shared by every worker), Timeout and
JsonValidation, over the real provider pointed at the fake server. The queue is the retry
layer: `LLMTask` applies `decide`, so a failed call hands its wait to the broker instead of
holding the worker.

Every run of the task (an "execution") is one call, named `<e-mail>.<retries>.<token>` in the
`x-ashford-attempt` header, and leaves a record in Redis: how the call ended, the decision,
and whether its result was new or a duplicate (results are stored with HSETNX, so a redelivered
task cannot double one). The command reads these records to prove every property it reports.

Configured by the environment the command sets: ASHFORD_JOBS_REDIS (broker and store URL),
ASHFORD_JOBS_SERVER (the fake server's root URL), ASHFORD_JOBS_RPM (each vendor's requests
per minute), ASHFORD_JOBS_VISIBILITY (seconds before an unacknowledged task is delivered again).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import msgspec

from ashford_llm.jobs.celery import LLMTask
from ashford_llm.jobs.decision import Backoff, JobDecision

try:
    from celery import Celery  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the workers demo needs Celery: pip install 'ashford-llm[celery]'") from exc

__all__ = [
    "EXECUTIONS",
    "HELD",
    "HOLD",
    "RESULTS",
    "RUNNING",
    "VENDORS",
    "Execution",
    "app",
    "configure",
    "vendor_of",
]

T = TypeVar("T")

DEMO_KEY = "demo-key"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}
VENDORS = tuple(MODELS)
RESULTS = "ashford_demo:results"
"""Redis hash: e-mail id -> its outcome (a label or a dead letter), written once (HSETNX)."""
EXECUTIONS = "ashford_demo:executions"
"""Redis list: one `Execution` per run of the task, in the order they ended."""
RUNNING = "ashford_demo:running:"
"""Prefixed to a worker's PID: the call it is running now (gone between tasks)."""
HOLD = "ashford_demo:hold:"
"""Prefixed to a worker's PID: while set, a run that starts waits before it calls (at most
`_HOLD_S`), naming itself under HELD, so the demo's kill lands in the middle of a task."""
HELD = "ashford_demo:held:"
"""Prefixed to a worker's PID: the call waiting on its HOLD."""
_HOLD_S = 10.0


class Execution(msgspec.Struct, kw_only=True):
    """One run of the task: the call it made, how it ended, and what was stored."""

    email: int
    call_id: str
    retries: int
    worker: int
    started: float
    ended: float
    error: str | None = None
    cause: str | None = None
    partial_text: str | None = None
    request_id: str | None = None
    message: str = ""
    label: str | None = None
    decision: JobDecision | None = None
    stored: str | None = None  # "new" or "duplicate" once an outcome was stored


def vendor_of(email: int) -> tuple[str, bool]:
    """The vendor that classifies an e-mail, and whether the call streams (each does both)."""
    return VENDORS[email % len(VENDORS)], (email // len(VENDORS)) % 2 == 1


def configure(celery: Celery, *, redis_url: str, visibility_timeout: float = 3600.0) -> None:
    """Points the app at its Redis broker; what a service copies (see docs/scaling.md)."""
    celery.conf.update(
        broker_url=redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # A task not acknowledged this long after delivery goes to another worker: it
            # must outlast the longest task and the longest retry countdown.
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )


app = Celery("ashford_llm_demo")
if "ASHFORD_JOBS_REDIS" in os.environ:
    configure(
        app,
        redis_url=os.environ["ASHFORD_JOBS_REDIS"],
        visibility_timeout=float(os.environ.get("ASHFORD_JOBS_VISIBILITY", "3600")),
    )


class _Worker:
    """This process's stacks, on an event loop of their own in a background thread."""

    def __init__(self) -> None:
        import redis

        self.redis_url = os.environ["ASHFORD_JOBS_REDIS"]
        self.server = os.environ["ASHFORD_JOBS_SERVER"]
        self.rpm = float(os.environ.get("ASHFORD_JOBS_RPM", "600"))
        self.store = redis.Redis.from_url(self.redis_url)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="llm-loop", daemon=True).start()
        self.stacks: dict[str, Any] = self.run(self._build())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine on the worker's loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _build(self) -> dict[str, Any]:
        """Builds one stack per vendor over one shared HTTP client."""
        import httpx

        from ashford_llm.builder import ClientBuilder
        from ashford_llm.cli._demo_data import EmailLabel
        from ashford_llm.config import ModelConfig
        from ashford_llm.middleware import (
            CircuitBreaker,
            JsonValidation,
            RateLimit,
            RedisCircuitBackend,
            RedisRateLimiter,
            Timeout,
        )
        from ashford_llm.providers.registry import provider_from_config
        from ashford_llm.testing.fake_server.app import base_url
        from ashford_llm.testing.fake_server.evidence import tag_attempt

        client = httpx.AsyncClient(event_hooks={"request": [tag_attempt]})
        circuits = RedisCircuitBackend(url=self.redis_url)
        stacks: dict[str, Any] = {}
        for vendor, model in MODELS.items():
            quota = RedisRateLimiter(
                key=f"demo:{vendor}", url=self.redis_url, requests_per_minute=self.rpm
            )
            terminal = provider_from_config(
                ModelConfig(vendor, model, max_output_tokens=200),
                api_key=DEMO_KEY,
                base_url=base_url(self.server, vendor),
                http_client=client,
            )
            stacks[vendor] = (
                ClientBuilder()
                .use(
                    CircuitBreaker,
                    # Opens when 90% of at least 4 calls in 2 s failed: an outage, not the
                    # fault mix (the quota lets a worker fleet make a few calls a second).
                    failure_threshold=4,
                    failure_ratio=0.9,
                    minimum_calls=4,
                    window=2.0,
                    cooldown=1.0,
                    backend=circuits,
                )
                .use(RateLimit, backend=quota)
                .use(Timeout, total=5.0, first_token=2.0, idle=0.5)
                .use(JsonValidation, schema=EmailLabel)
                .build(terminal)
            )
        return stacks


_worker: _Worker | None = None


def _this_worker() -> _Worker:
    """The process's _Worker, built on its first task (after a prefork pool forks)."""
    global _worker
    if _worker is None:
        _worker = _Worker()
    return _worker


class DemoTask(LLMTask):
    """LLMTask with the demo's retry policy, storing each execution and each dead letter."""

    max_retries = 10
    backoff = Backoff(base=0.2, factor=2.0, max=2.0, jitter=0.5)
    execution: Execution | None = None  # the run in progress (one at a time per process)

    def on_decision(
        self, decision: JobDecision, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Notes the decision in the execution's record."""
        if self.execution is not None:
            self.execution.decision = decision

    def dead_letter(
        self, decision: JobDecision, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Stores the typed reason as the e-mail's outcome, once."""
        if self.execution is not None:
            outcome = msgspec.json.encode({"dead_letter": decision})
            _store(self.execution, outcome)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the task (LLMTask decides on a failure), then writes the run's record."""
        try:
            return super().__call__(*args, **kwargs)
        finally:
            execution, self.execution = self.execution, None
            if execution is not None:
                execution.ended = time.time()
                store = _this_worker().store
                store.rpush(EXECUTIONS, msgspec.json.encode(execution))
                store.delete(f"{RUNNING}{execution.worker}")


def _wait_while_held(store: Any, execution: Execution) -> None:
    """Waits, before any call, while the demo holds this worker to kill it mid-task."""
    hold = f"{HOLD}{execution.worker}"
    if not store.exists(hold):
        return
    store.set(f"{HELD}{execution.worker}", execution.call_id)
    until = time.monotonic() + _HOLD_S
    while store.exists(hold) and time.monotonic() < until:
        time.sleep(0.01)
    store.delete(f"{HELD}{execution.worker}")


def _store(execution: Execution, outcome: bytes) -> None:
    """Stores an e-mail's outcome unless one is there (a redelivered task's second answer)."""
    new = _this_worker().store.hsetnx(RESULTS, str(execution.email), outcome)
    execution.stored = "new" if new else "duplicate"


@app.task(base=DemoTask, bind=True, name="ashford_demo.classify")  # type: ignore[untyped-decorator]
def classify(self: DemoTask, email: int) -> None:
    """Classifies e-mail `email` of the demo inbox and stores its label."""
    from ashford_llm.cli._demo_data import INBOX, SYSTEM_PROMPT, attachment
    from ashford_llm.errors import LLMError, MidStreamError
    from ashford_llm.types import ChatMessage, CompletionRequest

    worker = _this_worker()
    text, expected = INBOX[(email - 1) % len(INBOX)]
    attached = attachment(email, expected)
    user = ChatMessage.user(text) if attached is None else ChatMessage.user(text, attached)
    request = CompletionRequest([ChatMessage.system(SYSTEM_PROMPT), user], json_mode=True)
    vendor, stream = vendor_of(email)
    retries = int(self.request.retries or 0)
    call_id = f"{email}.{retries}.{uuid.uuid4().hex[:8]}"
    self.execution = execution = Execution(
        email=email,
        call_id=call_id,
        retries=retries,
        worker=os.getpid(),
        started=time.time(),
        ended=0.0,
    )
    worker.store.set(f"{RUNNING}{execution.worker}", call_id)
    _wait_while_held(worker.store, execution)
    try:
        label = worker.run(_classify(worker.stacks[vendor], request, call_id, stream=stream))
    except Exception as error:
        execution.error = type(error).__name__
        execution.message = str(error)[:160]
        if isinstance(error, LLMError):
            execution.request_id = error.request_id
        if isinstance(error, MidStreamError):
            execution.partial_text = error.partial_text
            cause = error.__cause__
            execution.cause = None if cause is None else type(cause).__name__
        raise
    execution.label = label
    _store(execution, msgspec.json.encode({"label": label}))


async def _classify(stack: Any, request: Any, call_id: str, *, stream: bool) -> str:
    """Completes or streams one classification as call `call_id`; returns the label.

    The call is tracked here, on the worker's loop, where the HTTP client's hook reads it.
    """
    from ashford_llm.testing.fake_server.evidence import track_call
    from ashford_llm.types import StreamEnd

    with track_call(call_id):
        if not stream:
            response = await stack.complete(request)
        else:
            response = None
            async for event in stack.stream(request):
                if isinstance(event, StreamEnd):
                    response = event.response
            if response is None:
                raise RuntimeError("stream ended without a StreamEnd")
    label: str = response.parsed.label
    return label
