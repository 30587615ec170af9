"""What each dbt model produced, in the metadata of its materialization in the Dagster UI.

``built_models`` turns a chain's dbt invocation into its Dagster events, those of the models built
with, besides what dagster-dbt always reports:

* ``dagster/row_count`` (tables and incremental models; not views, whose count would run their
  query) and ``dagster/column_schema`` (the column names and types in the warehouse), from
  dagster-dbt's own ``fetch_row_counts()`` / ``fetch_column_metadata()``, which query through the
  dbt adapter in a few threads; only the models' events go through them, not the data tests';
* ``date_range`` ("2026-03-01 .. 2026-08-27", or "empty") and ``date_column``: min and max of
  the model's date column, one query per table; the column is the first of ``DATE_COLUMNS``
  that the model's schema file types ``date``, else its first column typed ``date``;
* a chart of a few key marts (``CHARTS``), as a Markdown image.

The events are handed to Dagster once dbt has exited (its log still streams as it runs):
dagster-dbt's fetches wait for the next event in a loop that never sleeps (half a core each),
so fetching while dbt runs competes with dbt and PostgreSQL for the whole build: on two cores
the demo build of both chains took 41-101 s instead of 37-43 s. After dbt, the fetches, date
ranges and charts take 1-3 s a chain on the demo data.

Nothing here can fail a build: a query or chart that fails, or a mart with no row to chart, is
logged as a warning and the entry is left out; a build that failed reports what it built, then
fails as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import psycopg
from dagster import AssetMaterialization, MetadataValue, Output
from dagster_dbt import DbtCliInvocation
from dagster_dbt.core.dbt_event_iterator import DbtEventIterator

from ...lib.analytics.charts import to_markdown_image
from ...lib.warehouse import mart_charts
from ...lib.warehouse.connection import dbt_env

# The date columns that say which days a model covers, in order of preference.
DATE_COLUMNS = (
    "date_day",
    "order_date",
    "snapshot_date",
    "return_date",
    "session_date",
    "activity_date",
    "conversion_date",
    "week_start",
    "month_start",
    "period_start",
    "cohort_start",
    "window_start",
)
# model -> (metadata key, alt text, chart): each a query over the mart and a PNG (or None: no rows)
ChartFunction = Callable[[psycopg.Connection, str, str], bytes | None]
CHARTS: dict[str, tuple[str, str, ChartFunction]] = {
    "fct_daily_store_performance": (
        "sales_trend",
        "daily ordered product sales per store, last 90 days",
        mart_charts.sales_trend,
    ),
    "fct_inventory_health": (
        "inventory_cover",
        "days of supply per SKU at the latest snapshot, with the lead time",
        mart_charts.inventory_cover,
    ),
    "fct_returns_by_reason": ("return_reasons", "units returned by reason", mart_charts.return_reasons),
    "fct_funnel_steps": ("funnel", "users reaching each step of each funnel", mart_charts.funnel),
}
STATEMENT_TIMEOUT_MS = 60_000  # one metadata query may not hold the build longer than this

E = TypeVar("E")


def in_database(manifest: Mapping[str, Any], database: str) -> dict[str, Any]:
    """``manifest`` with every model, test and source in ``database``.

    The manifest is parsed once (``project.prepare``) with whatever database the profile named
    then, and its ``database`` and ``relation_name`` fields keep that name; dagster-dbt's row
    counts and column types query those relations, and PostgreSQL refuses a relation named in
    another database than the connection's ("cross-database references are not implemented")
    whenever a run's warehouse has another name (a test database, NEXUS_DATABASE_URL). dbt
    itself is not concerned: its invocation parses with the run's profile.
    """

    def moved(resource: Mapping[str, Any]) -> Mapping[str, Any]:
        old = resource.get("database")
        if not old or old == database:
            return resource
        relation = resource.get("relation_name")
        prefix = f'"{old}".'
        if isinstance(relation, str) and relation.startswith(prefix):
            quoted = database.replace('"', '""')
            relation = f'"{quoted}".' + relation[len(prefix) :]
        return {**resource, "database": database, "relation_name": relation}

    return {
        **manifest,
        "nodes": {uid: moved(node) for uid, node in manifest.get("nodes", {}).items()},
        "sources": {uid: moved(source) for uid, source in manifest.get("sources", {}).items()},
    }


def date_column(node: Mapping[str, Any]) -> str | None:
    """The column that dates a model's rows, from the types its schema file declares."""
    dated = [
        name
        for name, column in (node.get("columns") or {}).items()
        if str(column.get("data_type") or "").strip().lower() == "date"
    ]
    preferred = [name for name in DATE_COLUMNS if name in dated]
    return (preferred or dated or [None])[0]


