"""The shared daily partitions: one partition per landing-file date (UTC calendar days)."""

import warnings

from dagster import BackfillPolicy, BetaWarning, DailyPartitionsDefinition

from ..lib.config import load_settings

daily_partitions = DailyPartitionsDefinition(start_date=load_settings().partitions_start.isoformat())

# Single-run backfills are the intended design here (one dbt invocation per step: dbt costs ~3 s per start);
# the parameter is marked beta in Dagster, which is known and accepted.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")

# A backfill of N days runs as one run: one COPY pass per file and one dbt invocation.
single_run_backfill = BackfillPolicy.single_run()
