# Two commands do all the set-up (see README):
#   make run    install, migrate, and run the whole system (API, worker pool, emulator)
#   make test   install and run the test suite against real PostgreSQL, Redis and worker processes

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install services promtool bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
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

run: install services
	$(BIN)/easypay db upgrade
	$(BIN)/python -m easypay.devrun

test: install services promtool
	$(BIN)/pytest -q

bench: install services
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
