# polex: every target installs what it needs first, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo serve test unit integration e2e lint format schema bench-demo clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "polex needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install polex with its development tools

demo: install ## Start a hub and national nodes with synthetic data (Ctrl-C stops them)
	$(BIN)/polex demo

test: lint ## Lint, type-check, then run every test on SQLite and PostgreSQL
	$(BIN)/pytest

unit: install ## Unit tests only (no I/O)
	$(BIN)/pytest tests/unit

integration: install ## Integration tests (SQLite and PostgreSQL)
	$(BIN)/pytest tests/integration

e2e: install ## End-to-end tests through HTTP and the CLI
	$(BIN)/pytest tests/e2e

lint: install ## ruff, mypy --strict and the layering contracts
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## Format and autofix
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

schema: install ## Regenerate docs/schema from the models
	$(BIN)/polex schema export --out docs/schema

bench-demo: install ## Time polex demo start-up (fresh and reused data) and stop
	$(BIN)/python benchmarks/demo_startup.py

clean: ## Remove the virtual environment, caches and demo data
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var
