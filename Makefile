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

.PHONY: help setup run test bench soak lint format migrate clean install-production static lock messages

help:
	@echo "make run    set up (venv, dependencies, database, demo data) and serve on http://127.0.0.1:8000 with the worker"
	@echo "make test   set up and run the test suite (DATABASE_URL=postgres://… to use PostgreSQL)"
	@echo "make bench  benchmarks on PostgreSQL (bench/), prints a table and writes bench/results.json"
	@echo "make soak   30 minutes at 100 events/s through workers and dispatcher: RSS and lateness each minute, then totals (not in CI)"
	@echo "make lint   ruff, and the import contracts (layers, no cycles: .importlinter)"
	@echo "make install-production  a venv ($(VENV)) with the locked production dependencies only (no npm, no test tools)"
	@echo "make static              collectstatic: hashed, compressed static files for the web process (needs npm once)"
	@echo "make lock                recompile requirements/production.txt from pyproject.toml (after changing dependencies)"
	@echo "make messages            extract the customer-facing strings into locale/*/LC_MESSAGES/django.po (then translate)"

NEED_PYTHON = py=$$($(FIND_PYTHON)) || { \
	  echo "Relance needs Python 3.12 or newer (Django 6.1 requires it), and none was found."; \
	  echo "Install one (e.g. 'pyenv install 3.12') or point to it: make PYTHON=/path/to/python3.12 …"; \
	  exit 1; }; \
	echo "Using $$py ($$($$py --version))"; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	  echo "$(VENV) has an older Python; recreating it"; rm -rf $(VENV); fi; \
	[ -x $(PY) ] || $$py -m venv $(VENV)

$(STAMP): pyproject.toml
	@$(NEED_PYTHON)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet ".[dev]"
	@touch $(STAMP)

# From the npm registry with its lock file: SortableJS (served as a static file) and axe-core
# (a devDependency the browser tests inject; never served).
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Relance needs npm (Node.js) to install SortableJS (and axe-core for the tests) from the npm registry."; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

# The translations customers read (their emails and the payment page): each catalog
# locale/<lang>/LC_MESSAGES/django.po is compiled to its .mo (not committed) with GNU gettext's
# msgfmt, as Django's compilemessages does.
PO_FILES := $(wildcard locale/*/LC_MESSAGES/django.po)
MO_FILES := $(PO_FILES:.po=.mo)

locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	@command -v msgfmt >/dev/null || { echo "Relance needs GNU gettext (msgfmt) to compile the customers' translations: apt-get install gettext (Debian, Ubuntu) or brew install gettext (macOS)."; exit 1; }
	msgfmt --check-format -o $@ $<

setup: $(STAMP) $(NPM_STAMP) $(MO_FILES)

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

# The soak (bench/soak.py): its own relance_soak database; SOAK_ARGS="--minutes 3" for a short try.
soak: setup
	$(PY) -m bench.soak $(SOAK_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) node_modules db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles .pytest_cache .ruff_cache $(MO_FILES)

# Production: only the locked runtime dependencies, each checked against its hash; the project
# itself without dependencies (it brings none of its own). No npm, no test tools: worker machines
# need nothing more. VENV=/path/to/venv to install elsewhere.
install-production: $(MO_FILES)
	@$(NEED_PYTHON)
	$(PIP) install --quiet --require-hashes -r requirements/production.txt
	$(PIP) install --quiet --no-deps .

# Static files, once per release on a machine with npm (or copy the result to the web machines).
# Files of earlier releases stay (no --clear): a web process still running the old release serves them.
# collectstatic reads no secret, so a throwaway key stands in when the environment has none.
# Where `make setup` has not installed the npm packages, only the runtime ones are (SortableJS,
# not the browser tests' axe-core).
NPM_RUNTIME_STAMP := node_modules/.installed-runtime
$(NPM_RUNTIME_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Relance needs npm (Node.js) to install SortableJS from the npm registry."; exit 1; }
	npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(NPM_RUNTIME_STAMP)

static: $(if $(wildcard $(NPM_STAMP)),$(NPM_STAMP),$(NPM_RUNTIME_STAMP))
	@[ -x $(PY) ] || { echo "No $(VENV): run 'make install-production' (or 'make setup') first."; exit 1; }
	DEBUG=0 SECRET_KEY="$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')}" \
	  PAYMENT_GATEWAY="$${PAYMENT_GATEWAY:-billing.payments.test_gateway.TestGateway}" \
	  $(PY) manage.py collectstatic --noinput

# Only what customers read is translated: the dashboard and the admin stay in English.
messages: $(STAMP)
	DEBUG=1 $(PY) manage.py makemessages --locale fr --no-location --no-obsolete \
	  --ignore=.venv --ignore=node_modules --ignore=staticfiles --ignore=build --ignore=var --ignore=tests \
	  --ignore=templates/admin --ignore=billing/admin --ignore=relance.egg-info

# requirements/production.txt: every runtime dependency pinned with its hashes, for any platform.
# Versions already in it are kept while pyproject.toml allows them (uv prefers them): reproducible.
# LOCK_FILE=elsewhere.txt compiles into a copy (a test checks that it comes out unchanged).
LOCK_FILE := requirements/production.txt
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.12 --generate-hashes \
	  --custom-compile-command "make lock" --output-file $(LOCK_FILE)
