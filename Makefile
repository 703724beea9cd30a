# KibaLock: `make demo` runs the main job, `make test` runs every test.
# Both bootstrap what they need (virtualenv, packages, model files, local services),
# idempotently; heavy downloads and builds are cached under ~/.cache/kibalock.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KL := $(VENV)/bin/kibalock
CACHE := $(HOME)/.cache/kibalock
export UV_CACHE_DIR ?= $(CACHE)/uv
export UV_LINK_MODE ?= hardlink
# Offline by construction: nothing may fetch weights from a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help venv models browser stack-up stack-down lint typecheck test test-unit test-integration demo bench clean

help:
	@echo "make demo   - start the stack, fetch models, run the demo flow"
	@echo "make test   - lint, type-check, unit + integration tests on a real local stack"
	@echo "make bench  - performance figures into out/bench"

# The tests train the face detector too, so development installs the `yolo` extra
# (ultralytics, AGPL-3.0); a plain `pip install kibalock` stays free of it. The same goes for
# the `dashboard` extra (Streamlit), which the demo and the dashboard's tests need.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "uv>=0.5,<1"
	$(VENV)/bin/uv pip install --python $(PY) --config-setting editable_mode=compat -e ".[dev,yolo,dashboard]"
	@touch $@

# The dashboard's browser test drives Debian's chromium; installed once, if missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

venv: $(VENV)/.installed

models: venv
	$(KL) models fetch

stack-up: venv
	$(KL) stack up

stack-down: venv
	$(KL) stack down

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy schemas core auth_gateway stream_processors producers trainer dashboard devstack bench kibalock_cli tests

test-unit: venv models
	$(PY) -m pytest tests/unit

test-integration: venv models browser stack-up
	$(PY) -m pytest tests/integration; rc=$$?; $(KL) stack down; exit $$rc

# The stack is stopped whatever the outcome, so no server outlives the run.
test: lint typecheck models browser stack-up
	@start=$$(date +%s); \
	$(PY) -m pytest tests; rc=$$?; \
	$(KL) stack down; \
	echo "make test: $$(( $$(date +%s) - start )) s of tests"; \
	exit $$rc

demo: models stack-up
	$(KL) demo

bench: models stack-up
	$(KL) bench --out out/bench; rc=$$?; $(KL) stack down; exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache out
