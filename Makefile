# Takeover: `make run` serves everything; `make test` proves it.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run serve test lint format check openapi requirements bench reliability screenshots clean

$(INSTALLED): pyproject.toml clients/python/pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e clients/python
	rm -f $(VENV)/.installed-* && touch $@

run: $(INSTALLED)  ## Serve every function on PORT (54321), embedded Postgres unless DATABASE_URL
	$(PYTHON) -m functions.local.server

serve: $(INSTALLED)  ## What production runs: every function under gunicorn, no console (needs DATABASE_URL)
	$(VENV)/bin/gunicorn functions.app:app --bind 127.0.0.1:$${PORT:-8080} --workers 1 --threads 8

# One test process per core: each has its own template database, each test its own copy.
TEST_WORKERS ?= 2

test: $(INSTALLED)  ## The whole test suite against a real Postgres
	$(PYTHON) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(INSTALLED)  ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

openapi: $(INSTALLED)  ## Regenerate the committed OpenAPI document
	$(PYTHON) -m functions.openapi > functions/openapi.json

.PHONY: client
client: $(INSTALLED)  ## Regenerate the sync client (clients/python/takeover_client/_sync/) from the async one
	$(PYTHON) clients/python/generate_sync.py

requirements: $(INSTALLED)  ## Pin the runtime dependencies as installed (tests/test_deploy.py checks)
	$(PYTHON) -m tests.lock > requirements.txt

bench: $(INSTALLED)  ## Benchmarks as ratios against same-run baselines (BENCH_SCALE=large)
	$(PYTHON) -m bench
	$(PYTHON) -m bench.export

reliability: $(INSTALLED)  ## Soak with faults, direct and through PgBouncer; fuzzing; isolation (RELIABILITY_SECONDS, RELIABILITY_POOLER=0)
	$(PYTHON) -m tests.reliability

screenshots: $(INSTALLED)  ## Retake the README's console screenshots (docs/screenshots)
	SCREENSHOT_DIR=docs/screenshots $(PYTHON) -m pytest tests/test_console.py -q

check: lint test  ## Everything CI checks, before a commit

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
