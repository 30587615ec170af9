"""store_daily_summary: the pattern every Python asset follows — SQL aggregate in, pandas maths, COPY out."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, multi_asset

from ...lib.analytics.store_summary import SUMMARY_SQL, daily_store_summary
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource
from .metadata import preview
from .tables import Table, analytics_schema, model, render

STORE_DAILY_SUMMARY = Table(
    "store_daily_summary",
    {
        "store_id": "text",
        "day": "date",
        "sales": "double precision",
        "units": "bigint",
        "orders": "bigint",
        "sales_7d": "double precision",
        "units_7d": "double precision",
        "sales_7d_prev": "double precision",
        "sales_wow_pct": "double precision",
    },
    "Per store and day: sales, units, orders, trailing 7-day sales and week-over-week change.",
    indexes=(("store_id", "day"),),
)


@multi_asset(
    specs=[STORE_DAILY_SUMMARY.spec([model("fct_daily_sales"), model("fct_daily_store_performance")])],
    name="store_daily_summary",
)
def store_daily_summary(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    daily = read_frame(warehouse.url, render(SUMMARY_SQL))
    summary = daily_store_summary(daily)[list(STORE_DAILY_SUMMARY.columns)]
    rows = replace_table(
        warehouse.url,
        analytics_schema(),
        STORE_DAILY_SUMMARY.name,
        summary,
        STORE_DAILY_SUMMARY.columns,
        indexes=STORE_DAILY_SUMMARY.indexes,
    )
    latest = summary.sort_values("day").groupby("store_id").tail(1)
    return MaterializeResult(
        metadata={
            "row_count": rows,
            "date_range": f"{summary['day'].min()} .. {summary['day'].max()}" if rows else "empty",
            "latest": preview(latest) if rows else MetadataValue.md("no data"),
        }
    )
