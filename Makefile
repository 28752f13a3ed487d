# Vigil: `make demo` runs the whole system locally; `make test` sets up and passes the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VIGIL := $(VENV)/bin/vigil
PYTEST := $(VENV)/bin/pytest

.PHONY: setup lint test demo bench bench-gateway bench-sim bench-detect bench-ingest bench-ingest-dedup bench-alerting bench-latency clean-var

setup:
	@bash vigil/setup.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

test: setup lint
	@$(PYTEST) -q

demo: setup
	@$(VIGIL) demo

bench: bench-gateway bench-sim bench-detect bench-ingest bench-alerting

bench-gateway: setup
	@$(PY) -m gateway.bench

bench-sim: setup
	@$(PY) -m firmware_sim.bench

bench-detect: setup
	@$(PY) -m detectors.bench

bench-ingest: setup
	@$(PY) -m ingest.bench $(BENCH_ARGS)

bench-ingest-dedup: setup
	@$(PY) -m ingest.bench_dedup $(BENCH_ARGS)

# Alert commit -> live-stream client, on the local stack (VIGIL_STACK_*_PORT): docs/alerting.md
bench-alerting: setup
	@$(PY) -m alerting.bench $(BENCH_ARGS)

bench-latency: setup
	@$(PY) -m alerting.bench_latency $(BENCH_ARGS)

clean-var:
	-@$(VIGIL) stack down
	rm -rf var
