"""Run an expectation suite in PostgreSQL with Great Expectations and keep its Data Docs.

The suites of ``suites.py`` become GX suites in a file-backed GX project at ``$NEXUS_HOME/gx``
(``great_expectations.yml``, the suites, the validation results and the Data Docs site under
``gx/uncommitted/data_docs/local_site/``). Each validation runs through GX's SQL data source:
the window's rows are a query asset (``select * from <table> where <date column> between …``),
so GX computes every metric in PostgreSQL and no table is read into pandas; column types are read
from the table asset (catalog only, no rows). The checkpoint stores the result; ``build_data_docs``
renders the Data Docs from the stored results once a run ends.

The connection string reaches GX as the config variable ``${NEXUS_GX_WAREHOUSE_URL}``, so no
password is written into ``great_expectations.yml``. A file lock keeps runs that share a
``NEXUS_HOME`` from writing the GX project at the same time.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ..files import private_dir
from .suites import CRITICAL, Expect, Suite

URL_VARIABLE = "NEXUS_GX_WAREHOUSE_URL"
DATASOURCE = "warehouse"
SAMPLE_ROWS = 10
KEEP_RESULTS_DAYS = 30  # validation results (and their Data Docs pages) older than this are removed


@dataclass(frozen=True)
class ExpectationOutcome:
    label: str
    description: str
    severity: str
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: Any = None
    sample: list[dict[str, Any]] = field(default_factory=list)  # failing rows: file, line and value
    error: str | None = None  # the expectation could not be evaluated (GX raised)


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    window: tuple[dt.date, dt.date] | None
    results: list[ExpectationOutcome]
    seconds: float

    def failures(self, severity: str) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.severity == severity and not r.success]

    def of(self, severity: str) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.severity == severity]


def gx_dir(home: Path) -> Path:
    return home / "gx"


def data_docs_index(home: Path) -> Path:
    """The Data Docs start page (exists after the first validation)."""
    return gx_dir(home) / "uncommitted" / "data_docs" / "local_site" / "index.html"


def sqlalchemy_url(url: str) -> str:
    """The warehouse URL (or key=value conninfo) as a SQLAlchemy psycopg 3 URL, socket dirs kept."""
    from sqlalchemy.engine import URL

    params = {key: str(value) for key, value in conninfo_to_dict(url).items() if value is not None}
    host = params.pop("host", None)
    query: dict[str, str] = {}
    if host and host.startswith("/"):
        query["host"] = host  # a unix socket directory: SQLAlchemy passes it through as a parameter
        host = None
    port = params.pop("port", None)
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "options", "application_name"):
        if key in params:
            query[key] = str(params.pop(key))
    return URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=host,
        port=int(port) if port else None,
        database=params.get("dbname"),
        query=query,
    ).render_as_string(hide_password=False)


@contextmanager
def _project_lock(root: Path) -> Iterator[None]:
    private_dir(root)
    with open(root / ".nexus.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def window_query(suite: Suite, window: tuple[dt.date, dt.date] | None) -> str:
    """The rows a suite validates: the window's, on its date column, or the whole table.

    A row without a date belongs to every window: otherwise ``not_null`` on the date column could
    never fail in a partitioned run.
    """
    table = f"{_quote(suite.schema)}.{_quote(suite.table)}"
    if window is None or suite.window_column is None:
        return f"select * from {table}"
    start, end = (d.isoformat() for d in window)  # dates, formatted by us: safe literals
    column = _quote(suite.window_column)
    return f"select * from {table} where {column} between date '{start}' and date '{end}' or {column} is null"


def _gx_expectation(gxe: Any, expect: Expect) -> Any:
    cls = getattr(gxe, expect.kind)
    return cls(
        **expect.kwargs,
        severity=expect.severity,
        description=expect.description,
        meta={"label": expect.label},
    )


def suite_fingerprint(suite: Suite) -> str:
    """A hash of the suite's definition: a stored GX suite with the same hash is reused as it is."""
    return hashlib.sha256(repr(suite).encode()).hexdigest()[:16]


