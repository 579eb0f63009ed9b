# The project's commands. `make test` is what CI runs (.ci/run); `make deploy` stands the stack up.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
POLICY_VENV := policy/.venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: test lint typecheck workflows unit policy-test install clean emulator-check

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

# Google's Pub/Sub emulator runs the end-to-end and outage tests; SKIP_EMULATOR_TESTS=1 skips them on purpose.
SKIP_EMULATOR_TESTS ?=
export SKIP_EMULATOR_TESTS

emulator-check: $(VENV)/.installed
	@[ "$(SKIP_EMULATOR_TESTS)" = 1 ] || $(BIN)/python -m ops.emulators check || { \
		echo "(or run make test SKIP_EMULATOR_TESTS=1 to skip the emulator tests on purpose)" >&2; exit 2; }

unit: $(VENV)/.installed emulator-check
	$(BIN)/python -m pytest

policy-test: $(POLICY_VENV)/.installed
	cd policy && .venv/bin/python -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) $(POLICY_VENV) .pytest_cache .mypy_cache .ruff_cache

## bench: benchmark the function as deployed (README "Performance"), e.g. make bench BENCH_FLAGS="--repeat 5"
BENCH_FLAGS ?=
.PHONY: bench
bench: $(VENV)/.installed
	$(BIN)/python -m bench $(BENCH_FLAGS)

## overload: simulate a burst of 10x the Vision quota and count dead letters (README "Reliability")
OVERLOAD_FLAGS ?=
.PHONY: overload
overload: $(VENV)/.installed
	$(BIN)/python -m bench.overload $(OVERLOAD_FLAGS)
	$(BIN)/python -m bench.overload_check

# ---- Deploy, preview, destroy (see README "Deploy") -------------------------------------------
# State lives in a local file backend under the repo (gitignored) unless BACKEND says otherwise,
# e.g. BACKEND=gs://my-state-bucket/ai-service. Secrets use the passphrase provider: export
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE. No Pulumi Cloud account is needed.
PULUMI ?= pulumi
STATE_DIR := $(CURDIR)/.pulumi-state
BACKEND ?= file://$(STATE_DIR)
PROJECT ?=
REGION ?=
PULUMI_FLAGS ?=

.PHONY: deploy preview destroy pulumi-stack pulumi-login

pulumi-login:
	@command -v $(PULUMI) >/dev/null || { echo "error: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)" >&2; exit 1; }
	@if [ -z "$${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then \
		echo "error: export PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (passphrase secrets provider)" >&2; exit 1; fi
	@if [[ "$(BACKEND)" == file://* ]]; then mkdir -p "$(patsubst file://%,%,$(BACKEND))"; fi
	$(PULUMI) login "$(BACKEND)"

## pulumi-stack: select STACK, creating it (passphrase secrets) on first use; set PROJECT/REGION if given
pulumi-stack: $(VENV)/.installed pulumi-login
	$(PULUMI) stack select --create --secrets-provider passphrase "$(STACK)"
	@if [ -n "$(PROJECT)" ]; then $(PULUMI) config set --stack "$(STACK)" gcp:project "$(PROJECT)"; fi
	@if [ -n "$(REGION)" ]; then $(PULUMI) config set --stack "$(STACK)" gcp:region "$(REGION)"; fi
	@$(PULUMI) config get --stack "$(STACK)" gcp:project >/dev/null 2>&1 || { \
		echo "error: gcp:project is not set for stack $(STACK): run make deploy STACK=$(STACK) PROJECT=<project-id>" >&2; exit 1; }

## deploy: create or update the whole stack (pulumi up), e.g. make deploy STACK=dev PROJECT=my-project
deploy: pulumi-stack
	$(PULUMI) up --stack "$(STACK)" $(PULUMI_FLAGS)

## preview: show what deploy would change, changing nothing
preview: pulumi-stack
	$(PULUMI) preview --stack "$(STACK)" --diff $(PULUMI_FLAGS)

## destroy: delete every resource of STACK (buckets must be empty unless forceDestroy is true)
destroy: $(VENV)/.installed pulumi-login
	$(PULUMI) stack select "$(STACK)"
	$(PULUMI) destroy --stack "$(STACK)" $(PULUMI_FLAGS)

# ---- Smoke test of a deployed stack (see README "Smoke test") -----------------------------------
SMOKE_TIMEOUT ?= 180
IMAGES ?=
SMOKE_FLAGS ?=

.PHONY: smoke

## smoke: label the sample images (or IMAGES="a.jpg b.png") through STACK and check every result
smoke: $(VENV)/.installed pulumi-login
	@outputs="$$($(PULUMI) stack output --json --stack "$(STACK)")"; \
	output() { $(BIN)/python -c 'import json, sys; o = json.loads(sys.argv[1]); n = sys.argv[2]; print(o[n]) if o.get(n) else sys.exit(f"error: stack $(STACK) has no output {n}: run make deploy first")' "$$outputs" "$$1"; }; \
	project="$$(output project)"; bucket="$$(output imagesBucket)"; \
	topic="$$(output newImageTopic)"; subscription="$$(output userServiceSubscription)"; \
	set -x; \
	$(BIN)/python -m ops.smoke --project "$$project" --bucket "$$bucket" --topic "$$topic" \
		--subscription "$$subscription" --timeout "$(SMOKE_TIMEOUT)" $(SMOKE_FLAGS) $(IMAGES)

# ---- Dead-letter redrive (see README "Reliability") ----------------------------------------------
REDRIVE_FLAGS ?=

.PHONY: redrive

## redrive: republish STACK's dead letters to user-service-new-image, e.g. REDRIVE_FLAGS="--dry-run"
redrive: $(VENV)/.installed pulumi-login
	@outputs="$$($(PULUMI) stack output --json --stack "$(STACK)")"; \
	set -x; \
	$(BIN)/python -m ops.redrive --outputs-json - $(REDRIVE_FLAGS) <<< "$$outputs"