def _unique_id(event: Output | AssetMaterialization) -> str | None:
    value = event.metadata.get("unique_id")
    text = getattr(value, "text", value)
    return text if isinstance(text, str) else None


class _Warehouse:
    """One autocommit connection for the invocation's metadata queries, opened on first use."""

    def __init__(self, url: str, warn: Callable[[str], None]):
        self.url, self.warn = url, warn
        self.conn: psycopg.Connection | None = None
        self.broken = False

    def connection(self) -> psycopg.Connection | None:
        if self.conn is None and not self.broken:
            try:
                self.conn = psycopg.connect(self.url, autocommit=True)
                self.conn.execute(
                    "select set_config('statement_timeout', %s, false)", (str(int(STATEMENT_TIMEOUT_MS)),)
                )
            except Exception as error:
                self.broken = True
                self.warn(
                    f"dbt model metadata: cannot connect to the warehouse ({error}); no date ranges or charts"
                )
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def model_metadata(
    conn: psycopg.Connection, node: Mapping[str, Any], warn: Callable[[str], None]
) -> dict[str, MetadataValue]:
    """``date_range`` / ``date_column`` and the chart of one built model (what can be had of them)."""
    if node.get("config", {}).get("materialized") == "view":
        return {}
    schema, table = node["schema"], node.get("alias") or node["name"]
    name = node["name"]
    metadata: dict[str, MetadataValue] = {}
    column = date_column(node)
    if column:
        try:
            first, last = mart_charts.date_range(conn, schema, table, column)
        except Exception as error:  # nor is a date range
            warn(f"{name}: date range of {column} not reported: {type(error).__name__}: {error}")
        else:
            covered = f"{first} .. {last}" if first is not None and last is not None else "empty"
            metadata["date_range"] = MetadataValue.text(covered)
            metadata["date_column"] = MetadataValue.text(column)
    if name in CHARTS:
        key, alt, draw = CHARTS[name]
        try:
            png = draw(conn, schema, table)
        except Exception as error:  # a chart is never worth a failed build
            warn(f"{name}: chart {key} not drawn: {type(error).__name__}: {error}")
        else:
            if png is None:
                warn(f"{name}: chart {key} not drawn: no rows to chart")
            else:
                metadata[key] = MetadataValue.md(to_markdown_image(png, alt))
    return metadata


def with_model_metadata(
    events: Iterable[E], manifest: Mapping[str, Any], url: str, warn: Callable[[str], None]
) -> Iterator[E]:
    """``events`` (dagster-dbt's stream), each model's materialization with ``model_metadata`` added."""
    nodes = manifest.get("nodes", {})
    warehouse = _Warehouse(url, warn)
    try:
        for event in events:
            if isinstance(event, Output | AssetMaterialization):
                node = nodes.get(_unique_id(event) or "")
                conn = warehouse.connection() if node and node.get("resource_type") == "model" else None
                if node and conn is not None:
                    extra = model_metadata(conn, node, warn)
                    if extra:
                        event = event.with_metadata({**event.metadata, **extra})  # type: ignore[assignment]
            yield event
    finally:
        warehouse.close()


def built_models(invocation: DbtCliInvocation, url: str, warn: Callable[[str], None]) -> Iterator[Any]:
    """The invocation's Dagster events once dbt has exited, each model's with its metadata added."""
    # the relations of the run's warehouse, for the row counts and column types
    invocation.manifest = in_database(invocation.manifest, dbt_env(url)["NEXUS_PG_DATABASE"])
    events: list[Any] = []
    failure: Exception | None = None
    try:
        for event in invocation.stream():
            events.append(event)
    except Exception as error:  # dbt failed: report what it built, then fail
        failure = error
    built = [event for event in events if isinstance(event, Output | AssetMaterialization)]
    counted = iter(
        DbtEventIterator(iter(built), invocation)
        .fetch_row_counts()
        .fetch_column_metadata(with_column_lineage=False)
    )
    in_order = (
        next(counted) if isinstance(event, Output | AssetMaterialization) else event for event in events
    )
    yield from with_model_metadata(in_order, invocation.manifest, url, warn)
    if failure is not None:
        raise failure
