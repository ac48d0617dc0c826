import inspect

import pytest

from ashford_llm import errors
from ashford_llm.errors import (
    STATUS_ERRORS,
    AuthenticationError,
    FatalError,
    InvalidRequestError,
    JsonValidationError,
    LLMError,
    LLMTimeoutError,
    MidStreamError,
    PermissionDeniedError,
    RateLimitError,
    RetryableError,
    ServerError,
    error_for_status,
    redact,
)

EXPECTED_TABLE = {
    400: (InvalidRequestError, False),
    401: (AuthenticationError, True),
    403: (PermissionDeniedError, False),
    404: (InvalidRequestError, False),
    408: (LLMTimeoutError, True),
    409: (ServerError, True),
    413: (InvalidRequestError, False),
    422: (InvalidRequestError, False),
    429: (RateLimitError, True),
    500: (ServerError, True),
    502: (ServerError, True),
    503: (ServerError, True),
    504: (ServerError, True),
    529: (ServerError, True),
}


@pytest.mark.parametrize(("status", "expected"), sorted(EXPECTED_TABLE.items()))
def test_status_table_row(status: int, expected: tuple[type[LLMError], bool]) -> None:
    cls, retryable = expected
    assert STATUS_ERRORS[status] is cls
    assert error_for_status(status) is cls
    assert cls.retryable is retryable
    assert issubclass(cls, RetryableError if retryable else FatalError)


def test_status_table_has_no_untested_rows() -> None:
    assert set(STATUS_ERRORS) == set(EXPECTED_TABLE)


@pytest.mark.parametrize(
    ("status", "cls"), [(418, InvalidRequestError), (507, ServerError), (599, ServerError)]
)
def test_unlisted_status_falls_back_by_range(status: int, cls: type[LLMError]) -> None:
    assert error_for_status(status) is cls


def test_every_error_is_exactly_one_of_retryable_or_fatal() -> None:
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, LLMError) and obj not in (LLMError,)
    ]
    leaves = [c for c in classes if c not in (RetryableError, FatalError)]
    assert len(leaves) >= 14
    for cls in leaves:
        assert issubclass(cls, RetryableError) != issubclass(cls, FatalError), cls


def test_timeout_error_is_a_builtin_timeout() -> None:
    assert isinstance(LLMTimeoutError("slow"), TimeoutError)


def test_error_carries_context_attributes() -> None:
    err = RateLimitError(
        "Rate limit reached", provider="openai", status=429, request_id="req_1", retry_after=2.5
    )
    assert (err.provider, err.status, err.request_id, err.retry_after) == (
        "openai",
        429,
        "req_1",
        2.5,
    )
    assert "retry_after=2.5" in str(err)
    assert err.context()["request_id"] == "req_1"


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdefghijklmnop1234",
        "sk-ant-api03-abcdefghijklmnop",
        "AIzaSyA1234567890abcdefghijklmno",
    ],
)
def test_messages_never_contain_key_shaped_text(secret: str) -> None:
    err = AuthenticationError(f"Incorrect API key provided: {secret}", body_excerpt=secret)
    assert secret not in str(err)
    assert secret not in repr(err)
    assert err.body_excerpt is not None
    assert secret not in err.body_excerpt
    assert "[redacted]" in str(err)


def test_redact_removes_given_secrets_and_bearer_tokens() -> None:
    text = redact("key=plainsecret Authorization: Bearer abc.def-ghi_123", "plainsecret")
    assert "plainsecret" not in text
    assert "abc.def-ghi_123" not in text


def test_redact_removes_a_google_access_token_shape() -> None:
    token = "ya29.a0AfB_byC1x2y3z4w5v6u7t8s9r0"
    assert redact(f"token {token} expired") == "token [redacted] expired"


def test_redact_leaves_ordinary_words() -> None:
    assert redact("task-abcdefghij failed") == "task-abcdefghij failed"


def constructor_options(cls: type[LLMError]) -> set[str]:
    """The names an error class's constructor takes, its base's included."""
    names: set[str] = set()
    for kind in cls.__mro__:
        init = kind.__dict__.get("__init__")
        if init is not None and kind is not Exception:
            names |= {
                name
                for name, parameter in inspect.signature(init).parameters.items()
                if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
            }
        if kind is LLMError:
            break
    return names


@pytest.mark.parametrize("cls", [LLMError, JsonValidationError, MidStreamError])
def test_context_holds_every_constructor_option(cls: type[LLMError]) -> None:
    assert set(cls("boom").context()) == constructor_options(cls)


def test_context_round_trips_an_error() -> None:
    error = MidStreamError(
        "cut",
        partial_text="Hel",
        input_tokens=12,
        output_tokens=3,
        provider="openai",
        status=502,
        body_excerpt="<html>",
        should_retry=False,
        attempts=2,
    )
    context = error.context()
    rebuilt = MidStreamError(**context)
    assert rebuilt.context() == error.context()
    assert (context["body_excerpt"], context["should_retry"]) == ("<html>", False)
    assert JsonValidationError("bad", output="{").context()["output"] == "{"
