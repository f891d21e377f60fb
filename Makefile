# The two commands that matter: `make up` (whole system on the embedded default) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install system-deps up down status backup restore test test-shuffled lint bench reliability schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

up: install
	$(BIN)/python -m devstack.stack up

down:
	$(BIN)/python -m devstack.stack down

status:
	$(BIN)/python -m devstack.stack status

# read model + dev server file + manifest (no codec keys: docs/operations.md); BACKUP=DIR to choose the folder
BACKUP ?=
backup: install
	$(BIN)/complaints db backup --output $(or $(BACKUP),backups/$(shell date -u +%Y%m%dT%H%M%SZ))

restore: install
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=backups/<folder>" >&2; exit 2; }
	$(BIN)/python -m devstack.stack restore $(BACKUP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

system-deps:
	bash scripts/system-deps.sh

test: install system-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# the same suite with modules and the tests inside them shuffled: a test that leans on another's leftovers fails here
# (SEED=N repeats an order; the seed used is printed first)
test-shuffled: install system-deps
	@seed=$${SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; echo "make test-shuffled SEED=$$seed"; \
	$(BIN)/python -m pytest -q -p no:cacheprovider --random-order-bucket=module --random-order-seed=$$seed

bench: install
	$(BIN)/python -m bench

reliability: install
	$(BIN)/python -m devstack.reliability

schemas: install
	$(BIN)/python -m clients.schemas

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache test-artifacts