def gx_suites(suite: Suite) -> tuple[Any, Any]:
    """The two GX suites of a table: its rows (``<name>``) and its column types (``<name>.columns``)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    meta = {"notes": suite.description, "nexus_fingerprint": suite_fingerprint(suite)}
    rows = gx.ExpectationSuite(
        name=suite.name, expectations=[_gx_expectation(gxe, e) for e in suite.expectations], meta=meta
    )
    types = [
        gxe.ExpectColumnValuesToBeOfType(
            column=column,
            type_=type_,
            severity=FailureSeverity.CRITICAL,
            description=f"{column} is {type_}",
            meta={"label": f"ExpectColumnValuesToBeOfType({column})"},
        )
        for column, type_ in suite.column_types.items()
    ]
    columns = gx.ExpectationSuite(name=f"{suite.name}.columns", expectations=types, meta=meta)
    return rows, columns


def _stored_suites(context: Any, suite: Suite) -> tuple[Any, Any]:
    """The table's GX suites from the project, (re)written only when their definition changed."""
    fingerprint = suite_fingerprint(suite)
    stored = []
    for name in (suite.name, f"{suite.name}.columns"):
        try:
            found = context.suites.get(name)
        except Exception:  # not stored yet (GX raises its own not-found errors)
            found = None
        stored.append(found)
    if all(s is not None and (s.meta or {}).get("nexus_fingerprint") == fingerprint for s in stored):
        return stored[0], stored[1]
    rows, columns = gx_suites(suite)
    return context.suites.add_or_update(rows), context.suites.add_or_update(columns)


def validate(url: str, suite: Suite, home: Path, window: tuple[dt.date, dt.date] | None) -> SuiteOutcome:
    """Validate ``suite`` on the window's rows (every row when ``window`` is None)."""
    began = time.monotonic()
    root = gx_dir(home)
    with _project_lock(root):
        os.environ[URL_VARIABLE] = sqlalchemy_url(url)
        result = _run_checkpoint(home, suite, window)
        _prune_results(root)
    outcomes = [_outcome(r) for run in result.run_results.values() for r in run.results]
    outcomes = _with_samples(url, suite, window, outcomes)
    return SuiteOutcome(suite.name, window, outcomes, time.monotonic() - began)


def _with_samples(
    url: str, suite: Suite, window: tuple[dt.date, dt.date] | None, outcomes: list[ExpectationOutcome]
) -> list[ExpectationOutcome]:
    """Failing rows for the expectations GX's SUMMARY result names none of.

    GX returns row ids for single-column expectations only; for SQL rules and compound keys the
    first rows are read here (``LIMIT``), only when the expectation failed. The SUMMARY format is
    kept because COMPLETE would carry every unexpected value of a column rule.
    """
    by_label = {e.label: e for e in suite.expectations}
    missing = [
        o for o in outcomes if not o.success and not o.sample and o.error is None and o.label in by_label
    ]
    if not missing:
        return outcomes
    rows = _window_relation(suite, window)
    found: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for outcome in missing:
            expect = by_label[outcome.label]
            if expect.kind == "UnexpectedRowsExpectation":
                rule = sql.SQL(expect.kwargs["unexpected_rows_query"]).format(batch=rows)
                query = sql.SQL("select * from ({}) as u limit %s").format(rule)
            elif expect.kind == "ExpectCompoundColumnsToBeUnique":
                columns = expect.kwargs["column_list"]
                key = sql.SQL(", ").join(map(sql.Identifier, columns))
                ids = sql.SQL(", ").join(map(sql.Identifier, dict.fromkeys((*suite.row_id, *columns))))
                query = sql.SQL(
                    "select {ids} from {rows} where ({key}) in "
                    "(select {key} from {rows} group by {key} having count(*) > 1) order by {key} limit %s"
                ).format(ids=ids, rows=rows, key=key)
            else:
                continue
            cursor = conn.execute(query, (SAMPLE_ROWS,))
            names = [c.name for c in cursor.description or []]
            found[outcome.label] = [_jsonable(dict(zip(names, r, strict=True))) for r in cursor.fetchall()]
    return [replace(o, sample=found[o.label]) if o.label in found else o for o in outcomes]


def _window_relation(suite: Suite, window: tuple[dt.date, dt.date] | None) -> sql.Composable:
    """The rows of ``window_query`` as a psycopg relation (``{batch}`` of the SQL rules)."""
    table = sql.Identifier(suite.schema, suite.table)
    if window is None or suite.window_column is None:
        return sql.SQL("(select * from {}) as batch_rows").format(table)
    column = sql.Identifier(suite.window_column)
    return sql.SQL("(select * from {t} where {c} between {s} and {e} or {c} is null) as batch_rows").format(
        t=table, c=column, s=sql.Literal(window[0]), e=sql.Literal(window[1])
    )


