"""store_daily_summary: the pattern every Python asset follows — SQL aggregate in, pandas maths, COPY out."""


from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from ...lib.analytics.store_summary import SUMMARY_SQL, daily_store_summary
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource


@asset(
    group_name="analytics",
    deps=[AssetKey(["fct_daily_sales"])],
    kinds={"python", "postgres"},
    description="Per store and day: sales, units, orders, trailing 7-day sales and week-over-week change. "
    "Table analytics.store_daily_summary.",
)
def store_daily_summary(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    daily = read_frame(warehouse.url, SUMMARY_SQL)
    summary = daily_store_summary(daily)
    rows = replace_table(
        warehouse.url, "analytics", "store_daily_summary", summary,
        {"store_id": "text", "day": "date", "units": "bigint", "orders": "bigint"},
    )
    latest = summary.sort_values("day").groupby("store_id").tail(1)
    return MaterializeResult(
        metadata={
            "row_count": rows,
            "date_range": f"{summary['day'].min()} .. {summary['day'].max()}" if rows else "empty",
            "latest": MetadataValue.md(latest.to_markdown(index=False) if rows else "no data"),
        }
    )
