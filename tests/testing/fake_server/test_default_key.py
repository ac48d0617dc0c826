"""In process and from the command line, the fake server's default accepts any non-empty key."""

import inspect

import pytest

from ashford_llm.testing import FakeProviderServer
from ashford_llm.testing.fake_server.serve import serve
from tests.testing.fake_server.conftest import OpenClient
from tests.testing.fake_server.helpers import VENDORS, post

QUESTION = "Which city is the Eiffel Tower in?"


def test_the_in_process_default_is_the_command_line_default() -> None:
    default = inspect.signature(FakeProviderServer).parameters["api_key"].default
    assert default is None
    assert inspect.signature(serve).parameters["api_key"].default is default


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_default_server_answers_whatever_key_the_user_writes(
    vendor: str, open_client: OpenClient
) -> None:
    client = await open_client(FakeProviderServer(), vendor)
    response = await post(client, vendor, QUESTION, key="sk-my-own-test-key")
    assert response.status_code == 200
    assert (await post(client, vendor, QUESTION, key=None)).status_code in (401, 403)
