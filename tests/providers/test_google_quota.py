"""Gemini's RESOURCE_EXHAUSTED: retryable unless the body proves that waiting cannot help.

Each body shape is sent as an HTTP error, at a stream's opening and as an error object inside a
200 stream, and must give the same class: a bare 429 or a per-minute quota is a RateLimitError
(with RetryInfo's delay when there is one); a daily quota, a zero quota, a billing reason or
used-up prepaid credit is a QuotaExhaustedError.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from ashford_llm import ChatMessage, ClientBuilder, CompletionRequest, ModelConfig, StreamEnd
from ashford_llm.errors import LLMError, QuotaExhaustedError, RateLimitError
from ashford_llm.middleware import Retry
from ashford_llm.providers import GoogleProvider

BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
URL = f"{BASE}:generateContent"
STREAM_URL = f"{BASE}:streamGenerateContent"
KEY = "AIzaSyTestKey0123456789abcdefghijklmnop"
CONFIG = ModelConfig("google", "gemini-2.5-flash", max_output_tokens=300)
HELLO = CompletionRequest([ChatMessage.user("Hello")])
TYPE = "type.googleapis.com/google.rpc."

# Vertex AI's answer to a transient capacity limit (dynamic shared quota), as Google sends it.
VERTEX_BARE = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
OVER_QUOTA = "You exceeded your current quota, please check your plan and billing details."
PREPAY = (
    "Your prepayment credits are depleted. Please go to AI Studio at https://ai.studio/projects "
    "to manage your project and billing. Learn more at "
    "https://ai.google.dev/gemini-api/docs/billing#prepay."
)
# The free tier of a model a project may not use: every limit is 0 and the JSON omits the
# zero `quotaValue` (proto3 drops default values), so only the message says it.
ZERO_LIMIT = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
    "* Quota exceeded for metric: generativelanguage.googleapis.com/"
    "generate_content_free_tier_input_token_count, limit: 0, model: gemini-2.5-pro\n"
    "Please retry in 11.767792953s."
)


def body(code: int, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": "RESOURCE_EXHAUSTED"}
    if details:
        error["details"] = list(details)
    return {"error": error}


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": TYPE + "RetryInfo", "retryDelay": delay}


def violation(quota_id: str, value: Any = "250000") -> dict[str, Any]:
    item: dict[str, Any] = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
    }
    if value is not None:
        item["quotaValue"] = value
    return item


def quota_failure(*violations: dict[str, Any]) -> dict[str, Any]:
    return {"@type": TYPE + "QuotaFailure", "violations": list(violations)}


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": TYPE + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com", **metadata},
    }


PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"

# (id, HTTP status, body, expected retry_after)
RETRYABLE = [
    ("vertex-bare", 429, body(429, VERTEX_BARE), None),
    ("gemini-bare", 429, body(429, "Resource has been exhausted (e.g. check quota)."), None),
    ("retry-info", 429, body(429, OVER_QUOTA, retry_info("37s")), 37.0),
    ("retry-info-zero", 429, body(429, OVER_QUOTA, retry_info("0s")), 0.0),
    (
        "per-minute-quota-with-delay",
        429,
        body(429, OVER_QUOTA, quota_failure(violation(PER_MINUTE)), retry_info("7.5s")),
        7.5,
    ),
    (
        "per-minute-quota-no-delay",
        429,
        body(429, OVER_QUOTA, quota_failure(violation(PER_MINUTE))),
        None,
    ),
    (
        "rate-limit-reason",
        429,
        body(
            429,
            VERTEX_BARE,
            error_info(
                "RATE_LIMIT_EXCEEDED",
                quota_limit="GenerateRequestsPerMinutePerProjectPerModel",
                quota_limit_value="60",
            ),
        ),
        None,
    ),
    (
        "no-quota-value",
        429,
        body(429, OVER_QUOTA, quota_failure(violation(PER_MINUTE, None))),
        None,
    ),
    ("limit-ten", 429, body(429, "Quota exceeded for metric: m, limit: 10, model: x"), None),
    ("limit-half", 429, body(429, "Quota exceeded for metric: m, limit: 0.5, model: x"), None),
]

# (id, HTTP status, body)
FATAL = [
    ("daily-quota", 429, body(429, OVER_QUOTA, quota_failure(violation(PER_DAY)))),
    (
        "daily-quota-with-delay",
        429,
        body(429, OVER_QUOTA, quota_failure(violation(PER_DAY)), retry_info("22s")),
    ),
    (
        "daily-among-others",
        429,
        body(
            429,
            OVER_QUOTA,
            quota_failure(violation(PER_MINUTE), violation(PER_DAY)),
            retry_info("8s"),
        ),
    ),
    ("zero-quota-string", 429, body(429, OVER_QUOTA, quota_failure(violation(PER_MINUTE, "0")))),
    ("zero-quota-number", 429, body(429, OVER_QUOTA, quota_failure(violation(PER_MINUTE, 0)))),
    (
        "zero-limit-message",
        429,
        body(429, ZERO_LIMIT, quota_failure(violation(PER_MINUTE, None)), retry_info("11s")),
    ),
    ("billing-disabled", 429, body(429, OVER_QUOTA, error_info("BILLING_DISABLED"))),
    (
        "daily-limit-reason",
        429,
        body(
            429,
            VERTEX_BARE,
            error_info("RATE_LIMIT_EXCEEDED", quota_limit="GenerateRequestsPerDayPerProject"),
        ),
    ),
    (
        "zero-limit-reason",
        429,
        body(
            429,
            VERTEX_BARE,
            error_info("RATE_LIMIT_EXCEEDED", quota_limit="PerMinute", quota_limit_value="0"),
        ),
    ),
    ("prepay-depleted-429", 429, body(429, PREPAY)),
    ("prepay-depleted-402", 402, body(402, PREPAY)),
]


def provider(**options: Any) -> GoogleProvider:
    return GoogleProvider(CONFIG, api_key=KEY, **options)


def event_stream(*items: dict[str, Any]) -> httpx.Response:
    content = "".join(f"data: {json.dumps(item)}\r\n\r\n" for item in items).encode()
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)


def text_chunk(text: str) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}


async def fail_complete(status: int, error: dict[str, Any]) -> LLMError:
    respx.post(URL).mock(return_value=httpx.Response(status, json=error))
    with pytest.raises(LLMError) as caught:
        await provider().complete(HELLO)
    return caught.value


async def fail_stream(response: httpx.Response) -> LLMError:
    respx.post(STREAM_URL).mock(return_value=response)
    with pytest.raises(LLMError) as caught:
        async for _ in provider().stream(HELLO):
            pass
    return caught.value


@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [pytest.param(*case[1:], id=case[0]) for case in RETRYABLE],
)
@respx.mock
async def test_a_429_without_proof_of_exhaustion_is_a_rate_limit(
    status: int, error: dict[str, Any], retry_after: float | None
) -> None:
    caught = await fail_complete(status, error)
    assert type(caught) is RateLimitError
    assert caught.retryable is True
    assert caught.retry_after == retry_after
    assert caught.status == status
    assert caught.error_type == "RESOURCE_EXHAUSTED"
    assert caught.message.startswith(error["error"]["message"][:20])


@pytest.mark.parametrize(
    ("status", "error"), [pytest.param(*case[1:], id=case[0]) for case in FATAL]
)
@respx.mock
async def test_proof_that_waiting_cannot_help_is_quota_exhausted(
    status: int, error: dict[str, Any]
) -> None:
    caught = await fail_complete(status, error)
    assert type(caught) is QuotaExhaustedError
    assert caught.retryable is False
    assert caught.status == status
    assert caught.error_type == "RESOURCE_EXHAUSTED"


CASES = [pytest.param(c[1], c[2], RateLimitError, id=c[0]) for c in RETRYABLE] + [
    pytest.param(c[1], c[2], QuotaExhaustedError, id=c[0]) for c in FATAL
]


@pytest.mark.parametrize(("status", "error", "cls"), CASES)
@respx.mock
async def test_the_same_rule_applies_when_a_stream_opens(
    status: int, error: dict[str, Any], cls: type[LLMError]
) -> None:
    caught = await fail_stream(httpx.Response(status, json=error))
    assert type(caught) is cls
    assert caught.status == status


@pytest.mark.parametrize(("status", "error", "cls"), CASES)
@respx.mock
async def test_the_same_rule_applies_to_an_error_object_inside_a_stream(
    status: int, error: dict[str, Any], cls: type[LLMError]
) -> None:
    caught = await fail_stream(event_stream(text_chunk("Par"), error))
    assert type(caught) is cls
    assert caught.error_type == "RESOURCE_EXHAUSTED"
    assert caught.provider == "google"


@pytest.mark.parametrize(("status", "error", "cls"), CASES)
@respx.mock
async def test_the_same_rule_applies_to_an_error_in_a_200_body(
    status: int, error: dict[str, Any], cls: type[LLMError]
) -> None:
    """Gemini may put its error object in the stream body as plain JSON, not as an event."""
    respx.post(STREAM_URL).mock(
        return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=json.dumps(error).encode()
        )
    )
    with pytest.raises(LLMError) as caught:
        async for _ in provider().stream(HELLO):
            pass
    assert type(caught.value) is cls


@respx.mock
async def test_retry_recovers_from_a_bare_vertex_429() -> None:
    """The job succeeds on the next attempt instead of failing for good."""
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, json=body(429, VERTEX_BARE)),
            httpx.Response(
                200,
                json={
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": "Paris"}]},
                            "finishReason": "STOP",
                        }
                    ]
                },
            ),
        ]
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    stack = ClientBuilder().use(Retry, max_retries=2, sleep=sleep).build(provider())
    response = await stack.complete(HELLO)
    assert response.content == "Paris"
    assert response.attempts == 2
    assert route.call_count == 2
    assert len(waits) == 1


@respx.mock
async def test_retry_gives_up_at_once_on_a_daily_quota() -> None:
    route = respx.post(URL).mock(
        return_value=httpx.Response(
            429, json=body(429, OVER_QUOTA, quota_failure(violation(PER_DAY)))
        )
    )
    stack = ClientBuilder().use(Retry, max_retries=4).build(provider())
    with pytest.raises(QuotaExhaustedError) as caught:
        await stack.complete(HELLO)
    assert caught.value.attempts == 1
    assert route.call_count == 1


@respx.mock
async def test_a_stream_retried_after_a_bare_429_ends_normally() -> None:
    respx.post(STREAM_URL).mock(
        side_effect=[
            httpx.Response(429, json=body(429, VERTEX_BARE)),
            event_stream(
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": "Paris"}]},
                            "finishReason": "STOP",
                        }
                    ]
                }
            ),
        ]
    )

    async def sleep(seconds: float) -> None:
        return None

    stack = ClientBuilder().use(Retry, max_retries=1, sleep=sleep).build(provider())
    events = [event async for event in stack.stream(HELLO)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.response.content == "Paris"
    assert end.response.attempts == 2
