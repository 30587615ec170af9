"""The export job follows a successful refresh: what it selects, when the sensor requests it and over
which partitions (an ephemeral Dagster instance; no database needed)."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    RunRequest,
    SkipReason,
    asset,
    build_run_status_sensor_context,
    define_asset_job,
)

from nexus_pipelines.definitions import defs
from nexus_pipelines.defs.exports.jobs import INLINE_TAG, export_window, exports_after_refresh
from nexus_pipelines.defs.partitions import RANGE_END_TAG, RANGE_START_TAG, daily_partitions

EXPORTS = AssetKey("seller_exports")


def test_refresh_all_leaves_the_exports_to_their_own_job_over_the_same_partitions():
    refresh = defs.resolve_job_def("refresh_all")
    exports = defs.resolve_job_def("export_files")
    refresh_keys = refresh.asset_layer.selected_asset_keys
    assert EXPORTS not in refresh_keys and AssetKey("fct_daily_sales") in refresh_keys
    assert exports.asset_layer.selected_asset_keys == {EXPORTS}
    assert exports.partitions_def == daily_partitions
    assert defs.resolve_assets_def(EXPORTS).partitions_def == daily_partitions
    # every asset the export reads is built by the refresh
    upstream = defs.resolve_asset_graph().get(EXPORTS).parent_keys
    assert AssetKey("fct_period_comparison") in upstream and upstream <= refresh_keys


def _finished_run(instance: DagsterInstance, key: str, tags: dict[str, str]):
    """A successful run on ``instance`` that materialized the asset ``key`` (a stand-in asset)."""

    @asset(key=key)
    def stand_in() -> None:
        return None

    job = define_asset_job("refresh_all", selection=[key])
    result = (
        Definitions(assets=[stand_in], jobs=[job])
        .resolve_job_def("refresh_all")
        .execute_in_process(instance=instance, tags=tags)
    )
    assert result.success
    return instance.get_run_by_id(result.run_id)


def export_sensor_tick(instance: DagsterInstance, run):
    """The export sensor evaluated on ``run``'s success, as the daemon evaluates it."""
    success = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_SUCCESS).records
    context = build_run_status_sensor_context(
        sensor_name="exports_after_refresh",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=success[0].event_log_entry.dagster_event,
    )
    return exports_after_refresh(context)


WINDOW_TAGS = {RANGE_START_TAG: "2026-03-02", RANGE_END_TAG: "2026-03-04"}


def test_a_refresh_that_rebuilt_a_mart_the_export_reads_is_exported_over_its_partitions():
    with DagsterInstance.ephemeral() as instance:
        run = _finished_run(instance, "fct_daily_sales", WINDOW_TAGS)
        # exported before: the rebuilt mart is exported again all the same
        instance.report_runless_asset_event(AssetMaterialization(EXPORTS, partition="2026-03-04"))
        request = export_sensor_tick(instance, run)
        assert isinstance(request, RunRequest)
        assert request.tags[RANGE_START_TAG] == "2026-03-02"
        assert request.tags[RANGE_END_TAG] == "2026-03-04"
        assert request.tags["nexus/after_run"] == run.run_id
        assert request.run_key == f"exports-after-{run.run_id}"


def test_a_refresh_that_changed_nothing_the_export_reads_exports_only_a_day_not_exported_yet():
    with DagsterInstance.ephemeral() as instance:
        run = _finished_run(instance, "raw__stores", WINDOW_TAGS)
        # never exported: the window is exported all the same
        assert isinstance(export_sensor_tick(instance, run), RunRequest)
        instance.report_runless_asset_event(AssetMaterialization(EXPORTS, partition="2026-03-04"))
        skip = export_sensor_tick(instance, run)
        assert isinstance(skip, SkipReason)
        assert "2026-03-04 is exported" in skip.skip_message


def test_the_sensor_leaves_a_run_that_exports_in_its_own_process_alone():
    with DagsterInstance.ephemeral() as instance:
        run = _finished_run(instance, "fct_daily_sales", {**WINDOW_TAGS, INLINE_TAG: "in process"})
        skip = export_sensor_tick(instance, run)
        assert isinstance(skip, SkipReason) and "own process" in skip.skip_message


@pytest.mark.parametrize("hour", [0, 23])
def test_a_run_without_partition_tags_exports_the_latest_complete_day(hour):
    with DagsterInstance.ephemeral() as instance:
        run = _finished_run(instance, "fct_daily_sales", {})
        now = dt.datetime(2026, 5, 10, hour, 30, tzinfo=dt.UTC)
        window = export_window(instance, run.run_id, run.tags, now)
        assert (window.start, window.end) == (dt.date(2026, 5, 9), dt.date(2026, 5, 9))
