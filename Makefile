# Two commands do all the set-up on a fresh machine with python3 (3.11+) and make:
#   make demo   - the main job on the built-in fake provider server (no API keys)
#   make test   - lint, types and the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

# Reinstall only when the project's metadata changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ashford_llm demo

lint: $(STAMP)
	$(VENV)/bin/ruff check ashford_llm tests benchmarks
	$(VENV)/bin/ruff format --check ashford_llm tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict ashford_llm

pytest: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
