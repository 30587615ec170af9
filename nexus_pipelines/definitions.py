"""Root Definitions, assembled from defs/ (one folder per domain)."""

from dagster import Definitions

from .defs.analytics import analytics_assets, analytics_checks
from .defs.automation import (
    daily_refresh_schedule,
    landing_file_sensor,
    record_run_failures,
    refresh_job,
    weekly_full_checks,
)
from .defs.dbt.assets import dbt_asset_definitions
from .defs.exports import export_assets, export_job, exports_after_refresh
from .defs.ingestion.assets import raw_assets
from .defs.ingestion.checks import raw_asset_checks
from .defs.ingestion.freshness import freshness_checks, mart_freshness_sensor
from .defs.quality import data_docs_after_failure, data_docs_after_success, quality_checks
from .defs.resources import build_resources

defs = Definitions(
    assets=[*raw_assets, *dbt_asset_definitions, *analytics_assets, *export_assets],
    asset_checks=[*raw_asset_checks, *freshness_checks, *analytics_checks, *quality_checks],
    jobs=[refresh_job, export_job],
    schedules=[daily_refresh_schedule, weekly_full_checks],
    sensors=[
        landing_file_sensor,
        record_run_failures,
        exports_after_refresh,
        data_docs_after_success,
        data_docs_after_failure,
        mart_freshness_sensor,
    ],
    resources=build_resources(),
)
