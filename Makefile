# ATUM Desk: `make run` starts everything on this machine, `make test` runs the suite on
# SQLite and on PostgreSQL, `make test-fast` only what needs neither Temporal nor a
# subprocess. `make help` lists every target.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DESK_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
export DESK_TEST_POSTGRES_URL
PYTEST_ARGS ?=
# $(call pytest,ARGS): pytest, where exit code 5 ("no tests collected") is reported as the
# failure it is.
pytest = $(PY) -m pytest $(PYTEST_ARGS) $(1) || { rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests" >&2; fi; exit $$rc; }
# What `make test-fast` leaves out: tests marked (mostly automatically, from their
# fixtures) as needing a Temporal server or subprocesses; see tests/support/tiers.py.
FAST := -m "not temporal and not subprocess"

.DEFAULT_GOAL := help
.PHONY: help run test test-fast test-sqlite test-postgres fuzz chaos openapi lint bench soak screenshots clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes (new dependency, new entry point).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# The portal's browser tests drive Debian's Chromium (never a downloaded browser build);
# installed from Debian's packages where it is missing (CI runs as root).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: $(STAMP) ## Run API, worker and Temporal (dev server + Web UI) with demo data; Ctrl-C stops
	$(VENV)/bin/desk dev

test: $(STAMP) $(CHROMIUM) ## Run the whole suite on SQLite, then on PostgreSQL (DESK_TEST_POSTGRES_URL)
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

test-fast: $(STAMP) ## Run only the pure and in-process tests (SQLite; no Temporal, no subprocesses)
	@echo "== fast tests on SQLite (no Temporal, no subprocesses) =="
	@DESK_TEST_DB=sqlite $(call pytest,$(FAST))

test-sqlite: $(STAMP) $(CHROMIUM) ## Run the suite on SQLite only
	@echo "== tests on SQLite =="
	@DESK_TEST_DB=sqlite $(call pytest)

test-postgres: $(STAMP) $(CHROMIUM) ## Run the suite on PostgreSQL only (skipped loudly if unreachable; fails if CI=true)
	@if $(PY) scripts/pg_available.py "$(DESK_TEST_POSTGRES_URL)"; then \
		echo "== tests on PostgreSQL =="; \
		DESK_TEST_DB=postgres $(call pytest); \
	else \
		echo ""; \
		echo "################################################################################"; \
		echo "##  PostgreSQL is NOT reachable (DESK_TEST_POSTGRES_URL; the reason is above)"; \
		echo "##  The PostgreSQL half of the suite was SKIPPED."; \
		echo "##  Start PostgreSQL or set DESK_TEST_POSTGRES_URL, then run: make test-postgres"; \
		echo "################################################################################"; \
		echo ""; \
		if [ "$$CI" = "true" ]; then echo "CI=true: failing because PostgreSQL is required"; exit 1; fi; \
	fi

fuzz: $(STAMP) ## Fuzz the REST contract longer: every phase for every role, more examples, three seeds, both engines
	@DESK_FUZZ_EXAMPLES=$${DESK_FUZZ_EXAMPLES:-25} DESK_FUZZ_SEEDS=$${DESK_FUZZ_SEEDS:-1,2,3} \
		DESK_FUZZ_COVERAGE_ROLES=$${DESK_FUZZ_COVERAGE_ROLES:-CUSTOMER,AGENT,MANAGER,ADMIN} \
		$(MAKE) --no-print-directory test-sqlite test-postgres PYTEST_ARGS="tests/test_fuzz.py"

chaos: $(STAMP) ## Chaos suite at full size: every part killed under load, one scenario per fault, both engines (~20 min)
	@report=$${TMPDIR:-/tmp}/desk-chaos-report.txt; rm -f $$report; \
	DESK_CHAOS=full DESK_CHAOS_REPORT=$$report $(MAKE) --no-print-directory --keep-going test-sqlite \
		test-postgres PYTEST_ARGS="-rA -p no:logging tests/chaos"; rc=$$?; \
	echo "== chaos report ($$report)"; cat $$report; exit $$rc

openapi: $(STAMP) ## Rewrite openapi.json, the committed REST contract, from the app
	$(PY) -m desk.http.openapi openapi.json

lint: $(STAMP) ## ruff check + ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP) ## Run every benchmark in bench/ (each prints its figures; the soak has its own target)
	@set -e; found=0; for script in bench/*.py; do \
		[ -e "$$script" ] || continue; [ "$$script" != bench/soak.py ] || continue; found=1; \
		echo "== $$script =="; $(PY) "$$script"; \
	done; [ $$found = 1 ] || echo "no benchmarks in bench/ yet"

soak: $(STAMP) ## The mixed load for 30 minutes on PostgreSQL, RSS and fds of every part each minute (SOAK_ARGS="--minutes 5 --engine sqlite")
	nice -n 10 $(PY) bench/soak.py $(SOAK_ARGS)

screenshots: $(STAMP) $(CHROMIUM) ## Write a PNG of each main portal page to docs/screenshots/
	@DESK_TEST_DB=sqlite DESK_SCREENSHOTS=docs/screenshots $(call pytest,-q tests/test_portal_screenshots.py)

clean: ## Remove caches and build leftovers (keeps .venv and ./data, the dev run's state)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
