"""The one error tree of ashford_llm.

Every failure a caller can see is an `LLMError`, and every `LLMError` is either a
`RetryableError` (try the job again later) or a `FatalError` (fail the job for good):

LLMError
├── RetryableError
│   ├── RateLimitError          429: slow down and retry after `retry_after`
│   ├── AuthenticationError     401 that survived one credential refresh
│   ├── ServerError             5xx, and Anthropic's 529 "overloaded"
│   ├── LLMTimeoutError         a deadline passed (also a built-in TimeoutError)
│   ├── NetworkError            the connection failed or dropped
│   ├── ResponseDecodeError     a body that cannot be parsed (HTML, truncated JSON, cut stream)
│   ├── JsonValidationError     model output that is not the JSON that was asked for
│   ├── MidStreamError          a stream failed after text reached the caller
│   ├── CircuitOpenError        a circuit breaker refuses calls until its cooldown ends
│   └── BatchItemNotRunError    a batch item expired or was cancelled before it ran
└── FatalError
    ├── PermissionDeniedError   403
    ├── InvalidRequestError     400, 404, 413, 422, and requests rejected before sending
    ├── QuotaExhaustedError     429 whose body says the account's quota is used up
    ├── ContentFilterError      a safety filter blocked the prompt or the answer
    ├── EmptyResponseError      the vendor answered with no text for another reason
    ├── MissingCredentialsError no API key was given or found in the environment
    ├── BudgetExceededError     a key's spend in its window reached its budget
    └── ToolStepsExceededError  the model still called tools after ToolLoop's max_steps

`STATUS_ERRORS` maps an HTTP status to its class, as data; `error_for_status` applies it.
Messages never contain a credential: providers pass vendor messages through
`redact`, which removes anything that looks like an API key.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

__all__ = [
    "STATUS_ERRORS",
    "AuthenticationError",
    "BatchItemNotRunError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ContentFilterError",
    "EmptyResponseError",
    "FatalError",
    "InvalidRequestError",
    "JsonValidationError",
    "LLMError",
    "LLMTimeoutError",
    "MidStreamError",
    "MissingCredentialsError",
    "NetworkError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ResponseDecodeError",
    "RetryableError",
    "ServerError",
    "ToolStepsExceededError",
    "error_for_status",
    "redact",
]

# Shapes of the vendors' keys (sk-..., sk-ant-..., AIza..., Bedrock's ABSK... and
# bedrock-api-key-..., AWS access key ids), of Google OAuth access tokens (ya29....), of bearer
# headers, and of a key a vendor echoes masked, start and tail around asterisks (OpenAI's 401:
# "sk-proj-*****Ab1c"); matched from the start of a run only, without backtracking, so long
# texts stay linear.
_SECRET_PATTERNS = re.compile(
    r"(\bsk-[A-Za-z0-9_\-]{8,}|\bAIza[0-9A-Za-z_\-]{20,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
    r"|\bya29\.[A-Za-z0-9_\-]{16,}"
    r"|\bABSK[A-Za-z0-9+/=]{20,}|\bbedrock-api-key-[A-Za-z0-9+/=%._\-]{20,}"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"
    r"|(?<![A-Za-z0-9_\-*])[A-Za-z0-9_\-]*+\*{4,}+[A-Za-z0-9_\-]{2,})"
)


def redact(text: str, *secrets: str | None) -> str:
    """Removes the given secrets and anything shaped like an API key from `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERNS.sub("[redacted]", text)


class LLMError(Exception):
    """Base class of every error ashford_llm raises for a call."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        attempts: int | None = None,
        body_excerpt: str | None = None,
        should_retry: bool | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.error_type = error_type
        self.error_code = error_code
        self.attempts = attempts
        self.body_excerpt = redact(body_excerpt) if body_excerpt is not None else None
        # The vendor's own verdict (`x-should-retry`); Retry never retries when it is False.
        self.should_retry = should_retry
        # The usage a stream reported before it failed; None when unknown.
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        # Set by Fallback when every provider failed: the earlier providers' errors, in order.
        self.fallback_errors: tuple[LLMError, ...] = ()
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        context = [
            f"{name}={value}"
            for name, value in (
                ("provider", self.provider),
                ("status", self.status),
                ("type", self.error_type),
                ("request_id", self.request_id),
                ("retry_after", self.retry_after),
                ("attempts", self.attempts),
            )
            if value is not None
        ]
        if context:
            parts.append(f"({', '.join(context)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def context(self) -> dict[str, Any]:
        """Returns the error's attributes as a plain dict, for logs and cassettes.

        It holds every constructor option, so `type(e)(**e.context())` rebuilds the error.
        """
        return {
            "message": self.message,
            "provider": self.provider,
            "status": self.status,
            "request_id": self.request_id,
            "retry_after": self.retry_after,
            "error_type": self.error_type,
            "error_code": self.error_code,
            "attempts": self.attempts,
            "body_excerpt": self.body_excerpt,
            "should_retry": self.should_retry,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class RetryableError(LLMError):
    """A failure that may succeed if the same call is made again later."""

    retryable: ClassVar[bool] = True


class FatalError(LLMError):
    """A failure that repeating the same call cannot fix."""

    retryable: ClassVar[bool] = False


class RateLimitError(RetryableError):
    """The vendor rate-limited the call (429); wait `retry_after` seconds when given."""


class AuthenticationError(RetryableError):
    """The vendor rejected the credential (401) even after one refresh."""


class ServerError(RetryableError):
    """The vendor failed (5xx) or is overloaded (Anthropic 529)."""


class LLMTimeoutError(RetryableError, TimeoutError):
    """A deadline passed before the call or stream finished."""


class NetworkError(RetryableError):
    """The connection to the vendor could not be made or was dropped."""


class ResponseDecodeError(RetryableError):
    """The vendor's body could not be parsed: HTML, truncated JSON or a cut stream."""


class JsonValidationError(RetryableError):
    """The model's output was not valid JSON, or did not match the requested schema."""

    def __init__(self, message: str, *, output: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.output = output

    def context(self) -> dict[str, Any]:
        """Returns the error's attributes, the model's output included."""
        return super().context() | {"output": self.output}


class MidStreamError(RetryableError):
    """A stream failed after text reached the caller; carries what arrived so far."""

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, input_tokens=input_tokens, output_tokens=output_tokens, **kwargs)
        self.partial_text = partial_text

    def context(self) -> dict[str, Any]:
        """Returns the error's attributes, the partial text included."""
        return super().context() | {"partial_text": self.partial_text}


class CircuitOpenError(RetryableError):
    """A circuit breaker is open: calls fail at once until `retry_after` seconds pass."""


class BatchItemNotRunError(RetryableError):
    """A batch item was never run: its batch expired or was cancelled (`error_code` says which)."""


class PermissionDeniedError(FatalError):
    """The credential is valid but may not do this (403)."""


class InvalidRequestError(FatalError):
    """The vendor rejected the request itself (400, 404, 413, 422), or it was invalid."""


class QuotaExhaustedError(FatalError):
    """A 429 whose body says the account's quota or billing limit is used up."""


class ContentFilterError(FatalError):
    """A safety filter blocked the prompt or the output, so there is no text.

    `filter_results` keeps the vendor's verdict per category when it sends one (Azure's
    `content_filter_result(s)`: `{"hate": {"filtered": false, "severity": "safe"}, ...}`).
    """

    def __init__(
        self, message: str, *, filter_results: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.filter_results = filter_results

    def context(self) -> dict[str, Any]:
        """Returns the error's attributes, the filter results included."""
        return super().context() | {"filter_results": self.filter_results}


class EmptyResponseError(FatalError):
    """The vendor answered successfully but with no text, for a reason other than a filter."""


class MissingCredentialsError(FatalError):
    """No API key was passed and none was found in the environment variables named."""


class BudgetExceededError(FatalError):
    """A budget key's spend in its window reached its limit, so the call was refused."""


class ToolStepsExceededError(FatalError):
    """The model still asked for tools after ToolLoop ran `max_steps` model turns."""


STATUS_ERRORS: dict[int, type[LLMError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: InvalidRequestError,
    408: LLMTimeoutError,
    409: ServerError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    500: ServerError,
    502: ServerError,
    503: ServerError,
    504: ServerError,
    529: ServerError,
}
"""HTTP status -> error class. Statuses not listed fall back by range in `error_for_status`."""


def error_for_status(status: int) -> type[LLMError]:
    """Returns the error class for an HTTP status: the table first, then by range."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return ServerError
    return InvalidRequestError
