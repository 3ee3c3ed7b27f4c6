# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install run test chaos lint lint-imports format lock chromium axe clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	touch $@

## The embedded service: SQLite, file-system broker, console SMS, demo cohort,
## web + Celery worker + Celery beat under one process manager (Ctrl-C stops all).
run: export HTTPS_ONLY ?= false
run: export TWO_FACTOR_REQUIRED ?= none
run: export PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo --url http://127.0.0.1:$(PORT)/
	$(BIN)/honcho start --procfile Procfile.dev --env /dev/null --port $(PORT)

## The architecture contracts, then the whole suite against PostgreSQL and
## Redis on loopback, a real Celery worker and headless Chromium.
test: install chromium axe lint-imports
	$(BIN)/python -m pytest

## axe-core, the accessibility checker the browser tests load into each page (npm).
axe: node_modules/axe-core/axe.min.js

node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Layers import only downwards, pure rules import no Django, no cycles in an
## app (.importlinter; docs/architecture.md).
lint-imports: install
	$(BIN)/lint-imports

## Fault and soak runs: worker SIGKILLs, Redis restarts, provider faults (minutes).
chaos: install
	$(BIN)/python -m pytest -m chaos -s
	SCHEMA_EXAMPLES=30 $(BIN)/python -m pytest tests/security/test_api_schema.py

chromium:
	scripts/ensure-chromium

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-pin every dependency from pyproject.toml (then commit both lock files).
lock: install
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra dev --output-file requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) var
