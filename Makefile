# Vigie — every target installs what it needs; run `make help`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .local/uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SERVICES_ENV := .local/services.env
# Run a command with the local Kafka/PostgreSQL settings (or the ones already exported).
TOOLS_ENV := .local/tools.env
WITH_SERVICES := set -a; [ -f $(SERVICES_ENV) ] && . ./$(SERVICES_ENV); \
  [ -f $(TOOLS_ENV) ] && . ./$(TOOLS_ENV); set +a;

.DEFAULT_GOAL := help
.PHONY: help install run stack test test-unit test-integration test-e2e lint bench \
        services-up services-down tools faults fuzz clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .local/uv
	.local/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed ## Create .venv with the locked dependencies

run: install ## Run Vigie embedded (one process, in-memory bus, SQLite) on 127.0.0.1:8080
	$(BIN)/vigie run

services-up: ## Install (if needed) and start Kafka (KRaft) and PostgreSQL on loopback
	scripts/services.sh up

services-down: ## Stop the local Kafka and PostgreSQL (data kept under .local/)
	scripts/services.sh down

stack: install services-up ## Run the four services as processes on the local Kafka + PostgreSQL
	$(WITH_SERVICES) $(BIN)/vigie stack

lint: install ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-unit: install ## Unit tests only (no I/O)
	$(BIN)/pytest tests/unit

tools: ## Install the test tools (Prometheus, promtool, Chromium, the deployment validators)
	scripts/tools.sh up

test-integration: install services-up tools ## Integration and end-to-end tests on the real services
	$(WITH_SERVICES) $(BIN)/pytest tests/integration tests/e2e

test: install ## Lint, then every test on real Kafka + PostgreSQL (started, then stopped)
	$(MAKE) lint
	scripts/tools.sh up
	scripts/services.sh up
	status=0; $(WITH_SERVICES) $(BIN)/pytest tests || status=$$?; \
	  scripts/services.sh down; exit $$status

faults: install services-up ## Every fault scenario (kill -9, broker and database restarts, outages, poison) and its table
	$(WITH_SERVICES) VIGIE_FAULTS=all $(BIN)/pytest tests/faults -p no:cacheprovider

FUZZ_EXAMPLES ?= 150
fuzz: install services-up ## Fuzz every HTTP surface (>= 10,000 cases; FUZZ_EXAMPLES per test)
	$(WITH_SERVICES) VIGIE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  $(BIN)/pytest tests/fuzz tests/integration/test_http_limits.py

bench: install services-up ## Throughput and latency figures, written under bench/results/
	$(WITH_SERVICES) $(BIN)/python -m bench.pipeline
	$(WITH_SERVICES) $(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.classifier
	$(WITH_SERVICES) $(BIN)/python -m bench.notifier
	$(WITH_SERVICES) $(BIN)/python -m bench.lanes router
	$(WITH_SERVICES) $(BIN)/python -m bench.lanes classifier

clean: services-down ## Remove the virtualenv and all local data
	rm -rf $(VENV) .local
