# Two commands do all the set-up (see README):
#   make run    install, migrate, and run the whole system (API, worker pool, emulator)
#   make test   install and run the test suite against real PostgreSQL, Redis, RabbitMQ and worker processes
#   make bench  every benchmark, one table of same-run ratios (make bench-smoke: tiny sizes, as in CI)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install services promtool chromium bench bench-smoke clean

# The Python client (clients/python, its own package) is installed beside the engine for
# development: its tests and `easypay listen` use it. The image (Dockerfile) does not ship it.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]" -e ./clients/python
	touch $(STAMP)

install: $(STAMP)

# Starts local PostgreSQL and Redis if they are not answering (no-op where they run, or
# where they are elsewhere: set DATABASE_URL / REDIS_URL / BROKER_URL instead).
services:
	@bash scripts/ensure-services

# promtool checks the alert rules in the suite: installed here (apt-get, as root) when missing,
# otherwise `make test` stops with a message saying how to install it.
promtool:
	@bash scripts/ensure-promtool

# Chromium runs the dashboard's browser test (Playwright drives /usr/bin/chromium): installed here
# (apt-get, as root) when missing, otherwise `make test` stops with a message saying how to install it.
chromium:
	@bash scripts/ensure-chromium

run: install services
	$(BIN)/easypay db upgrade
	$(BIN)/python -m easypay.devrun

# The whole suite on the Redis broker, then the queue-facing slice (accept, charge, capture,
# void, refunds, webhooks, reconciliation, the fault suite) again on RabbitMQ (tests marked redis_broker read the
# Redis broker's own keys; rabbitmq_broker ones bring their own RabbitMQ and ran in the first pass).
test: install services promtool chromium
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy
	$(BIN)/pytest -q
	EASYPAY_TEST_BROKER=rabbitmq $(BIN)/pytest -q -m "not redis_broker and not rabbitmq_broker" tests/e2e tests/webhooks tests/integration tests/faults

# Benchmarks use their own database (easypay_bench) and Redis databases 2-4; BENCH_ARGS passes
# options through, e.g. `make bench BENCH_ARGS="--only pools backlog --backlog 2000"`.
bench: install services
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-smoke: install services
	$(BIN)/python bench/run.py --smoke $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache
