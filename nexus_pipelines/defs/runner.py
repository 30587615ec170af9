"""Materialize every asset for a window of daily partitions in one in-process run.

Used by `nexus run` / `nexus demo` and by the integration tests. The window defaults to every
partition that has landing files; it is clipped to the partition range.

Before the run starts, runs of this instance left STARTED by a process that no longer exists
(killed, power loss) are marked failed; after it, a failed run is recorded in
``ops.run_failures`` with the underlying error of every failed step.
"""


import datetime as dt
import os
import socket
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from ..lib.config import Settings, load_settings
from ..lib.formats import SOURCES
from ..lib.landing import partition_dates
from ..lib.warehouse.connection import warehouse_url
from ..lib.warehouse.roles import ensure_bi_reader
from ..lib.warehouse.run_failures import record_run_failure
from .automation import range_tags
from .progress import describe_error, progress_logger

PID_TAG = "nexus/pid"
HOST_TAG = "nexus/host"


class NothingToRun(Exception):
    pass


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


def resolve_window(settings: Settings, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    if start is None or end is None:
        dates = partition_dates(list(SOURCES.values()), settings.landing_dir)
        if not dates:
            raise NothingToRun(
                f"no landing files in {settings.landing_dir}: drop seller reports there "
                "(see README, 'Landing folder') or run `nexus generate`"
            )
        start = start or dates[0]
        end = end or dates[-1]
    start = max(start, settings.partitions_start)
    last_partition = dt.date.today() - dt.timedelta(days=1)
    end = min(end, last_partition)
    if end < start:
        raise NothingToRun(f"empty window {start} .. {end} (partitions run from {settings.partitions_start} to {last_partition})")
    return start, end


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
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING,
                                                  DagsterRunStatus.CANCELING]))
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


def run_window(start: dt.date | None = None, end: dt.date | None = None, *, force: bool = False,
               instance: DagsterInstance | None = None, settings: Settings | None = None,
               raise_on_error: bool = False) -> RunOutcome:
    from ..definitions import defs

    settings = settings or load_settings()
    start, end = resolve_window(settings, start, end)
    instance = instance or DagsterInstance.get()
    url = warehouse_url(settings)
    swept = sweep_dead_runs(instance, url)
    job = defs.resolve_job_def("refresh_all").with_logger_defs({"console": progress_logger})
    # naming a logger in run_config makes Dagster use the job's loggers instead of its default console
    run_config = {"loggers": {"console": {}}}
    if force:
        run_config["ops"] = {f"raw__{name}": {"config": {"force": True}} for name in SOURCES}
    tags = {**range_tags(start, end), PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    result = job.execute_in_process(run_config=run_config, instance=instance, tags=tags,
                                    raise_on_error=raise_on_error)
    errors = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE and event.step_key:
            error = event.step_failure_data.error if event.step_failure_data else None
            errors[event.step_key] = describe_error(error) if error else "(no error message)"
    failed = list(errors)
    failed_checks = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            if not data.passed:
                failed_checks.append(f"{data.asset_key.to_user_string()}:{data.check_name} ({data.severity.value})")
    if not result.success:
        message = "; ".join(f"{step}: {text.splitlines()[0] if text else ''}" for step, text in errors.items())
        record_run_failure(url, result.run_id, "refresh_all", message or "run failed", tags)
    ensure_bi_reader(url)
    return RunOutcome(result.success, result.run_id, start, end, failed, errors, swept, failed_checks)
