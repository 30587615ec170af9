# NEXUS — each target does its own set-up from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format mutation test-property test-scale dev venv clean db-stop benchmark bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: generate the demo data set, start the embedded PostgreSQL, materialize every asset, print a summary
demo: $(STAMP)
	$(BIN)/nexus demo

## make lint: ruff (lint and format), mypy and sqlfluff; what `make test` runs first
lint: $(STAMP)
	$(BIN)/ruff check nexus_pipelines tests benchmarks tools
	$(BIN)/ruff format --check nexus_pipelines tests benchmarks tools
	$(BIN)/mypy
	cd dbt_project && ../$(BIN)/sqlfluff lint models --processes 2 --disable-progress-bar

## make format: apply ruff's fixes and formatting
format: $(STAMP)
	$(BIN)/ruff check --fix nexus_pipelines tests benchmarks tools
	$(BIN)/ruff format nexus_pipelines tests benchmarks tools

## make test: lint, then the whole test suite (integration tests on a real embedded PostgreSQL)
## with branch coverage, per package; fails under 90% (tool.coverage in pyproject.toml)
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q --cov --cov-report=term:skip-covered --cov-report=json:coverage.json --cov-fail-under=0
	$(BIN)/python tools/coverage_by_package.py coverage.json
	$(BIN)/coverage report --data-file=.coverage --format=total >/dev/null || { echo "coverage is under the threshold (tool.coverage.report.fail_under)"; exit 1; }

## make mutation: mutmut over lib/analytics, lib/formats and the loader against the fast tests; a score per module (~1 h on 2 cores)
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	$(BIN)/python tools/mutation.py run

## make test-property: the partial-runs invariant over many more seeded cases (NEXUS_PROPERTY_CASES, default 24; ~20 min)
test-property: $(STAMP)
	NEXUS_PROPERTY_CASES=$${NEXUS_PROPERTY_CASES:-24} $(BIN)/python -m pytest -n 2 --dist load -q tests/integration/test_partial_runs_property.py

## make test-scale: the whole job on dagster-celery (Redis broker, two worker processes) against an in-process run (~3 min; needs redis-server)
test-scale: $(STAMP)
	@command -v redis-server >/dev/null || { echo "redis-server is needed: apt-get install redis-server"; exit 2; }
	$(BIN)/python -m pip install --quiet -e '.[test,scale]'
	NEXUS_TEST_SCALE=1 $(BIN)/python -m pytest -q tests/scale

## make dev: the Dagster UI on http://localhost:3000 (instance stored in PostgreSQL)
dev: $(STAMP)
	$(BIN)/nexus dev

## make bench [SCALE=s|m|l|10m]: the daily-run figures next to their goals (not part of make test; m takes ~10 min)
SCALE ?= s
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench.py --scale $(SCALE)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

db-stop: $(STAMP)
	$(BIN)/nexus db stop

clean:
	-$(BIN)/nexus db stop
	rm -rf .nexus dbt_project/target dbt_project/logs
