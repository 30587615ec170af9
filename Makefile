# NEXUS — each target does its own set-up from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test dev venv clean db-stop benchmark

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: generate the demo data set, start the embedded PostgreSQL, materialize every asset, print a summary
demo: $(STAMP)
	$(BIN)/nexus demo

## make test: the whole test suite, integration tests on a real embedded PostgreSQL
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

## make dev: the Dagster UI on http://localhost:3000 (instance stored in PostgreSQL)
dev: $(STAMP)
	$(BIN)/nexus dev

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

db-stop: $(STAMP)
	$(BIN)/nexus db stop

clean:
	-$(BIN)/nexus db stop
	rm -rf .nexus dbt_project/target dbt_project/logs
