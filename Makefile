# LLM Observatory. `make` lists the targets; `make check` is exactly what CI runs.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install tools collector sdk proxy render check lint test test-unit test-tools test-processes test-containers test-servers e2e golden vscode bench up down demo report logs deploy undeploy

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## Create .venv with the pinned Python dependencies

$(VENV)/.installed: requirements.lock pyproject.toml native/pyproject.toml native/Cargo.toml native/Cargo.lock native/src/lib.rs
	scripts/install.sh

tools: ## Install the system tools the tests run (promtool, amtool), when root with apt
	scripts/ensure-tools.sh

collector: ## Build the project's collector from the rendered manifest into .cache/otelcol/ (needs Go)
	scripts/build-collector.sh >/dev/null

sdk: ## Build .cache/sdk-venv: the Python distro (sdk/python) from the repository with its pinned extras
	scripts/sdk-venv.sh

proxy: ## Build the LLM proxy (proxy/, Go standard library only) into .cache/proxy/ (needs Go)
	scripts/build-proxy.sh >/dev/null

render: install ## Render the generated folders from observatory.yaml
	$(BIN)/observatory render

lint: install sdk ## Lint, format check and type check
	$(BIN)/ruff check src tests scripts sdk
	$(BIN)/ruff format --check src tests scripts sdk
	$(BIN)/mypy
	cd sdk/python && ../../$(BIN)/mypy --python-executable ../../.cache/sdk-venv/bin/python --cache-dir ../../.mypy_cache/sdk

test: install tools collector sdk proxy ## Run the test suite (installs what it needs first)
	$(BIN)/pytest

test-unit: install ## Run the tests that need Python only (seconds)
	$(BIN)/pytest -m unit

test-tools: install tools ## Run the tests that check outputs with promtool, amtool, kustomize, actionlint
	$(BIN)/pytest -m tools

test-processes: install tools collector sdk proxy ## Run the tests that start PostgreSQL, the collector, the ingester
	$(BIN)/pytest -m processes

test-faults: install tools collector ## Crash and fuzz the store path on purpose: minutes (docs/RELIABILITY.md)
	$(BIN)/pytest -m faults

check: lint test ## What CI runs: lint, types, generated files up to date, tests
	$(BIN)/observatory render --check

e2e: install tools collector proxy ## Run the end-to-end tests on the local stack (real processes, no Docker)
	$(BIN)/pytest tests/processes/test_e2e_local.py

test-containers: install ## Run the container tests (needs a Docker engine; fails without one)
	REQUIRE_DOCKER=1 $(BIN)/pytest -m containers

test-servers: install tools collector ## Run the server checks against the servers you name (README: Testing)
	$(BIN)/pytest -m servers

golden: install ## Regenerate the golden trees and error snapshots under tests/
	$(BIN)/python scripts/update_golden.py

vscode: ## Build the VS Code extension: editors/vscode/llm-observatory.vsix (needs Node 20 and npm)
	npm --prefix editors/vscode ci --no-audit --no-fund
	npm --prefix editors/vscode run package

bench: install collector tools sdk proxy ## Run the benchmarks (figures go in docs/BENCHMARKS.md)
	$(BIN)/python scripts/bench_collector.py
	$(BIN)/python scripts/bench_ingester.py
	$(BIN)/python scripts/bench_e2e.py
	$(BIN)/python scripts/bench_dashboards.py
	$(BIN)/python scripts/bench_api.py
	$(BIN)/python scripts/bench_sdk.py
	$(BIN)/python scripts/bench_feedback.py
	$(BIN)/python scripts/bench_proxy.py

up: render ## Run the stack with docker compose and print its URLs (no Docker: the local stack; FRESH=1 empties its data)
	FRESH=$(FRESH) scripts/up.sh

down: ## Stop the stack (volumes are kept), or the local stack when that is what runs
	scripts/down.sh

demo: install ## Send synthetic LLM traffic to the running stack (the local one's endpoint from its state)
	$(BIN)/observatory demo --traces 2000 --manifest .cache/demo-manifest.json

report: install ## Print spend, latency, errors and budgets of the last 24 hours from the running stack
	$(BIN)/observatory report --since $(or $(SINCE),24h)

logs: ## Follow the logs of the stack
	scripts/compose.sh logs -f --tail=100

deploy: render ## Deploy stack/k8s to the cluster kubectl points at and wait for rollouts
	scripts/deploy.sh

undeploy: ## Remove the Kubernetes deployment (the namespace and data volumes are kept)
	scripts/undeploy.sh
