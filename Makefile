# Vigil: `make demo` runs the whole system locally; `make test` sets up and passes the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
VIGIL := $(VENV)/bin/vigil
PYTEST := $(VENV)/bin/pytest

.PHONY: setup lint test test-faults test-browser test-security demo bench bench-gateway bench-sim bench-alerting bench-detect bench-routines bench-ingest bench-ingest-dedup bench-storage bench-compression bench-broker-auth bench-latency bench-takeover bench-platform bench-platform-latency bench-dc09 bench-zigbee bench-worker-gone clean-var

setup:
	@bash vigil/setup.sh

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy
	@out=$$($(VENV)/bin/lint-imports --no-cache 2>&1) || { echo "$$out"; exit 1; }; echo "$$out" | grep -E '^Contracts:'

# The linters beside the tests, not before them: lint is about 25 s of CPU, and the tests spend
# most of their time waiting on their own services. Lint's report follows the tests'. For the
# same reason the tests run on two pytest-xdist workers, each with a stack of its own
# (tests/fix_stack.py), a test file to one worker so its module fixtures are built once.
test: setup
	@mkdir -p var; $(MAKE) --no-print-directory lint >var/lint.log 2>&1 & lint=$$!; \
	$(PYTEST) -q -n 2 --dist loadfile; tests=$$?; \
	wait $$lint; linted=$$?; cat var/lint.log; \
	[ $$linted = 0 ] || echo "make test: lint failed"; \
	[ $$tests = 0 ] && [ $$linted = 0 ]

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
	@$(PY) -m bench

# DC-09 receiver alone (events/s TCP and UDP) and a DC-09 fire to the live stream: docs/dc09.md
bench-dc09: setup
	@$(PY) -m bench.dc09 $(BENCH_ARGS)

bench-gateway: setup
	@$(PY) -m bench.gateway

# Carriers' platform pushes (CTWing/OneNET) per second with durable acceptance: docs/platforms.md
bench-platform: setup
	@$(PY) -m bench.platform $(BENCH_ARGS)

# An NB-IoT SOS push to the console's live stream under bench-latency's load: docs/platforms.md
bench-platform-latency: setup
	@$(PY) -m bench.platform_latency $(BENCH_ARGS)

bench-sim: setup
	@$(PY) -m bench.sim

bench-detect: setup
	@$(PY) -m bench.detect

bench-routines: setup
	@$(PY) -m bench.routines

bench-ingest: setup
	@$(PY) -m bench.ingest $(BENCH_ARGS)

bench-ingest-dedup: setup
	@$(PY) -m bench.ingest_dedup $(BENCH_ARGS)

# Bytes per reading: the current chunk as ingested, a closed one packed by maintenance: docs/performance.md
bench-storage: setup
	@$(PY) -m bench.storage $(BENCH_ARGS)

# A day of the simulator's district compressed by the community edition's policy, in PGlite's
# WASM build with TimescaleDB (no community server here): bytes per reading, docs/performance.md
bench-compression: setup
	@$(PY) -m bench.compression $(BENCH_ARGS)

# Claiming workers: kill -9 one mid-stream, time until its partitions commit again: docs/ingest.md
bench-takeover: setup
	@$(PY) -m bench.takeover $(BENCH_ARGS)

# Alert commit -> live-stream client, on the local stack (VIGIL_STACK_*_PORT): docs/alerting.md
bench-alerting: setup
	@$(PY) -m bench.alerting $(BENCH_ARGS)

# Gateway accounts: dynamic security vs password file + SIGHUP, same run: docs/provisioning.md
bench-broker-auth: setup
	@$(PY) -m bench.broker_auth $(BENCH_ARGS)

bench-latency: setup
	@$(PY) -m bench.latency $(BENCH_ARGS)

bench-zigbee: setup
	@$(PY) -m bench.zigbee $(BENCH_ARGS)

# Issue 14's bad day in full: one of two ingest workers gone 10 minutes under bench-latency's
# load (not part of `make bench`: it takes 13 minutes). docs/faults.md
bench-worker-gone: setup
	@$(PY) -m bench.worker_gone $(BENCH_ARGS)

clean-var:
	-@$(VIGIL) stack down
	rm -rf var
