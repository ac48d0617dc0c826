"""The fault plan, the built-in answers, options validation, stats and the pytest fixture."""

import json
from collections.abc import Callable

import pytest

from ashford_llm.cli._demo_data import classify_email
from ashford_llm.testing import AnswerRequest, FakeProviderServer, Fault, echo
from ashford_llm.testing.fake_server.answers import make_answer, split_words
from ashford_llm.testing.fake_server.faults import STREAM_ONLY, FaultPlan
from tests.testing.fake_server.conftest import OpenClient
from tests.testing.fake_server.helpers import post


def ask(text: str, *, max_tokens: int | None = None) -> AnswerRequest:
    return AnswerRequest(
        vendor="openai", model="m", messages=(("user", text),), max_tokens=max_tokens
    )


def draws(plan: FaultPlan, count: int, *, stream: bool = True) -> list[Fault | None]:
    return [plan.next(stream=stream) for _ in range(count)]


def test_seeded_plan_is_reproducible() -> None:
    first = draws(FaultPlan(fault_rate=0.3, seed=7), 200)
    assert first == draws(FaultPlan(fault_rate=0.3, seed=7), 200)
    assert first != draws(FaultPlan(fault_rate=0.3, seed=8), 200)
    faults = [fault for fault in first if fault is not None]
    assert 30 <= len(faults) <= 90
    assert len(set(faults)) >= 6


def test_weights_choose_only_the_named_kinds() -> None:
    plan = FaultPlan(fault_rate=1.0, faults={"rate_limit": 3, Fault.server_error: 1}, seed=1)
    got = draws(plan, 400)
    assert set(got) == {Fault.rate_limit, Fault.server_error}
    assert got.count(Fault.rate_limit) > 2 * got.count(Fault.server_error)


def test_script_comes_before_the_rate() -> None:
    plan = FaultPlan(script=[None, "overloaded"], fault_rate=1.0, faults={"html_error": 1})
    assert draws(plan, 3) == [None, Fault.overloaded, Fault.html_error]


def test_stream_only_faults_fall_back_for_plain_requests() -> None:
    plan = FaultPlan(script=list(STREAM_ONLY))
    assert draws(plan, len(STREAM_ONLY), stream=False) == [None] * len(STREAM_ONLY)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"fault_rate": 1.5}, ValueError),
        ({"fault_rate": -0.1}, ValueError),
        ({"fault_rate": 0.5, "faults": {"rate_limit": 0}}, ValueError),
        ({"faults": {"rate_limit": -1}}, ValueError),
        ({"script": ["not_a_fault"]}, ValueError),
        ({"faults": {"nope": 1}}, ValueError),
    ],
)
def test_plan_rejects_bad_options(options: dict, error: type[Exception]) -> None:  # type: ignore[type-arg]
    with pytest.raises(error):
        FaultPlan(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": ""},
        {"retry_after": -1},
        {"slow_seconds": -1},
        {"stall_seconds": -0.5},
        {"chunk_delay": -1},
        {"fault_rate": 2},
    ],
)
def test_server_rejects_bad_options_at_construction(options: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        FakeProviderServer(**options)


def test_server_rejects_a_non_callable_answer() -> None:
    with pytest.raises(TypeError, match="answer"):
        FakeProviderServer(answer="text")  # type: ignore[arg-type]


def test_base_url_rejects_an_unknown_vendor() -> None:
    with pytest.raises(ValueError, match="unknown vendor"):
        FakeProviderServer().base_url("mistral")


def test_words_split_without_loss() -> None:
    text = "  leading and   multiple\nspaces "
    assert "".join(split_words(text)) == text
    assert len(split_words(text)) == 4
    assert split_words("   ") == ["   "]
    assert split_words("") == []


def test_answer_counts_words_and_cuts_to_max_tokens() -> None:
    full = make_answer(ask("a b c d"), echo)
    assert (full.text, full.finish, full.input_tokens, full.output_tokens) == (
        "a b c d",
        "stop",
        4,
        4,
    )
    cut = make_answer(ask("a b c d", max_tokens=2), echo)
    assert (cut.text, cut.finish, cut.output_tokens, cut.chunks) == (
        "a b ",
        "length",
        2,
        ("a ", "b "),
    )


def test_answer_function_must_return_text() -> None:
    def bad(request: AnswerRequest) -> str:
        return 42  # type: ignore[return-value]

    with pytest.raises(TypeError, match="must return str"):
        make_answer(ask("x"), bad)


@pytest.mark.parametrize(
    ("email", "label"),
    [
        ("You are a WINNER, claim your prize", "spam"),
        ("My invoice shows a double charge", "billing"),
        ("The app crashes when I log in", "support"),
        ("Can we get a quote for 50 seats?", "sales"),
        ("Lunch on Friday?", "other"),
    ],
)
def test_classify_email_picks_the_label_from_keywords(email: str, label: str) -> None:
    assert json.loads(classify_email(ask(email)))["label"] == label


def test_echo_answers_the_last_user_message() -> None:
    request = AnswerRequest(
        vendor="v", model="m", messages=(("user", "first"), ("assistant", "x"), ("user", "last"))
    )
    assert echo(request) == "last"
    assert echo(AnswerRequest(vendor="v", model="m", messages=())) == ""


async def test_seeded_server_serves_the_same_faults_twice(open_client: OpenClient) -> None:
    runs = []
    for _ in range(2):
        server = FakeProviderServer(fault_rate=0.5, seed=7, faults={"server_error": 1})
        client = await open_client(server, "openai")
        statuses = [(await post(client, "openai", "hi")).status_code for _ in range(12)]
        runs.append(statuses)
        assert server.stats.faults.get("server_error", 0) == statuses.count(500)
    assert runs[0] == runs[1]
    assert {200, 500} == set(runs[0])


async def test_reset_stats_forgets_the_records(open_client: OpenClient) -> None:
    server = FakeProviderServer()
    client = await open_client(server, "gemini")
    await post(client, "gemini", "hi")
    assert server.stats.requests == 1
    server.reset_stats()
    assert (server.stats.requests, server.stats.records) == (0, ())


async def test_fake_llm_server_fixture_builds_a_server(
    fake_llm_server: Callable[..., FakeProviderServer], open_client: OpenClient
) -> None:
    server = fake_llm_server(script=[Fault.unavailable], api_key="k")
    client = await open_client(server, "openai")
    assert (await post(client, "openai", "hi", key="k")).status_code == 503
    assert server.stats.faults == {"unavailable": 1}
