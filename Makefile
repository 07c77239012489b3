# unitledger — the two commands a new machine needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8417
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help run test venv install install-test focus-validator system-test-deps web lint typecheck pytest pytest-all clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.created:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

venv: $(VENV)/.created

install: venv web ## Install unitledger and build the dashboard
	$(PIP) install -q -e .

install-test: venv web focus-validator ## Install unitledger with its test dependencies
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q ./sdk/python
	rm -rf sdk/python/build

# FinOps focus-validator pins old pandas/pandera, so it gets a venv of its own.
.venv-focus/bin/focus-validator:
	python3 -m venv .venv-focus
	.venv-focus/bin/pip install -q 'focus-validator==1.0.0' 'multimethod<2'

focus-validator: .venv-focus/bin/focus-validator ## The FOCUS CSV checker the export tests run

web: ## Build the dashboard (npm ci + vite build) when its sources exist
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build; fi

run: install ## Install everything and start the server with demo data on :$(PORT)
	$(VENV)/bin/unitledger serve --demo --port $(PORT)

system-test-deps: ## Debian packages the tests need (PostgreSQL, Chromium, promtool)
	@scripts/apt-deps.sh

lint: ## ruff check + format check
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: ## mypy --strict on src/
	$(VENV)/bin/mypy

pytest: ## The Python test suite (PostgreSQL too when UNITLEDGER_TEST_POSTGRES_URL is set)
	$(VENV)/bin/pytest -p no:cacheprovider

test: system-test-deps install-test ## Install test dependencies and run the whole suite
	scripts/test-all.sh

clean:
	rm -rf $(VENV) web/node_modules src/unitledger/web/dist
