"""The export job, and what runs it right after every successful ``refresh_all``.

``refresh_all`` leaves ``seller_exports`` out (``automation.py`` says why); this job materializes
it over the same partitions once a refresh has succeeded:

* ``nexus run`` runs it in its own process after its refresh (``runner.py``), and tags its refresh
  so that the sensor leaves that run alone;
* for the runs the daemon launches (the schedules, the landing sensor, the UI), the run-status
  sensor ``exports_after_refresh`` requests it.

Both skip the export when the refresh materialized none of the assets the export reads and the
window's last day is exported already: a run over unchanged files stays a matter of seconds. A
failed refresh is not followed by an export (its marts may be half-built); `nexus export` writes
any period by hand.
"""

import datetime as dt
from collections.abc import Mapping

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SkipReason,
    define_asset_job,
    run_status_sensor,
)

from ...lib import windows
from ..automation import refresh_job
from ..partitions import first_partition_day, range_tags, window_of_tags
from .assets import EXPORT_INPUTS, seller_exports

EXPORT_JOB_NAME = "export_files"
AFTER_RUN_TAG = "nexus/after_run"  # the refresh run an export run follows
INLINE_TAG = "nexus/exports"  # "in process": the refresh's own process runs its export

export_job = define_asset_job(
    EXPORT_JOB_NAME,
    selection=AssetSelection.assets(seller_exports),
    description="seller_exports over the partitions of the refresh_all run it follows.",
    config={"execution": {"config": {"in_process": {}}}},
)


def materialized_keys(instance: DagsterInstance, run_id: str) -> set[AssetKey]:
    """The assets a run materialized."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=100_000
    )
    return {
        r.event_log_entry.dagster_event.asset_key
        for r in records.records
        if r.event_log_entry.dagster_event is not None
        and r.event_log_entry.dagster_event.asset_key is not None
    }


def export_window(
    instance: DagsterInstance, run_id: str, tags: Mapping[str, str], now: dt.datetime | None = None
) -> windows.Window | str:
    """The partitions to export after the refresh run ``run_id`` (or why there is nothing to do).

    The refresh run's own window; a run without partition tags exports the latest complete day.
    """
    window = window_of_tags(tags)
    if window is None:
        try:
            window = windows.lookback_window(first_partition_day(), 0, now)
        except windows.EmptyWindow as exc:
            return str(exc)
    if materialized_keys(instance, run_id) & set(EXPORT_INPUTS):
        return window
    done = instance.get_materialized_partitions(seller_exports.key)
    if window.keys[1] not in done:
        return window
    return f"nothing the exports read changed in run {run_id[:8]} and {window.end} is exported"


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[refresh_job],
    request_job=export_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="After each successful refresh_all the daemon ran, export its partitions' files.",
)
def exports_after_refresh(context: RunStatusSensorContext):
    run = context.dagster_run
    if run.tags.get(INLINE_TAG):
        return SkipReason(f"run {run.run_id[:8]} exports in its own process (nexus run)")
    window = export_window(context.instance, run.run_id, run.tags)
    if isinstance(window, str):
        return SkipReason(window)
    return RunRequest(
        run_key=f"exports-after-{run.run_id}",
        tags={**range_tags(window), AFTER_RUN_TAG: run.run_id},
    )
