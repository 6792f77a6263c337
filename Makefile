# Two commands for a newcomer: `make demo` and `make test`. Each builds the virtualenv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest workers of `make test`: most tests wait on services (Kafka, PostgreSQL, Prometheus),
# so two share two cores well; each worker starts its own services.
TEST_WORKERS ?= 2

.PHONY: demo test e2e lint typecheck bench lock dev-up dev-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## Live KPIs from the embedded pipeline (no Kafka, no Docker).
	$(BIN)/ico-analytics demo

test: $(STAMP)  ## Lint, type-check and the whole test suite (starts its own services).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m tests.tools
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not solo" --durations=15
	$(BIN)/pytest -q -m solo --durations=5

e2e: $(STAMP)  ## A real single-node cluster here: builds it, runs tests/cluster, stops it (root).
	ICO_E2E=1 $(BIN)/pytest -q tests/cluster --durations=0 -o timeout=1800

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## Throughput and latency figures (never part of `make test`).
	$(BIN)/python -m bench

lock:  ## Re-pin requirements.lock (the image's runtime dependencies) after pyproject.toml changes.
	$(PYTHON) -m venv .cache/pip-tools
	.cache/pip-tools/bin/pip install --quiet pip-tools==7.6.2
	.cache/pip-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	    --no-emit-find-links --output-file=requirements.lock pyproject.toml

dev-up: $(STAMP)
	$(BIN)/ico-analytics dev up

dev-down: $(STAMP)
	$(BIN)/ico-analytics dev down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
