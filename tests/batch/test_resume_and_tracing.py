"""A new process resumes from a stored handle; every submit, poll and collection is a span."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ashford_llm import ChatMessage, CompletionRequest, CompletionResponse
from ashford_llm.batch import Polling, results, submit
from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server.batches import BatchOptions
from tests.batch.helpers import fake_provider, provider_for

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = """
import asyncio, json, sys
import httpx
from ashford_llm.batch import BatchHandle, Polling, results
from ashford_llm.config import ModelConfig
from ashford_llm.providers import AnthropicProvider

async def main() -> None:
    handle = BatchHandle.from_json(open(sys.argv[1], "rb").read())
    provider = AnthropicProvider(
        ModelConfig(provider="anthropic", model=handle.model), api_key="test-key",
        base_url=sys.argv[2],
    )
    async with provider:
        outcomes = {
            custom_id: getattr(out, "content", type(out).__name__)
            async for custom_id, out in results(
                handle, provider=provider, polling=Polling(initial=0.05, maximum=0.2, timeout=20)
            )
        }
    print(json.dumps(outcomes, sort_keys=True))

asyncio.run(main())
"""


async def test_a_new_process_collects_the_results_of_a_stored_handle(tmp_path: Path) -> None:
    server = FakeProviderServer(
        batch=BatchOptions(processing_seconds=0.5, faults={"mail-2": "invalid"})
    )
    requests = {f"mail-{i}": CompletionRequest([ChatMessage.user(f"text {i}")]) for i in range(3)}
    async with server.run() as running, httpx.AsyncClient() as client:
        base_url = running.base_url("anthropic")
        provider = provider_for("anthropic", client, base_url)
        handle = await submit(provider, requests)
        stored = tmp_path / "handle.json"
        stored.write_bytes(handle.to_json())
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            COLLECTOR,
            str(stored),
            base_url,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out) == {
        "mail-0": "text 0",
        "mail-1": "text 1",
        "mail-2": "InvalidRequestError",
    }


async def test_submit_poll_and_collect_are_spans_with_item_counts() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    server = FakeProviderServer(batch=BatchOptions(processing_seconds=0.0, faults={"b": "invalid"}))
    async with httpx.AsyncClient(transport=server.transport()) as client:
        provider = fake_provider("openai", server, client)
        requests = {key: CompletionRequest([ChatMessage.user(key)]) for key in ("a", "b", "c")}
        handle = await submit(provider, requests, tracer_provider=tracer_provider)
        outcomes = [
            out
            async for _, out in results(
                handle,
                provider=provider,
                polling=Polling(initial=0.0),
                tracer_provider=tracer_provider,
            )
        ]
    assert sum(isinstance(o, CompletionResponse) for o in outcomes) == 2
    finished = {span.name: span for span in spans.get_finished_spans()}
    assert sorted(finished) == [
        "batch_collect model-1",
        "batch_poll model-1",
        "batch_submit model-1",
    ]
    submitted = finished["batch_submit model-1"].attributes or {}
    assert submitted["gen_ai.operation.name"] == "batch_submit"
    assert submitted["gen_ai.provider.name"] == "openai"
    assert submitted["gen_ai.request.model"] == "model-1"
    assert submitted["ashford.batch.requests"] == 3
    assert submitted["ashford.batch.ids"] == (handle.batches[0].id,)
    collected = finished["batch_collect model-1"].attributes or {}
    assert (collected["ashford.batch.succeeded"], collected["ashford.batch.failed"]) == (2, 1)
    assert collected["ashford.batch.state"] == "completed"
    polled = finished["batch_poll model-1"].attributes or {}
    assert polled["ashford.batch.state"] == "ended"
