"""`nexus run` as a thin front over the job the UI, the schedule and the sensor launch.

One in-process run of ``refresh_all`` over a window of daily partitions, with Dagster's range tags
(the same request the schedule and the sensor make) and Dagster's default loggers. The window
defaults to every partition that has landing files and is clipped by the rule of
``lib/windows.py``; a window in which no landing file is dated launches no run (``NoLandingFiles``),
as the schedule skips such a window. Whatever a run must do (DDL, ANALYZE, the BI role's grants) happens inside the
assets, so every path does it; this module adds only what belongs to a process that runs in the
foreground:

* before the run, runs of this instance left STARTED by a process that no longer exists (killed,
  power loss) are marked failed;
* after a successful run, the export job over the same partitions (``exports/jobs.py``; the
  daemon's runs get theirs from a run-status sensor);
* during the run, ``on_line`` receives a compact view of the run's events (``progress.py``);
* after a failed run, the failure is recorded in ``ops.run_failures`` with the underlying error of
  every failed step (the run-failure sensor does this for runs launched by the daemon).
"""

import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from ..lib import windows
from ..lib.config import Settings, load_settings
from ..lib.formats import SOURCES
from ..lib.landing import no_landing_files_message, partition_dates
from ..lib.quality.validate import build_data_docs
from ..lib.warehouse.connection import warehouse_url
from ..lib.warehouse.run_failures import record_run_failure
from .partitions import first_partition_day, range_tags
from .progress import EventFollower, describe_error

PID_TAG = "nexus/pid"
HOST_TAG = "nexus/host"
JOB_NAME = "refresh_all"


class NothingToRun(Exception):
    """No run: the landing folder is empty, or the window lies outside the partitions (an error)."""


class NoLandingFiles(NothingToRun):
    """No run: no landing file is dated inside the window asked for (nothing to do, not an error)."""


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    run_id: str
    start: dt.date
    end: dt.date
    failed_steps: list[str]
    errors: dict[str, str] = field(default_factory=dict)  # step key -> underlying error
    swept_runs: list[str] = field(default_factory=list)  # dead runs marked failed before this one
    failed_checks: list[str] = field(default_factory=list)  # "asset:check (severity)" that did not pass
    skipped_steps: list[str] = field(
        default_factory=list
    )  # steps with nothing to do (nothing upstream changed)
    passed_checks: list[str] = field(default_factory=list)  # "asset:check" that passed
    export_run_id: str | None = None  # the export_files run that followed a successful refresh
    export_note: str = ""  # why no export run followed (nothing changed, the refresh failed)


def resolve_window(
    settings: Settings,
    start: dt.date | None,
    end: dt.date | None,
    now: dt.datetime | None = None,
    *,
    partitions_start: dt.date | None = None,
) -> windows.Window:
    """The window asked for (a missing bound: the first or last date with landing files), clipped to
    the partitions (from ``partitions_start``, default ``settings.partitions_start``).

    Raises ``NothingToRun`` when the landing folder has no dated file or the window lies outside the
    partitions, and ``NoLandingFiles`` (a ``NothingToRun``) when no landing file is dated inside it:
    a run would load nothing, rebuild for minutes and mark those partitions materialized.
    """
    first_day = partitions_start or settings.partitions_start
    specs = list(SOURCES.values())
    lo, hi = start, end
    if lo is None or hi is None:
        dates = partition_dates(specs, settings.landing_dir)
        if not dates:
            raise NothingToRun(
                f"no landing files in {settings.landing_dir}: drop seller reports there "
                "(see README, 'Landing folder') or run `nexus generate`"
            )
        lo, hi = lo or dates[0], hi or dates[-1]
        if hi < lo:  # one bound given, beyond every landing file
            raise NoLandingFiles(no_landing_files_message(start, end))
    try:
        window = windows.clip(lo, hi, first_day, now)
    except windows.EmptyWindow as exc:
        raise NothingToRun(str(exc)) from None
    if partition_dates(specs, settings.landing_dir, window.start, window.end):
        return window
    message = no_landing_files_message(start, end)
    outside = partition_dates(specs, settings.landing_dir, start, end)  # of the window as asked
    if not outside:
        raise NoLandingFiles(message)
    where = (
        f"the landing files dated {outside[0]} .. {outside[-1]} lie outside the partitions "
        f"({first_day} to {windows.latest_complete_day(now)}, the last complete UTC day)"
    )
    if start is None and end is None:  # the files' own window: no file lies in a partition
        raise NothingToRun(f"no landing files inside the partitions: {where}")
    raise NoLandingFiles(f"{message} inside the partitions ({window}): {where}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_dead_runs(instance: DagsterInstance, url: str | None = None) -> list[str]:
    """Mark failed every run that `nexus run` started on this host whose process is gone."""
    swept = []
    runs = instance.get_runs(
        RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING])
    )
    host = socket.gethostname()
    for run in runs:
        pid = run.tags.get(PID_TAG)
        if not pid or run.tags.get(HOST_TAG) != host or not pid.isdigit() or _process_alive(int(pid)):
            continue
        message = f"the process {pid} that ran it on {host} ended without finishing it (killed or crashed)"
        instance.report_run_failed(run, message)
        if url:
            record_run_failure(url, run.run_id, run.job_name, message, dict(run.tags))
        swept.append(run.run_id)
    return swept


