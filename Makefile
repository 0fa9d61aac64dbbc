# perpvault: one entry point per job. Make sets PATH for its own recipes, so the virtualenv's
# vyper/ape and the native anvil binary are found without editing your shell PATH.

PYTHON ?= python3.11
VENV   := .venv
NPM    ?= npm

# @foundry-rs/anvil ships one binary package per platform: anvil-<os>-<arch>.
UNAME_S := $(shell uname -s | tr '[:upper:]' '[:lower:]')
UNAME_M := $(shell uname -m)
ANVIL_ARCH := $(if $(filter x86_64 amd64,$(UNAME_M)),amd64,$(if $(filter aarch64 arm64,$(UNAME_M)),arm64,$(UNAME_M)))
ANVIL_BIN_DIR := $(CURDIR)/node_modules/@foundry-rs/anvil-$(UNAME_S)-$(ANVIL_ARCH)/bin

export PATH := $(CURDIR)/$(VENV)/bin:$(ANVIL_BIN_DIR):$(PATH)

# Stamps live inside the directories they describe: deleting the directory re-runs the step.
VENV_STAMP  := $(VENV)/.perpvault-installed
ANVIL_STAMP := node_modules/.perpvault-installed

.PHONY: venv anvil demo test clean distclean

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -e .
	touch $@

anvil: $(ANVIL_STAMP)

$(ANVIL_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	test -x $(ANVIL_BIN_DIR)/anvil || { echo "no anvil binary in $(ANVIL_BIN_DIR)" >&2; exit 1; }
	touch $@

demo: venv anvil
	$(VENV)/bin/perpvault demo

test: venv anvil
	$(VENV)/bin/python -m pytest -q tests

clean:
	rm -rf .build out .pytest_cache .hypothesis build *.egg-info
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
