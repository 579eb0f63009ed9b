# The project's commands. `make test` is what CI runs (.ci/run); `make deploy` stands the stack up.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
POLICY_VENV := policy/.venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: test lint typecheck workflows unit policy-test install clean

## test: create the virtualenvs, then lint, type-check, validate workflows and run every test
test: install lint typecheck workflows unit policy-test

install: $(VENV)/.installed $(POLICY_VENV)/.installed

$(VENV)/.installed: requirements.txt function/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(POLICY_VENV)/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

workflows: $(VENV)/.installed
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --min-severity medium .github/workflows

unit: $(VENV)/.installed
	$(BIN)/python -m pytest

policy-test: $(POLICY_VENV)/.installed
	cd policy && .venv/bin/python -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) $(POLICY_VENV) .pytest_cache .mypy_cache .ruff_cache
