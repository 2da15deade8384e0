# Takeover: `make run` serves everything; `make test` proves it.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check
# Every install follows the locks: requirements.txt (what a deploy installs) and
# requirements-dev.txt (that, the local server's packages and the test and lint tools, at the
# same versions). An upstream release changes nothing until `make requirements` moves a pin.
LOCKS := pyproject.toml clients/python/pyproject.toml requirements.txt requirements-dev.txt
LOCKED := $(shell cat $(LOCKS) | cksum | cut -d' ' -f1)
RUNTIME := $(VENV)/.installed-runtime-$(LOCKED)
DEV := $(VENV)/.installed-dev-$(LOCKED)

.PHONY: run serve deploy-plan test lint format check openapi requirements bench reliability screenshots clean

$(PYTHON):
	python3 -m venv $(VENV)

# What the local server needs: the runtime lock and the `local` extra (pgserver), pinned by
# the dev lock; none of the test and lint tools.
$(RUNTIME): $(LOCKS) | $(PYTHON)
	test -f $(DEV) || $(PIP) -c requirements-dev.txt -r requirements.txt -e '.[local]'
	rm -f $(VENV)/.installed-runtime-* && touch $@

# Tests and lint: the dev lock as it is, then our own two packages without resolving anything.
$(DEV): $(LOCKS) | $(PYTHON)
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -e . -e clients/python
	rm -f $(VENV)/.installed-* && touch $(RUNTIME) $@

run: $(RUNTIME)  ## Serve every function on PORT (54321), embedded Postgres unless DATABASE_URL
	$(PYTHON) -m functions.local.server

serve: $(RUNTIME)  ## What the container runs: every function under gunicorn, no console (needs DATABASE_URL)
	$(VENV)/bin/gunicorn main:app --bind 127.0.0.1:$${PORT:-8080} --workers 1 --threads 8

deploy-plan: $(RUNTIME)  ## Print the Google Cloud deploy commands, derived from the catalogue (docs/deploy.md)
	@$(PYTHON) -m functions.local.deploy_plan

# One test process per core: each has its own template database, each test its own copy.
TEST_WORKERS ?= 2

test: $(DEV)  ## The whole test suite against a real Postgres
	$(PYTHON) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(DEV)  ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEV)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

openapi: $(RUNTIME)  ## Regenerate the committed OpenAPI document
	$(PYTHON) -m functions.catalogue.openapi > functions/openapi.json

.PHONY: client
client: $(DEV)  ## Regenerate the sync client (clients/python/takeover_client/_sync/) from the async one
	$(PYTHON) clients/python/generate_sync.py

# pip-compile, in a venv of its own (pinned here, never in the project's venv), against the
# package indexes pip is configured with. Existing pins stay unless UPGRADE=1.
PIP_TOOLS := .cache/pip-tools
COMPILE := CUSTOM_COMPILE_COMMAND="make requirements" $(PIP_TOOLS)/bin/pip-compile --quiet \
	--strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)

requirements:  ## Re-pin both locks after a dependency change; UPGRADE=1 moves every pin to the newest allowed
	test -x $(PIP_TOOLS)/bin/pip-compile || { python3 -m venv $(PIP_TOOLS) \
		&& $(PIP_TOOLS)/bin/pip install --quiet --disable-pip-version-check pip-tools==7.7.0; }
	$(COMPILE) --output-file requirements.txt pyproject.toml
	$(COMPILE) --extra local --extra dev --constraint requirements.txt \
		--output-file requirements-dev.txt pyproject.toml clients/python/pyproject.toml

bench: $(DEV)  ## Benchmarks as ratios against same-run baselines (BENCH_SCALE=large)
	$(PYTHON) -m bench
	$(PYTHON) -m bench.export

reliability: $(DEV)  ## Soak with faults, direct and through PgBouncer; fuzzing; isolation (RELIABILITY_SECONDS, RELIABILITY_POOLER=0)
	$(PYTHON) -m tests.reliability

screenshots: $(DEV)  ## Retake the README's console screenshots (docs/screenshots)
	SCREENSHOT_DIR=docs/screenshots $(PYTHON) -m pytest tests/test_console.py -q

check: lint test  ## Everything CI checks, before a commit

clean:
	rm -rf $(VENV) .data .cache .pytest_cache .mypy_cache .ruff_cache
