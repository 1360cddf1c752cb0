# rg-import developer tasks. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test demo lint fmt bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("rg-import needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install rg-import with its dev tools

# -n auto: one test process per core (pytest-xdist); PYTEST_ARGS="-n 0" runs them in one.
test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

# rg-import exits 3 when some rows are rejected, which the sample files have on purpose.
RUN_SAMPLE = $(BIN)/rg-import run --sandbox

demo: $(STAMP)  ## import the sample Follow Up Boss export into the embedded sandbox
	@rm -rf rg-import-sandbox
	@echo "== 1. People: every valid row becomes a lead =="
	@$(RUN_SAMPLE) sample_data/followupboss_people.csv --mapping followupboss || [ $$? -eq 3 ]
	@echo
	@echo "== 2. Notes, linked to those people through the ledger =="
	@$(RUN_SAMPLE) sample_data/followupboss_notes.csv --mapping followupboss_notes || [ $$? -eq 3 ]
	@echo
	@echo "== 3. People again: nothing changed, so nothing is sent =="
	@$(RUN_SAMPLE) sample_data/followupboss_people.csv --mapping followupboss || [ $$? -eq 3 ]
	@echo
	@echo "Each run wrote report.html beside its report.json (counts as a chart, reasons, requests)."
	@echo "Open the last one in a browser: $$(ls -t rg-import-runs/*/report.html | head -n 1)"

lint: $(STAMP)  ## ruff check, ruff format --check and mypy (CI runs this before the tests)
	$(BIN)/ruff check importer tests bench sample_data
	$(BIN)/ruff format --check importer tests bench sample_data
	$(BIN)/mypy

fmt: $(STAMP)  ## format the code with ruff
	$(BIN)/ruff format importer tests bench sample_data

bench: $(STAMP)  ## measure plan and send throughput; writes bench/results.json
	$(BIN)/python bench/run.py

clean:  ## remove the virtualenv, caches and run outputs
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis rg-import-runs
