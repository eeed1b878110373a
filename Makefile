# Two commands do all the set-up on a fresh machine with Python >= 3.11:
#   make run    install, start the embedded PostgreSQL, migrate, serve on :8000
#   make test   install, start a test PostgreSQL, migrate, run every test
# The embedded PostgreSQL stops by itself when the last onward process (or test run) using
# it exits; `make clean` stops it before deleting anything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run demo test lint format openapi bench browser clean

$(STAMP): pyproject.toml
	@echo "installing Onward and its development tools into $(VENV) (a minute or two, once)…" >&2
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/onward serve

demo: $(STAMP)
	$(BIN)/onward serve --demo

browser:
	@scripts/ensure-chromium

# pytest's exit code 5 (no test collected) counts as a failure, never as a pass.
test: $(STAMP) browser
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests bench
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(STAMP)
	$(BIN)/onward openapi > openapi.yaml

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.matching
	$(BIN)/python -m bench.webhooks

# Stops the embedded PostgreSQL clusters first (the test one is deleted; the development
# one in .onward is kept, but its binaries live in .venv): never delete a running one.
clean:
	@if [ -x $(BIN)/onward ]; then \
	  ONWARD_DATA_DIR=.onward-test $(BIN)/onward stop-database; \
	  ONWARD_DATA_DIR=.onward $(BIN)/onward stop-database; \
	fi
	rm -rf $(VENV) .onward-test .mypy_cache .ruff_cache .pytest_cache
