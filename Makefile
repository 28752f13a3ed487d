# Vigil: `make demo` runs the whole system locally; `make test` sets up and passes the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VIGIL := $(VENV)/bin/vigil
PYTEST := $(VENV)/bin/pytest

.PHONY: setup lint test test-faults test-browser test-security demo bench bench-gateway bench-sim bench-alerting bench-detect bench-routines bench-ingest bench-ingest-dedup bench-broker-auth bench-latency bench-takeover clean-var

setup:
	@bash vigil/setup.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

test: setup lint
	@$(PYTEST) -q

# Fault injection (docs/faults.md): broker and database restarts, kill -9 of each service, a
# gateway offline, its disk full, its clock off, the SMS carrier failing. Also part of `make test`.
test-faults: setup
	@$(PYTEST) -q -m faults

# Broker fences, revocation, dead letters and role limits, with the real broker and console.
test-security: setup
	@$(PYTEST) -q -m security

test-browser: setup
	@$(PYTEST) -q -m browser

demo: setup
	@$(VIGIL) demo

# Every benchmark, one after the other; figures written into docs/performance.md.
bench: setup
	@$(VIGIL) bench

bench-gateway: setup
	@$(PY) -m gateway.bench

bench-sim: setup
	@$(PY) -m firmware_sim.bench

bench-detect: setup
	@$(PY) -m detectors.bench

bench-routines: setup
	@$(PY) -m detectors.bench_routines

bench-ingest: setup
	@$(PY) -m ingest.bench $(BENCH_ARGS)

bench-ingest-dedup: setup
	@$(PY) -m ingest.bench_dedup $(BENCH_ARGS)

# Claiming workers: kill -9 one mid-stream, time until its partitions commit again: docs/ingest.md
bench-takeover: setup
	@$(PY) -m ingest.bench_takeover $(BENCH_ARGS)

# Alert commit -> live-stream client, on the local stack (VIGIL_STACK_*_PORT): docs/alerting.md
bench-alerting: setup
	@$(PY) -m alerting.bench $(BENCH_ARGS)

# Gateway accounts: dynamic security vs password file + SIGHUP, same run: docs/provisioning.md
bench-broker-auth: setup
	@$(PY) -m vigil.provisioning.bench $(BENCH_ARGS)

bench-latency: setup
	@$(PY) -m alerting.bench_latency $(BENCH_ARGS)

clean-var:
	-@$(VIGIL) stack down
	rm -rf var
