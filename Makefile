# pmed: `make run` sets everything up and serves the demo; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint install system-deps serve clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv and install pmed with its test tools

run: $(STAMP) ## simulate the demo cohort and trial, build features, train + promote the three demo models, serve on :8000
	$(BIN)/pmed demo

serve: $(STAMP) ## serve the current champions without retraining
	$(BIN)/pmed serve

system-deps: ## install the Debian tools the tests run for real (plink2, chromium)
	@scripts/system-deps.sh

lint: $(STAMP) ## static checks: ruff, mypy --strict over the packages, the import-layer contracts
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) lint system-deps ## lint, then the whole test suite (unit, property, integration, end-to-end)
	PMED_REQUIRE_SYSTEM_TOOLS=1 $(BIN)/python -m pytest

test-fast: $(STAMP) ## skip the slow end-to-end tests
	$(BIN)/python -m pytest -m "not slow"

clean: ## remove runtime state (.pmed/) but keep .venv
	rm -rf .pmed
