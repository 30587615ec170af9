"""seller_exports: each store's figures as files, after the marts, in the daily run.

The asset has a job of its own (``jobs.py``), run right after every successful ``refresh_all``
over the same partitions, by ``nexus run`` and, for the daemon's runs, by a run-status sensor.

For each store, as of the run's last partition day (or the store's last day with data, if earlier):
that day, the latest complete ISO week and the latest complete month, in the formats of
``NEXUS_EXPORT_FORMATS`` (default csv, json, xlsx, pdf), under
``$NEXUS_HOME/exports/<store>/<grain>/<period>/`` with a manifest per folder. Export folders older
than ``NEXUS_EXPORT_RETENTION_DAYS`` (default 90) are removed afterwards. A backfill of many days
exports the periods as of its last day; `nexus export` writes any other period on demand.
"""

import datetime as dt

import psycopg
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ...lib.exports import data
from ...lib.exports.exporter import daily_periods, export, prune
from ..analytics.attribution import CHANNEL_ATTRIBUTION_DAILY
from ..analytics.clv import CUSTOMER_LTV
from ..analytics.cohorts import COHORT_RETENTION
from ..analytics.tables import model
from ..automation import EXPORTS_GROUP
from ..partitions import daily_partitions, single_run_backfill, step_window
from ..resources import WarehouseResource

# the marts the export reads (``lib/exports/data.py``)
MARTS_READ = (
    "dim_store",
    "dim_product",
    "fct_period_comparison",
    "fct_daily_store_performance",
    "fct_daily_sales",
    "fct_inventory_health",
    "fct_returns",
    "fct_sku_return_profile",
    "fct_funnel_steps",
    "fct_orders_web",
)


# every asset the export reads: a refresh that materialized none of them changed nothing in it
EXPORT_INPUTS = (
    *(model(name) for name in MARTS_READ),
    COHORT_RETENTION.key,
    CHANNEL_ATTRIBUTION_DAILY.key,
    CUSTOMER_LTV.key,
)


@asset(
    key=["seller_exports"],
    group_name=EXPORTS_GROUP,
    description=(
        "Each store's latest complete day, ISO week and month as CSV, JSON, Excel and a PDF report "
        "under $NEXUS_HOME/exports/<store>/<grain>/<period>/, with a manifest (sha256, rows) per folder."
    ),
    partitions_def=daily_partitions,
    backfill_policy=single_run_backfill,
    deps=list(EXPORT_INPUTS),
    kinds={"python", "csv", "excel", "pdf"},
)
def seller_exports(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    settings = warehouse.settings
    window = step_window(context)
    with psycopg.connect(warehouse.url) as conn:
        known = data.stores(conn)
        spans = {store: data.data_span(conn, store) for store, _name, _currency in known}
    lines = []
    files = 0
    for store, _name, _currency in known:
        span = spans[store]
        if span is None:
            context.log.info(f"{store}: no sales data yet: nothing to export")
            continue
        first, last = span
        for period in daily_periods(min(window.end, last), first):
            result = export(
                warehouse.url,
                store,
                period,
                settings.export_formats,
                settings.exports_dir,
                analytics_schema=settings.analytics_schema,
            )
            files += len(result.files)
            lines.append(
                f"| {store} | {period.grain} | {period.label} | {len(result.files)} | `{result.folder}` |"
            )
    removed = prune(settings.exports_dir, settings.export_retention_days, dt.datetime.now(dt.UTC))
    for path in removed:
        context.log.info(f"removed an export older than {settings.export_retention_days} days: {path}")
    table = "| store | grain | period | files | folder |\n|---|---|---|---|---|\n" + "\n".join(lines)
    return MaterializeResult(
        metadata={
            "exports_dir": MetadataValue.path(str(settings.exports_dir)),
            "formats": ", ".join(settings.export_formats),
            "folders": len(lines),
            "files": files,
            "removed_old_exports": len(removed),
            "exports": MetadataValue.md(table if lines else "nothing exported (no store has sales data)"),
        }
    )
