# perpvault: one entry point per job. Make sets PATH for its own recipes, so the virtualenv's
# vyper/ape and the native anvil binary are found without editing your shell PATH.
# `make venv` also builds .venv/halmos (halmos + solvers, their own pins); `make anvil` installs
# the npm tools: Anvil and forge (used by `perpvault prove` for formal/).

PYTHON ?= python3.11
VENV   := .venv
NPM    ?= npm

# @foundry-rs/anvil ships one binary package per platform: anvil-<os>-<arch>.
UNAME_S := $(shell uname -s | tr '[:upper:]' '[:lower:]')
UNAME_M := $(shell uname -m)
ANVIL_ARCH := $(if $(filter x86_64 amd64,$(UNAME_M)),amd64,$(if $(filter aarch64 arm64,$(UNAME_M)),arm64,$(UNAME_M)))
ANVIL_BIN_DIR := $(CURDIR)/node_modules/@foundry-rs/anvil-$(UNAME_S)-$(ANVIL_ARCH)/bin
FORGE_BIN_DIR := $(CURDIR)/node_modules/@foundry-rs/forge-$(UNAME_S)-$(ANVIL_ARCH)/bin

export PATH := $(CURDIR)/$(VENV)/bin:$(ANVIL_BIN_DIR):$(PATH)

# Stamps live inside the directories they describe: deleting the directory re-runs the step.
VENV_STAMP  := $(VENV)/.perpvault-installed
ANVIL_STAMP := node_modules/.perpvault-installed
# halmos pins rich<14.1 and z3-solver 4.12.6, which eth-ape and the z3 proofs cannot share.
HALMOS_VENV  := $(VENV)/halmos
HALMOS_STAMP := $(HALMOS_VENV)/.perpvault-installed

.PHONY: venv anvil demo test test-quick clean distclean

venv: $(VENV_STAMP) $(HALMOS_STAMP)

# plugins/ape-perpvault: the project's ape plugin (puts its Anvil and vyper on PATH when ape
# starts, so `ape run deploy`, `ape console` and `ape test` need no PATH changes).
$(VENV_STAMP): requirements.txt pyproject.toml plugins/ape-perpvault/pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -e . -e ./plugins/ape-perpvault
	touch $@

$(HALMOS_STAMP): formal/requirements-halmos.txt
	test -x $(HALMOS_VENV)/bin/python || $(PYTHON) -m venv $(HALMOS_VENV)
	$(HALMOS_VENV)/bin/python -m pip install --quiet -r formal/requirements-halmos.txt
	touch $@

anvil: $(ANVIL_STAMP)

$(ANVIL_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	test -x $(ANVIL_BIN_DIR)/anvil || { echo "no anvil binary in $(ANVIL_BIN_DIR)" >&2; exit 1; }
	test -x $(FORGE_BIN_DIR)/forge || { echo "no forge binary in $(FORGE_BIN_DIR)" >&2; exit 1; }
	touch $@

demo: venv anvil
	$(VENV)/bin/perpvault demo

test: venv anvil
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q tests

# The quick loop (under 5 minutes on 2 cores): lint, the unit and waterfall tests and a short
# differential fuzz run. `make test` stays the full suite that CI runs.
test-quick: venv anvil
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q tests/unit tests/waterfall
	$(VENV)/bin/perpvault fuzz --steps 2000 --seed 1

clean:
	rm -rf .build out .pytest_cache .hypothesis build *.egg-info formal/out formal/cache formal/build
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
