# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test test-unit bench bench-e2e bench-replay bench-recovery bench-gateway lint services-up services-down services-status venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,broker,report]'
	touch $@

demo: venv
	scripts/ensure-mosquitto.sh || true
	$(BIN)/citywatch demo $(ARGS)

test: venv lint
	scripts/ensure-mosquitto.sh
	scripts/ensure-browser.sh
	scripts/services.sh up
	set -o pipefail; status=0; \
	  $(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	  scripts/services.sh down; exit $$status

test-unit: venv
	$(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m benchmarks.engine $(ARGS)

bench-e2e: venv  # MQTT -> ticket through the real services: embedded and the stack with 1 and 2 workers; e.g. ARGS='--trucks 1000'
	scripts/ensure-mosquitto.sh
	scripts/services.sh up
	$(BIN)/python -m benchmarks.e2e $(ARGS)

bench-replay: venv  # citywatch replay's speed on an archive of a scaled city; e.g. ARGS='--trucks 1000 --hours 1'
	$(BIN)/python -m benchmarks.replay $(ARGS)

bench-gateway: venv  # needs the real Mosquitto of scripts/services.sh; e.g. ARGS='--terminals 10000 --fixes 10'
	$(BIN)/python -m benchmarks.gateway $(ARGS)

bench-recovery: venv  # needs the real Kafka of scripts/services.sh; e.g. ARGS='--trucks 10000'
	$(BIN)/python -m benchmarks.recovery $(ARGS)

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status

clean:
	scripts/services.sh down || true
	rm -rf $(VENV) .services var .pytest_cache .hypothesis