def _empty_config_variables(home: Path) -> None:
    """GX re-reads uncommitted/config_variables.yml on nearly every lookup of its configuration (some
    800 times per suite), and its template is a page of YAML comments; the project keeps no
    variables there (the warehouse URL is an environment variable), so an empty mapping is enough
    and makes a validation about a fifth faster."""
    variables = gx_dir(home) / "uncommitted" / "config_variables.yml"
    if variables.exists() and variables.read_text() != "{}\n":
        variables.write_text("{}\n")


def _run_checkpoint(home: Path, suite: Suite, window: tuple[dt.date, dt.date] | None) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage events from GX, ever
    # GX would rather have the schema in the connection's search_path; a table asset names it.
    warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(home))
    _empty_config_variables(home)
    if context.config.analytics_enabled is not False:
        context.enable_analytics(False)  # a self-hosted warehouse's validations stay on this machine
    bars = context.variables.progress_bars
    if (bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)) is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()
    try:
        source: Any = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        source = context.data_sources.add_sql(DATASOURCE, connection_string="${" + URL_VARIABLE + "}")
    names = {asset.name for asset in source.assets}
    table_asset_name, window_asset_name = suite.name, f"{suite.name} window"
    if table_asset_name not in names:
        source.add_table_asset(table_asset_name, table_name=suite.table, schema_name=suite.schema)
    if window_asset_name in names:
        source.delete_asset(window_asset_name)
    window_asset = source.add_query_asset(window_asset_name, query=window_query(suite, window))
    table_asset = source.get_asset(table_asset_name)
    if "table" in {batch.name for batch in table_asset.batch_definitions}:
        table_batch = table_asset.get_batch_definition("table")
    else:
        table_batch = table_asset.add_batch_definition_whole_table("table")
    window_batch = window_asset.add_batch_definition_whole_table("window")

    rows_suite, columns_suite = _stored_suites(context, suite)
    definitions = [
        context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{suite.name} columns", data=table_batch, suite=columns_suite)
        ),
        context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{suite.name} rows", data=window_batch, suite=rows_suite)
        ),
    ]
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=definitions,
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": list(suite.row_id),
                "partial_unexpected_count": SAMPLE_ROWS,
            },
        )
    )
    return checkpoint.run()


def build_data_docs(home: Path) -> Path | None:
    """Render the Data Docs site from the stored validation results; None before any validation."""
    root = gx_dir(home)
    if not (root / "great_expectations.yml").exists():
        return None
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    with _project_lock(root):
        context = gx.get_context(mode="file", project_root_dir=str(home))
        context.build_data_docs()
    return data_docs_index(home)


def _outcome(result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    details = result.result or {}
    label = (config.meta or {}).get("label") or config.type
    error = _exception_message(result.exception_info or {})
    sample = details.get("partial_unexpected_index_list") or []
    if not sample:
        sample = (details.get("details") or {}).get("unexpected_rows") or []
    unexpected = details.get("unexpected_count")
    if unexpected is None and config.type == "unexpected_rows_expectation":
        unexpected = details.get("observed_value")
    return ExpectationOutcome(
        label=label,
        description=config.description or label,
        severity=str(getattr(config.severity, "value", config.severity) or CRITICAL),
        success=bool(result.success) and error is None,
        unexpected_count=unexpected,
        element_count=details.get("element_count"),
        observed=details.get("observed_value"),
        sample=[_jsonable(row) for row in sample[:SAMPLE_ROWS]],
        error=error,
    )


def _exception_message(info: dict[str, Any]) -> str | None:
    """GX reports an expectation that raised either flat or keyed by the failing metric."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or value.get("exception_message")):
            return str(value.get("exception_message")).splitlines()[0]
    return None


def _jsonable(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        return {"value": str(row)}
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in row.items()}


def _prune_results(root: Path) -> None:
    cutoff = time.time() - KEEP_RESULTS_DAYS * 86400
    for folder in (
        root / "uncommitted" / "validations",
        root / "uncommitted" / "data_docs" / "local_site" / "validations",
    ):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith(".") and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