def run_config(*, force: bool = False, quiet: bool = False) -> dict:
    """Run config of a `nexus run`: force a reload through the warehouse resource; quiet console logs."""
    config: dict = {}
    if force:
        config["resources"] = {"warehouse": {"config": {"force_reload": True}}}
    if quiet:  # Dagster's default console logger, at warnings and above
        config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
    return config


def run_window(
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    force: bool = False,
    instance: DagsterInstance | None = None,
    settings: Settings | None = None,
    raise_on_error: bool = False,
    on_line: Callable[[str], None] | None = None,
    on_tick: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run ``refresh_all`` over the window in this process and, once it succeeded, the export job
    over the same partitions; ``on_line`` gets the compact view of both, ``on_tick`` their one-line
    progress every half second (with ``on_line`` only)."""
    from ..definitions import defs

    settings = settings or load_settings()
    window = resolve_window(settings, start, end, partitions_start=first_partition_day())
    instance = instance or DagsterInstance.get()
    # A run writes hundreds of event-log rows; Dagster's PostgreSQL storage opens a new connection
    # for each statement unless told to keep a small pool open, as its webserver does.
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    url = warehouse_url(settings)
    swept = sweep_dead_runs(instance, url)
    from .exports.jobs import AFTER_RUN_TAG, EXPORT_JOB_NAME, INLINE_TAG, export_window

    process_tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    tags = {**range_tags(window), **process_tags, INLINE_TAG: "in process"}
    config = run_config(force=force, quiet=on_line is not None)

    def execute(job_name: str, run_tags: dict[str, str], run_config: dict):
        job, run_id = defs.resolve_job_def(job_name), str(uuid.uuid4())
        follow = (
            EventFollower(instance, run_id, on_line, on_tick=on_tick)
            if on_line is not None
            else contextlib.nullcontext()
        )
        with follow:
            return job.execute_in_process(
                run_config=run_config,
                instance=instance,
                tags=run_tags,
                run_id=run_id,
                raise_on_error=raise_on_error,
            )

    result = execute(JOB_NAME, tags, config)
    results = [(JOB_NAME, result, tags)]
    export_run_id, export_note = None, ""
    if result.success:  # the export files follow a successful refresh (``exports/jobs.py``)
        to_export = export_window(instance, result.run_id, tags)
        if isinstance(to_export, str):
            export_note = to_export
        else:
            export_tags = {**range_tags(to_export), **process_tags, AFTER_RUN_TAG: result.run_id}
            export_config = {k: v for k, v in config.items() if k == "loggers"}
            exported = execute(EXPORT_JOB_NAME, export_tags, export_config)
            results.append((EXPORT_JOB_NAME, exported, export_tags))
            export_run_id = exported.run_id
    else:
        export_note = "no export after a failed run (`nexus export` writes any period)"
    build_data_docs(settings.home)  # the daemon's runs get theirs from the run-status sensors
    errors, failed_checks, skipped, passed_checks = {}, [], [], []
    for job_name, job_result, run_tags in results:
        job_errors = {}
        for event in job_result.all_events:
            if event.event_type == DagsterEventType.STEP_FAILURE and event.step_key:
                error = event.step_failure_data.error if event.step_failure_data else None
                job_errors[event.step_key] = describe_error(error) if error else "(no error message)"
            elif event.event_type == DagsterEventType.STEP_SKIPPED and event.step_key:
                skipped.append(event.step_key)
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                data = event.asset_check_evaluation_data
                if data.passed:
                    passed_checks.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
                else:
                    failed_checks.append(
                        f"{data.asset_key.to_user_string()}:{data.check_name} ({data.severity.value})"
                    )
        if not job_result.success:
            message = "; ".join(
                f"{step}: {text.splitlines()[0] if text else ''}" for step, text in job_errors.items()
            )
            record_run_failure(url, job_result.run_id, job_name, message or "run failed", run_tags)
        errors.update(job_errors)
    return RunOutcome(
        all(job_result.success for _name, job_result, _tags in results),
        result.run_id,
        window.start,
        window.end,
        list(errors),
        errors,
        swept,
        failed_checks,
        skipped,
        passed_checks,
        export_run_id,
        export_note,
    )


def refresh_job():
    """The job, loadable by name in another process (``reconstructable(refresh_job)``), e.g. for the
    multiprocess executor, whose steps each run in their own process."""
    from ..definitions import defs

    return defs.resolve_job_def(JOB_NAME)
