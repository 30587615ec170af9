"""A run over unchanged files does nothing, and still repairs what is missing.

One instance (so the chains see the previous run), a small generated landing folder:

1. a full run builds everything;
2. the same window again: the loads find every file unchanged, neither dbt chain starts dbt,
   Dagster skips every analytics step, and every table is as it was;
3. a mart dropped by hand: the next run of the unchanged files rebuilds it.
"""

from __future__ import annotations

import psycopg
from dagster import DagsterInstance

from nexus_pipelines.lib.config import load_settings

from .pipeline_runner import pipeline_run
from .test_run_paths import tables

ANALYTICS_STEPS = {"channel_attribution", "clv_model", "cohort_retention", "customer_ltv", "experiment_results",
                   "store_daily_summary", "user_engagement"}


def test_unchanged_files_skip_the_builds_and_a_missing_mart_is_rebuilt(server_url, tmp_path):
    import datetime as dt

    with pipeline_run(server_url, tmp_path, start=dt.date(2026, 3, 1), days=3, stores=1, skus=5, users=120) as run:
        instance: DagsterInstance = run["instance"]
        first = run["outcome"]
        assert first.success and not first.skipped_steps
        before = tables(run["url"])

        again = run["run_window"](instance=instance, settings=load_settings())
        assert again.success
        assert ANALYTICS_STEPS <= set(again.skipped_steps), again.skipped_steps
        logs = " ".join(e.user_message for e in instance.all_logs(again.run_id))
        assert logs.count("nothing to build") == 2  # both chains
        assert tables(run["url"]) == before

        with psycopg.connect(run["url"], autocommit=True) as conn:
            conn.execute("drop table marts.dim_store cascade")
        repaired = run["run_window"](instance=instance, settings=load_settings())
        assert repaired.success and "store_daily_summary" not in repaired.skipped_steps
        assert tables(run["url"]) == before
