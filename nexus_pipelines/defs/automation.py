"""Jobs, the nightly schedule, the landing-file sensor and the run-failure sensor.

Partition windows are requested with Dagster's range tags, so a window of N days is one run:
each raw asset loads the window's files and dbt rebuilds the window in one invocation. A window in
which no landing file is dated is not run (the tick skips and says so, as `nexus run` does): the run
would load nothing and mark those partitions materialized. Windows are clipped to the partitions of
the definitions loaded in this process (``partitions.first_partition_day``).
"""

import datetime as dt

import psycopg
from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
    schedule,
    sensor,
)

from ..lib import windows
from ..lib.config import load_settings
from ..lib.formats import SOURCES
from ..lib.landing import files_for, no_landing_files_message, partition_dates
from ..lib.warehouse.connection import scalar, warehouse_url
from ..lib.warehouse.run_failures import record_run_failure
from .partitions import first_partition_day, range_tags

# The export files are written by a job of their own, right after each successful refresh_all
# (``exports/jobs.py``): inside refresh_all, a run in which one dbt chain fails while the other has
# nothing to build never ends in Dagster 1.13's in-process executor (dagster-io/dagster#33661: a
# step due to be skipped once its last upstream step is abandoned is never handled).
EXPORTS_GROUP = "exports"

refresh_job = define_asset_job(
    "refresh_all",
    selection=AssetSelection.all() - AssetSelection.groups(EXPORTS_GROUP),
    description="Every asset but the export files: raw loads for the run's partition window, the "
    "dbt chains (the dates the loads changed) and the analytics; a successful run is followed by a "
    "run of seller_exports over the same partitions.",
    # in process by default, also for runs the daemon launches: on 2 cores the multiprocess executor
    # is 3.6x slower (benchmarks/bench_executors.py); a run config may still choose multiprocess
    config={"execution": {"config": {"in_process": {}}}},
)


def _tick_window(context: ScheduleEvaluationContext) -> windows.Window | SkipReason:
    """The latest complete day at the tick and the lookback days before it (or why there is none:
    no partition has ended yet, or no landing file is dated in the window)."""
    settings = load_settings()
    try:
        window = windows.lookback_window(
            first_partition_day(),
            settings.lookback_days,
            context.scheduled_execution_time or windows.utc_now(),
        )
    except windows.EmptyWindow as exc:
        return SkipReason(str(exc))
    if not partition_dates(SOURCES.values(), settings.landing_dir, window.start, window.end):
        return SkipReason(no_landing_files_message(window.start, window.end))
    return window


@schedule(
    job=refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every morning at 06:00 UTC: refresh yesterday's partition and the lookback days before it.",
)
def daily_refresh_schedule(context: ScheduleEvaluationContext):
    window = _tick_window(context)
    if isinstance(window, SkipReason):
        return window
    return RunRequest(run_key=f"daily-{window.end}", tags=range_tags(window))


@schedule(
    job=refresh_job,
    cron_schedule="0 7 * * 0",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Sundays at 07:00 UTC: the nightly refresh's window, with every dbt data test over "
    "every row (the nightly runs test the rebuilt dates of the incremental facts only).",
)
def weekly_full_checks(context: ScheduleEvaluationContext):
    window = _tick_window(context)
    if isinstance(window, SkipReason):
        return window
    full = {"config": {"full_checks": True}}
    return RunRequest(
        run_key=f"weekly-{window.end}",
        tags=range_tags(window),
        run_config={"ops": {"dbt_amazon": full, "dbt_product": full}},
    )


def changed_partition_dates(
    landing_dir, since_mtime_ns: int, loaded_at: dict[str, float] | None = None
) -> tuple[list[dt.date], int]:
    """Partition dates of landing files modified after ``since_mtime_ns``, and the newest mtime seen.

    ``loaded_at`` (relative path -> epoch seconds of its last successful load) skips files that were
    already loaded after their last change, e.g. by `nexus run` before the sensor first ticked.
    """
    newest = since_mtime_ns
    loaded_at = loaded_at or {}
    dates: set[dt.date] = set()
    for spec in SOURCES.values():
        if not spec.partitioned:
            continue
        for file in files_for(spec, landing_dir):
            mtime = file.path.stat().st_mtime_ns
            if mtime > since_mtime_ns:
                newest = max(newest, mtime)
                if file.partition_date is not None and loaded_at.get(file.relative_path, 0.0) * 1e9 < mtime:
                    dates.add(file.partition_date)
    return sorted(dates), newest


def last_successful_loads(url: str) -> dict[str, float]:
    """relative path -> epoch seconds of the start of its latest successful load (empty before any load)."""
    with psycopg.connect(url) as conn:
        if scalar(conn, "select to_regclass('ops.load_manifest')") is None:
            return {}
        rows = conn.execute(
            "select file_path, extract(epoch from max(started_at)) from ops.load_manifest "
            "where status = 'loaded' group by file_path"
        ).fetchall()
    return {path: float(epoch) for path, epoch in rows}


@sensor(
    job=refresh_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Notices new or changed landing files and requests one run over their partitions.",
)
def landing_file_sensor(context: SensorEvaluationContext):
    settings = load_settings()
    since = int(context.cursor or 0)
    dates, newest = changed_partition_dates(
        settings.landing_dir, since, last_successful_loads(warehouse_url(settings))
    )
    if not dates:
        context.update_cursor(str(newest))
        return SkipReason(f"no new landing files in {settings.landing_dir}")
    first, latest = first_partition_day(), windows.latest_complete_day(windows.utc_now())
    inside = [d for d in dates if first <= d <= latest]
    early = [d for d in dates if d < first]
    # Without NEXUS_PARTITIONS_START the partitions start at the earliest landing file when the
    # definitions load: a file dated earlier is new since then, and runs once they are reloaded.
    # Until then the cursor stays, so that tick still sees it (its run key differs: a new window).
    wait_for_reload = bool(early) and settings.partitions_start_override is None
    if not wait_for_reload:
        context.update_cursor(str(newest))
    if not inside:
        if wait_for_reload:
            return SkipReason(
                f"new files dated {early[0]} .. {early[-1]} are before the first partition ({first}): "
                "reload the definitions (UI: Deployment > Reload) to extend the partitions back to them"
            )
        return SkipReason(
            f"new files are outside the partition range: no partition in {dates[0]} .. {dates[-1]}: "
            f"partitions run from {first} to {latest} (the last complete UTC day)"
        )
    # only the dates of new files inside the partitions: never a long window around none of them
    window = windows.Window(inside[0], inside[-1])
    return RunRequest(run_key=f"landing-{newest}-{window.start}-{window.end}", tags=range_tags(window))


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Records every failed run in ops.run_failures for alerting and BI.",
)
def record_run_failures(context: RunFailureSensorContext):
    record_run_failure(
        warehouse_url(load_settings()),
        context.dagster_run.run_id,
        context.dagster_run.job_name,
        context.failure_event.message or "",
        dict(context.dagster_run.tags),
    )
