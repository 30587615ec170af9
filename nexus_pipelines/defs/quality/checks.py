"""Each expectation suite of ``lib/quality/suites.py`` as two asset checks on its table.

* ``gx_critical`` (blocking, ERROR): every ``critical`` expectation holds on the run's window, so a
  bad load stops the dbt chain that reads the table, and a bad mart stops the analytics on it,
  while the other chain and its analytics still run;
* ``gx_warning`` (WARN, not blocking): the ``warning`` expectations.

Both come from one validation of the suite (one GX checkpoint run), with the unexpected count, a
sample of the failing rows (file and line for raw tables, the key for marts) and the observed
value of every expectation that failed in their metadata.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from ...lib.quality.suites import CRITICAL, MART_SUITES, RAW_SUITES, WARNING, Suite
from ...lib.quality.validate import ExpectationOutcome, SuiteOutcome, data_docs_index, validate
from ..analytics.tables import model
from ..partitions import window_of_run
from ..resources import WarehouseResource

CHECK_NAMES = {CRITICAL: "gx_critical", WARNING: "gx_warning"}


def asset_key_of(suite: Suite) -> AssetKey:
    if suite.schema == "raw":
        return AssetKey(["raw", suite.table])
    return model(suite.table)


def _failure_lines(failures: list[ExpectationOutcome]) -> str:
    lines = []
    for f in failures:
        count = (
            "error"
            if f.error
            else f"{f.unexpected_count if f.unexpected_count is not None else '?'} unexpected"
        )
        line = f"- **{f.description}** (`{f.label}`): {count}"
        if f.error:
            line += f": {f.error}"
        elif f.observed is not None and f.unexpected_count is None:
            line += f", observed {f.observed}"
        if f.sample:
            line += "\n" + "\n".join(f"  - {_describe_row(row)}" for row in f.sample[:5])
        lines.append(line)
    return "\n".join(lines) or "none"


def _describe_row(row: dict) -> str:
    if "_source_file" in row and "_row_number" in row:
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("_source_file", "_row_number"))
        return f"{row['_source_file']}, line {row['_row_number']}: {rest}"
    return ", ".join(f"{k}={v}" for k, v in row.items())


def check_result(
    suite: Suite, key: AssetKey, outcome: SuiteOutcome, severity: str, docs: str
) -> AssetCheckResult:
    results = outcome.of(severity)
    failures = outcome.failures(severity)
    rows = max((r.element_count or 0 for r in results), default=0)
    return AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAMES[severity],
        passed=not failures,
        severity=AssetCheckSeverity.ERROR if severity == CRITICAL else AssetCheckSeverity.WARN,
        description=(
            f"{len(failures)} of {len(results)} {severity} expectations failed: "
            + "; ".join(f.description for f in failures[:3])
            if failures
            else None
        ),
        metadata={
            "suite": suite.name,
            "window": f"{outcome.window[0]} .. {outcome.window[1]}" if outcome.window else "every row",
            "rows_validated": rows,
            "expectations": len(results),
            "failed_expectations": len(failures),
            "unexpected_rows": sum(f.unexpected_count or 0 for f in failures),
            "failures": MetadataValue.md(_failure_lines(failures)),
            "failed_details": MetadataValue.json(
                [
                    {
                        "expectation": f.label,
                        "description": f.description,
                        "unexpected_count": f.unexpected_count,
                        "observed_value": f.observed,
                        "sample": f.sample,
                        "error": f.error,
                    }
                    for f in failures
                ]
            ),
            "seconds": round(outcome.seconds, 2),
            "data_docs": MetadataValue.path(docs),
        },
    )


def build_suite_checks(suite: Suite) -> AssetChecksDefinition:
    key = asset_key_of(suite)
    critical = sum(1 for e in suite.expectations if e.severity == CRITICAL) + len(suite.column_types)
    warning = sum(1 for e in suite.expectations if e.severity == WARNING)

    @multi_asset_check(
        specs=[
            AssetCheckSpec(
                CHECK_NAMES[CRITICAL],
                asset=key,
                blocking=True,
                description=f"Great Expectations suite {suite.name}: {critical} critical expectations "
                "(keys, nulls, ranges, plausible dates, column types); blocks downstream assets.",
            ),
            AssetCheckSpec(
                CHECK_NAMES[WARNING],
                asset=key,
                description=f"Great Expectations suite {suite.name}: {warning} warning expectations "
                "(allowed values, identities, row-count drift); warns only.",
            ),
        ],
        name=f"gx_{suite.schema}_{suite.table}",
    )
    def _checks(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        window = window_of_run(context) if suite.window_column else None
        span = (window.start, window.end) if window else None
        outcome = validate(warehouse.url, suite, warehouse.settings.home, span)
        docs = str(data_docs_index(warehouse.settings.home))
        for severity in (CRITICAL, WARNING):
            failures = outcome.failures(severity)
            if failures:
                context.log.warning(
                    f"{suite.name}: {severity} expectations failed:\n{_failure_lines(failures)}"
                )
            yield check_result(suite, key, outcome, severity, docs)

    return _checks


quality_checks = [build_suite_checks(suite) for suite in (*RAW_SUITES, *MART_SUITES)]
