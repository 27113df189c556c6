# Relance — `make run` serves the dashboard and its worker; `make test` runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

# A Python >= 3.12: $PYTHON if given, else the first suitable one on PATH or in pyenv.
PYTHON_CANDIDATES := $(PYTHON) python3.13 python3.12 python3 $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3)
FIND_PYTHON = for c in $(PYTHON_CANDIDATES); do \
	  p=$$(command -v $$c 2>/dev/null) || continue; \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; exit 0; }; \
	done; exit 1

.PHONY: help setup run test bench lint format migrate clean

help:
	@echo "make run    set up (venv, dependencies, database, demo data) and serve on http://127.0.0.1:8000 with the worker"
	@echo "make test   set up and run the test suite (DATABASE_URL=postgres://… to use PostgreSQL)"
	@echo "make bench  benchmarks on PostgreSQL (bench/), prints a table and writes bench/results.json"
	@echo "make lint   ruff"

$(STAMP): pyproject.toml
	@py=$$($(FIND_PYTHON)) || { \
	  echo "Relance needs Python 3.12 or newer (Django 6.1 requires it), and none was found."; \
	  echo "Install one (e.g. 'pyenv install 3.12') or point to it: make PYTHON=/path/to/python3.12 …"; \
	  exit 1; }; \
	echo "Using $$py ($$($$py --version))"; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  echo "$(VENV) has an older Python; recreating it"; rm -rf $(VENV); fi; \
	[ -x $(PY) ] || $$py -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet ".[dev]"
	@touch $(STAMP)

# From the npm registry with its lock file: SortableJS (served as a static file) and axe-core
# (a devDependency the browser tests inject; never served).
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Relance needs npm (Node.js) to install SortableJS (and axe-core for the tests) from the npm registry."; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

setup: $(STAMP) $(NPM_STAMP)

migrate: setup
	DEBUG=1 $(PY) manage.py migrate --noinput

run: setup
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py register_schedules
	DEBUG=1 $(PY) manage.py seed_demo
	DEBUG=1 $(PY) -m config.devserver

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (bench/): PostgreSQL only; DATABASE_URL defaults to a relance_bench database there.
bench: setup
	$(PY) -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) node_modules db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles .pytest_cache .ruff_cache
