# Two commands set up everything: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test chromium lint format bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(DEV_STAMP): $(RUN_STAMP) pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

## Serve http://127.0.0.1:8000 on SQLite (./tandem.db) with in-process broadcast.
run: $(RUN_STAMP)
	$(BIN)/tandem migrate
	$(BIN)/tandem serve

## The whole suite; PostgreSQL/Redis tests are skipped (loudly) when they are missing.
## It runs in TEST_WORKERS processes (TEST_WORKERS=0: in this one): most tests wait on
## sockets, servers and timers rather than the CPU, so even 2 cores keep 4 busy.
TEST_WORKERS ?= 4
test: $(DEV_STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## The browser tests drive Debian's chromium (Playwright downloads no browser).
chromium:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing chromium with apt-get for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "make: chromium is missing and cannot be installed here: the browser tests will be skipped"; fi

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The load benchmark (embedded and distributed modes) into bench/RESULTS.md; not part of `test`.
## BENCH_ARGS="--quick" checks the pipeline in a minute; see `python -m bench --help`.
bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## Pin what the tests passed with (run after changing dependencies).
lock: $(DEV_STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) tandem.db tandem.db-wal tandem.db-shm
