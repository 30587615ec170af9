"""cohort_retention: weekly and monthly cohort retention of active users (analytics.cohort_retention)."""

from typing import Literal

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset

from ...lib.analytics.charts import heatmap_png
from ...lib.analytics.cohorts import retention_matrix, to_wide
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource
from .metadata import chart, table_metadata
from .queries import load_sql
from .tables import Table, analytics_schema, model

PERIOD_GRAINS: tuple[Literal["week", "month"], ...] = ("week", "month")
MODES: tuple[Literal["first_time", "recurring"], ...] = ("first_time", "recurring")
COLUMN_TYPES = {
    "period_grain": "text",
    "mode": "text",
    "cohort_start": "date",
    "period_offset": "integer",
    "period_start": "date",
    "cohort_size": "bigint",
    "retained": "bigint",
    "retention_rate": "double precision",
    "churn_rate": "double precision",
    "period_churn": "double precision",
    "is_complete": "boolean",
}
COHORT_RETENTION = Table(
    "cohort_retention",
    COLUMN_TYPES,
    "Cohort retention of stitched users by first-activity (first_time) or any-activity "
    "(recurring) week and month, offsets 0..periods.",
    indexes=(("cohort_start",),),
)


class CohortRetentionConfig(Config):
    periods: int = 12  # largest period offset reported (weeks or months after the cohort period)


def retention_long(activity: pd.DataFrame, periods: int) -> pd.DataFrame:
    """Every grain x mode of retention_matrix stacked in one long frame."""
    frames = []
    for grain in PERIOD_GRAINS:
        for mode in MODES:
            matrix = retention_matrix(
                activity,
                period=grain,
                mode=mode,
                periods=periods,
                user_col="user_key",
                time_col="session_date",
            )
            frames.append(matrix.assign(period_grain=grain, mode=mode))
    return pd.concat(frames, ignore_index=True)[list(COLUMN_TYPES)]


@multi_asset(specs=[COHORT_RETENTION.spec([model("fct_sessions")])], name="cohort_retention")
def cohort_retention(
    context: AssetExecutionContext, config: CohortRetentionConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    activity = read_frame(warehouse.url, load_sql("cohort_activity"))
    table = retention_long(activity, config.periods)
    rows = replace_table(
        warehouse.url,
        analytics_schema(),
        COHORT_RETENTION.name,
        table,
        COHORT_RETENTION.columns,
        indexes=COHORT_RETENTION.indexes,
    )
    weekly = table[(table["period_grain"] == "week") & (table["mode"] == "first_time")]
    context.log.info(f"cohort_retention: {len(activity)} user-days -> {rows} rows")
    png = heatmap_png(
        to_wide(weekly) if len(weekly) else pd.DataFrame(), "Weekly retention (first-time cohorts)"
    )
    return MaterializeResult(
        metadata={
            **table_metadata(table, rows, "cohort_start"),
            "users": MetadataValue.int(int(activity["user_key"].nunique()) if len(activity) else 0),
            "weekly_first_time_retention": chart(png, "weekly first-time retention heatmap"),
        }
    )
