"""user_engagement: a 0-100 engagement score for every user with sessions (analytics.user_engagement)."""

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset

from ...lib.analytics.charts import bar_png
from ...lib.analytics.engagement import engagement_score
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource
from .metadata import chart, table_metadata
from .queries import load_sql
from .tables import Table, analytics_schema, model

COLUMN_TYPES = {
    "user_key": "text",
    "is_identified": "boolean",
    "first_session_date": "date",
    "last_session_date": "date",
    "reference_date": "date",
    "sessions": "integer",
    "sessions_30d": "integer",
    "days_since_last_session": "integer",
    "avg_page_views": "double precision",
    "recency_rank": "double precision",
    "frequency_rank": "double precision",
    "depth_rank": "double precision",
    "engagement_score": "double precision",
    "engagement_tier": "text",
}
USER_ENGAGEMENT = Table(
    "user_engagement",
    COLUMN_TYPES,
    "Engagement score 0-100 per stitched user with sessions: weighted percentile ranks of recency, "
    "sessions in the last 30 days and page views per session.",
    indexes=(("user_key",),),
)
TIERS = ("high", "medium", "low")


class EngagementConfig(Config):
    window_days: int = 30  # sessions_30d counts the sessions of this many days up to the reference day


@multi_asset(specs=[USER_ENGAGEMENT.spec([model("fct_sessions")])], name="user_engagement")
def user_engagement(
    context: AssetExecutionContext, config: EngagementConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    if config.window_days < 1:
        raise ValueError("window_days must be >= 1")
    inputs = read_frame(warehouse.url, load_sql("engagement_inputs"), {"window_days": config.window_days})
    scored = (
        engagement_score(inputs)[list(COLUMN_TYPES)]
        if len(inputs)
        else inputs.reindex(columns=list(COLUMN_TYPES))
    )
    rows = replace_table(
        warehouse.url,
        analytics_schema(),
        USER_ENGAGEMENT.name,
        scored,
        USER_ENGAGEMENT.columns,
        indexes=USER_ENGAGEMENT.indexes,
    )
    per_tier = scored["engagement_tier"].value_counts().reindex(list(TIERS), fill_value=0)
    png = bar_png(list(TIERS), [int(v) for v in per_tier], "Users per engagement tier", xlabel="tier")
    context.log.info(f"user_engagement: {rows} users scored")
    return MaterializeResult(
        metadata={
            **table_metadata(scored, rows, "last_session_date"),
            "mean_score": MetadataValue.float(
                round(float(scored["engagement_score"].mean()), 2) if rows else 0.0
            ),
            "users_per_tier": chart(png, "users per engagement tier"),
        }
    )
