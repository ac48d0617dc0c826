import importlib

import pytest

PACKAGES = [
    "ashford_llm",
    "ashford_llm.providers",
    "ashford_llm.middleware",
    "ashford_llm.testing",
    "ashford_llm.jobs",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_once(name: str) -> None:
    # Order is checked by ruff (RUF022, isort-style sorting of __all__).
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported)
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names missing {member}"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_in_all(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and getattr(value, "__module__", "").startswith("ashford_llm")
        and not isinstance(value, type(importlib))
    }
    assert public <= set(module.__all__), public - set(module.__all__)


def test_version_is_set() -> None:
    import ashford_llm

    assert ashford_llm.__version__ != "0.0.0"
