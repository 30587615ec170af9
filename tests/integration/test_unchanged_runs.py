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

ANALYTICS_STEPS = {
    "channel_attribution",
    "clv_model",
    "cohort_retention",
    "customer_ltv",
    "experiment_results",
    "store_daily_summary",
    "user_engagement",
}


def test_unchanged_files_skip_the_builds_and_a_missing_mart_is_rebuilt(server_url, tmp_path):
    import datetime as dt

    with pipeline_run(
        server_url, tmp_path, start=dt.date(2026, 3, 1), days=3, stores=1, skus=5, users=120
    ) as run:
        instance: DagsterInstance = run["instance"]
        first = run["outcome"]
        assert first.success and not first.skipped_steps
        assert first.export_run_id is not None  # the export files followed the refresh
        before = tables(run["url"])

        again = run["run_window"](instance=instance, settings=load_settings())
        assert again.success
        assert set(again.skipped_steps) >= ANALYTICS_STEPS, again.skipped_steps
        logs = " ".join(e.user_message for e in instance.all_logs(again.run_id))
        assert logs.count("nothing to build") == 2  # both chains
        assert tables(run["url"]) == before
        # nothing the exports read changed, and the last day is exported: no export run
        assert again.export_run_id is None and "2026-03-03 is exported" in again.export_note

        with psycopg.connect(run["url"], autocommit=True) as conn:
            conn.execute("drop table marts.dim_store cascade")
        repaired = run["run_window"](instance=instance, settings=load_settings())
        assert repaired.success and "store_daily_summary" not in repaired.skipped_steps
        assert tables(run["url"]) == before


def check_results(instance, run_id: str) -> dict[str, bool]:
    from dagster import DagsterEventType

    return {
        e.dagster_event.asset_check_evaluation_data.check_name: e.dagster_event.asset_check_evaluation_data.passed
        for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    }


def _append_order(landing, day_file) -> None:
    lines = day_file.read_text(encoding="utf-8").splitlines()
    header, row = lines[0].split("\t"), lines[1].split("\t")
    row[header.index("amazon-order-id")] = "999-0000000-0000042"
    with day_file.open("a", encoding="utf-8") as out:
        out.write("\t".join(row) + "\n")


def test_daily_runs_test_the_rebuilt_dates_and_the_weekly_check_tests_every_row(server_url, tmp_path):
    import datetime as dt

    from nexus_pipelines.definitions import defs
    from nexus_pipelines.defs.partitions import range_tags
    from nexus_pipelines.lib.windows import Window

    with pipeline_run(
        server_url, tmp_path, start=dt.date(2026, 3, 1), days=4, stores=1, skus=6, users=150
    ) as run:
        instance, url = run["instance"], run["url"]
        assert run["outcome"].success
        # a bad row on the first day, which a run of the last day does not rebuild
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update marts.fct_daily_sales set sku = null where ctid = (select ctid from "
                "marts.fct_daily_sales where order_date = '2026-03-01' limit 1)"
            )
        last = max(run["landing"].glob("amazon/*/orders/2026-03-04.txt"))
        _append_order(run["landing"], last)
        daily = run["run_window"](
            dt.date(2026, 3, 4), dt.date(2026, 3, 4), instance=instance, settings=load_settings()
        )
        # the fact's own test looks at the rebuilt dates only and passes (the whole-rebuilt marts
        # downstream do carry the bad row, and their full tests catch it the same night)
        daily_checks = check_results(instance, daily.run_id)
        assert daily_checks["not_null_fct_daily_sales_sku"] is True
        assert "fct_sku_return_profile:not_null_fct_sku_return_profile_sku (ERROR)" in daily.failed_checks
        # the tests of the views read the whole history: not in the daily run, only in the weekly one
        view_test = "unique_stg_amazon__orders_order_line_id"
        assert view_test not in daily_checks
        assert "unique_int_returns_priced_return_id" not in daily_checks

        full = {"config": {"full_checks": True}}
        result = defs.resolve_job_def("refresh_all").execute_in_process(
            instance=instance,
            tags=range_tags(Window(dt.date(2026, 3, 4), dt.date(2026, 3, 4))),
            run_config={"ops": {"dbt_amazon": full, "dbt_product": full}},
            raise_on_error=False,
        )
        weekly_checks = check_results(instance, result.run_id)
        assert weekly_checks["not_null_fct_daily_sales_sku"] is False
        assert (
            weekly_checks[view_test] is True and weekly_checks["unique_int_returns_priced_return_id"] is True
        )
        assert not result.success
