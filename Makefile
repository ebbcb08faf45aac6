# Flexplan: two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := results

.PHONY: demo test test-fast test-large lint install clean-results real

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

SCENARIOS := $(basename $(notdir $(wildcard scenarios/*.yaml)))
HOST ?= 127.0.0.1
PORT ?= 5000

## demo: create the venv, install, run the scenarios and serve them on the map app
demo: $(STAMP)
	@for s in $(SCENARIOS); do \
	  $(BIN)/flexplan run scenarios/$$s.yaml --out $(OUT)/$$s/demo || exit 1; \
	done
	@echo "Standalone report: file://$(abspath $(OUT)/default/demo/report.html)"
	@echo "Map app: http://$(HOST):$(PORT)/  (Ctrl+C stops it)"
	$(BIN)/flexplan serve --host $(HOST) --port $(PORT) --data $(OUT) --scenarios scenarios

## test: lint and the whole test suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## test-fast: the quick set (no slow, real-data or browser tests)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not realdata and not browser"

## test-large: the OR-Library capa/capb/capc cases (about 30 minutes; not part of `make test`)
test-large: $(STAMP)
	$(BIN)/python -m pytest -m large

## real: import ../shared/data and run the real-data scenarios (Ede, province Utrecht)
real: $(STAMP)
	$(BIN)/python scenarios/real/prepare.py
	$(BIN)/flexplan run scenarios/real/ede.yaml --out $(OUT)/real/ede
	$(BIN)/flexplan run scenarios/real/utrecht.yaml --out $(OUT)/real/utrecht

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check planner geodata tests

clean-results:
	rm -rf $(OUT)
