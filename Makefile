# Two commands do all the set-up on a fresh machine with Python >= 3.11:
#   make run    install, start the embedded PostgreSQL, migrate, serve on :8000
#   make test   install, start a test PostgreSQL, migrate, run every test
# The embedded PostgreSQL stops by itself when the last onward process (or test run) using
# it exits; `make clean` stops it before deleting anything.
#
# Installs come from the lock files in requirements/ (exact versions, hash-checked):
# runtime.lock is what the image runs, dev.lock adds the test and lint tools with the
# runtime versions held fixed. `make lock` regenerates both after pyproject.toml changes
# (`make lock LOCK_ARGS=--upgrade` moves every pin to the newest release); `make lint`
# fails while they are out of date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(CURDIR)/$(BIN)/uv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements/dev.lock | cksum | cut -d' ' -f1)

.PHONY: install run demo test lint lock lock-check format openapi bench browser clean

# uv (the installer and locker) comes first, at the version and hashes dev.lock pins, through
# the new venv's own pip; the lock also keeps it there when uv syncs the venv.
$(UV): requirements/dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@awk '/^uv==/ {p = 1} p {print} p && !/\\$$/ {exit}' requirements/dev.lock > $(VENV)/uv.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
	  -r $(VENV)/uv.txt
	@touch $(UV)

# Exactly the locked set (anything else in the venv is removed), then Onward itself,
# editable and without dependencies: every package comes from the lock.
$(STAMP): pyproject.toml requirements/dev.lock $(UV)
	@echo "installing Onward and its development tools into $(VENV) from requirements/dev.lock…" >&2
	$(UV) pip sync -q --python $(BIN)/python --require-hashes requirements/dev.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
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

# $(call compile,DIR): (re)writes DIR/requirements/*.lock from DIR/pyproject.toml for every
# platform and Python >= 3.11, keeping the versions already locked there where they still fit.
# The dev set is resolved with the runtime set as constraints, so tests run what the image runs.
define compile
cd $(1) && $(UV) pip compile -q pyproject.toml --universal --python-version 3.11 \
  --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS) \
  -o requirements/runtime.lock \
&& $(UV) pip compile -q pyproject.toml --extra dev -c requirements/runtime.lock \
  --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock" \
  $(LOCK_ARGS) -o requirements/dev.lock
endef

lock: $(UV)
	$(call compile,.)

# Fails when pyproject.toml's dependencies no longer match the locks: re-resolves a copy
# (same preferences, so an unchanged pyproject.toml gives the same pins) and compares the
# pins and the reasons for them. Hashes are left out of the comparison: a wheel uploaded
# later for a pinned version changes them without anything here being out of date.
lock-check: $(UV)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	&& mkdir "$$tmp/requirements" && cp pyproject.toml "$$tmp/" \
	&& cp requirements/runtime.lock requirements/dev.lock "$$tmp/requirements/" \
	&& ( $(call compile,"$$tmp") ) \
	&& for f in runtime dev; do \
	  sed '/--hash=/d; s/ \\$$//' requirements/$$f.lock > "$$tmp/$$f.was"; \
	  sed '/--hash=/d; s/ \\$$//' "$$tmp/requirements/$$f.lock" > "$$tmp/$$f.now"; \
	  diff -u --label requirements/$$f.lock --label "what pyproject.toml asks for" \
	    "$$tmp/$$f.was" "$$tmp/$$f.now" \
	  || { echo "requirements/$$f.lock is out of date with pyproject.toml: run make lock" >&2; \
	       exit 1; }; \
	done

lint: $(STAMP) lock-check
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
	$(UV) pip install -q --python $(BIN)/python -c requirements/dev.lock -e '.[dev,bench]'
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
