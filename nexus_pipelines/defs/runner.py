"""Materialize every asset for a window of daily partitions in one in-process run.

Used by `nexus run` / `nexus demo` and by the integration tests. The window defaults to every
partition that has landing files; it is clipped to the partition range.
"""


import datetime as dt
from dataclasses import dataclass

from dagster import DagsterInstance

from ..lib.config import Settings, load_settings
from ..lib.formats import SOURCES
from ..lib.landing import partition_dates
from ..lib.warehouse.connection import warehouse_url
from ..lib.warehouse.roles import ensure_bi_reader
from .automation import range_tags
from .progress import progress_logger


class NothingToRun(Exception):
    pass


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    run_id: str
    start: dt.date
    end: dt.date
    failed_steps: list[str]


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


def run_window(start: dt.date | None = None, end: dt.date | None = None, *, force: bool = False,
               instance: DagsterInstance | None = None, settings: Settings | None = None,
               raise_on_error: bool = False) -> RunOutcome:
    from ..definitions import defs

    settings = settings or load_settings()
    start, end = resolve_window(settings, start, end)
    job = defs.resolve_job_def("refresh_all").with_logger_defs({"console": progress_logger})
    # naming a logger in run_config makes Dagster use the job's loggers instead of its default console
    run_config = {"loggers": {"console": {}}}
    if force:
        run_config["ops"] = {f"raw__{name}": {"config": {"force": True}} for name in SOURCES}
    result = job.execute_in_process(
        run_config=run_config,
        instance=instance or DagsterInstance.get(),
        tags=range_tags(start, end),
        raise_on_error=raise_on_error,
    )
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    ensure_bi_reader(warehouse_url(settings))
    return RunOutcome(result.success, result.run_id, start, end, failed)
