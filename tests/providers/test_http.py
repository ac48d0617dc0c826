import email.utils

import httpx
import pytest

from ashford_llm.errors import (
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    NetworkError,
    ResponseDecodeError,
)
from ashford_llm.providers._http import (
    HTTPX_ERRORS,
    excerpt,
    map_httpx_errors,
    parse_retry_after,
    parse_should_retry,
)


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= all_subclasses(sub)
    return found


@pytest.mark.parametrize(
    "exc_type", sorted(all_subclasses(httpx.HTTPError), key=lambda c: c.__name__)
)
def test_every_httpx_error_is_mapped(exc_type: type[httpx.HTTPError]) -> None:
    assert any(base in HTTPX_ERRORS for base in exc_type.__mro__), exc_type
    request = httpx.Request("POST", "https://api.example.test/v1")
    if issubclass(exc_type, httpx.HTTPStatusError):
        exc: httpx.HTTPError = exc_type(
            "boom", request=request, response=httpx.Response(500, request=request)
        )
    elif issubclass(exc_type, httpx.RequestError):
        exc = exc_type("boom", request=request)
    else:
        exc = exc_type("boom")
    with pytest.raises(LLMError) as caught, map_httpx_errors("openai"):
        raise exc
    # A LocalProtocolError's message may quote a header value, so it is never chained.
    expected_cause = None if isinstance(exc, httpx.LocalProtocolError) else exc
    assert caught.value.__cause__ is expected_cause
    assert caught.value.provider == "openai"


def test_an_illegal_header_error_does_not_carry_the_header_value() -> None:
    exc = httpx.LocalProtocolError("Illegal header value b'Bearer gw-SECRETKEY-1234567890\\n'")
    with pytest.raises(InvalidRequestError) as caught, map_httpx_errors("openai"):
        raise exc
    error = caught.value
    assert "SECRETKEY" not in str(error)
    assert error.message == "the request could not be encoded: a header value is illegal"
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("slow"), LLMTimeoutError),
        (httpx.ConnectTimeout("slow"), LLMTimeoutError),
        (httpx.PoolTimeout("slow"), LLMTimeoutError),
        (httpx.ConnectError("refused"), NetworkError),
        (httpx.ReadError("reset"), NetworkError),
        (httpx.RemoteProtocolError("peer closed"), NetworkError),
        (httpx.UnsupportedProtocol("ftp"), InvalidRequestError),
        (httpx.DecodingError("gzip"), ResponseDecodeError),
    ],
)
def test_httpx_errors_map_to_their_class(exc: httpx.HTTPError, expected: type) -> None:
    with pytest.raises(expected), map_httpx_errors("anthropic"):
        raise exc


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "850"}, 0.85),
        ({"retry-after-ms": "850", "retry-after": "9"}, 0.85),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after-ms": "bad", "retry-after": "4"}, 4.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_reads_http_dates() -> None:
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("maybe", None), (None, None)]
)
def test_parse_should_retry(value: str | None, expected: bool | None) -> None:
    headers = {} if value is None else {"x-should-retry": value}
    assert parse_should_retry(headers) is expected


def test_excerpt_is_short_and_single_line() -> None:
    text = excerpt(b"<html>\n<body>" + b"x" * 500)
    assert "\n" not in text
    assert text.endswith("...")
    assert len(text) <= 203
