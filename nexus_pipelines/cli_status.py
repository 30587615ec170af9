"""`nexus status`: how fresh the data is and how the last run went.

* every raw source per store: last load (the newest successful file load in
  ``ops.load_manifest``), last partition, age and status (``lib/freshness.py``; the JSON also has
  the files loaded and their rows);
* the key marts: last build (their latest materialization in the Dagster instance) and status;
* the last run in the Dagster instance: job, status, start and end, partition window, and the
  asset checks of that run that did not pass;
* the latest failed runs recorded in ``ops.run_failures``.

The warehouse is read first; when the Dagster instance cannot be opened the command says why and
still prints the rest. It only reads (exit code 0), also when nothing was ever loaded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import psycopg

from .lib import freshness
from .lib.config import Settings, load_settings
from .lib.warehouse.connection import scalar
from .lib.windows import utc_now

RECENT_FAILURES = 5

_FAILURES_SQL = """
select run_id, job_name, failed_at, message from ops.run_failures
order by failed_at desc, run_id limit %s
"""


@dataclass
class LastRun:
    run_id: str
    job_name: str
    status: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    window: str | None
    failed_checks: list[str] = field(default_factory=list)
    checks_evaluated: int = 0


@dataclass
class Status:
    now: dt.datetime
    sources: list[freshness.SourceFreshness]
    failures: list[tuple[str, str | None, dt.datetime, str]]
    marts: list[freshness.MartFreshness] | None = None  # None: the Dagster instance was not read
    last_run: LastRun | None = None
    dagster_error: str | None = None


def _time(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value is not None else None


def _window(tags: dict[str, str]) -> str | None:
    from .defs.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if first and last:
        return f"{first} .. {last}"
    return tags.get(PARTITION_TAG)


def read_dagster(
    settings: Settings, now: dt.datetime
) -> tuple[list[freshness.MartFreshness], LastRun | None]:
    """The key marts' last builds and the last run, from the configured Dagster instance."""
    from dagster import DagsterEventType, DagsterInstance

    from .defs.exports.jobs import EXPORT_JOB_NAME
    from .defs.ingestion.freshness import mart_last_built
    from .lib.dagster_home import prepare_dagster_home

    prepare_dagster_home(settings)
    with DagsterInstance.get() as instance:
        marts = freshness.mart_freshness(mart_last_built(instance), now, freshness.mart_thresholds(settings))
        # the last refresh (the export run that follows one is not what a "last run" asks about)
        records = instance.get_run_records(limit=20)
        if not records:
            return marts, None
        record = next((r for r in records if r.dagster_run.job_name != EXPORT_JOB_NAME), records[0])
        run = record.dagster_run
        last = LastRun(
            run.run_id,
            run.job_name,
            run.status.value,
            _time(record.start_time),
            _time(record.end_time),
            _window(dict(run.tags)),
        )
        evaluations = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        for entry in evaluations:
            event = entry.event_log_entry.dagster_event
            if event is None:
                continue
            data = event.asset_check_evaluation_data
            last.checks_evaluated += 1
            if not data.passed:
                last.failed_checks.append(
                    f"{data.asset_key.to_user_string()}:{data.check_name} ({data.severity.value})"
                )
        return marts, last


def collect(settings: Settings, now: dt.datetime | None = None) -> Status:
    from .lib.warehouse.connection import warehouse_url

    now = now or utc_now()
    with psycopg.connect(warehouse_url(settings)) as conn:
        sources = freshness.source_freshness(conn, now, settings)
        failures: list = []
        if scalar(conn, "select to_regclass('ops.run_failures')") is not None:
            failures = conn.execute(_FAILURES_SQL, (RECENT_FAILURES,)).fetchall()
    status = Status(now, sources, failures)
    try:
        status.marts, status.last_run = read_dagster(settings, now)
    except Exception as exc:  # the instance's storage unreachable or not set up: say so, show the rest
        status.dagster_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return status


def _when(value: dt.datetime | dt.date | None, never: str = "never") -> str:
    if value is None:
        return never
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _age(hours: float | None) -> str:
    return "" if hours is None else f"{hours:.1f} h"


def _limits(thresholds: freshness.Thresholds | None) -> str:
    return f"{thresholds.warn_hours}/{thresholds.error_hours} h" if thresholds else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    return [
        "  " + "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
        for line in [headers, *rows]
    ]


def format_status(status: Status) -> str:
    lines = [f"freshness at {_when(status.now)} UTC"]
    lines.append("")
    lines.append("sources")
    if all(row.last_loaded_at is None for row in status.sources):
        lines.append("  nothing loaded yet: drop files in the landing folder and run `nexus run`")
    else:
        lines += _table(
            ["source", "store", "last loaded", "last partition", "age", "warn/error", "status"],
            [
                [
                    row.source,
                    row.store_id or "-",
                    _when(row.last_loaded_at),
                    _when(row.last_partition, ""),
                    _age(row.age_hours),
                    _limits(row.thresholds),
                    str(row.status),
                ]
                for row in status.sources
            ],
        )
    lines.append("")
    lines.append("marts")
    if status.marts is None:
        lines.append(f"  unknown: the Dagster instance could not be read ({status.dagster_error})")
    elif all(mart.last_built_at is None for mart in status.marts):
        lines.append("  never built by a run of this Dagster instance")
    else:
        lines += _table(
            ["mart", "last built", "age", "warn/error", "status"],
            [
                [
                    f"marts.{m.mart}",
                    _when(m.last_built_at),
                    _age(m.age_hours),
                    _limits(m.thresholds),
                    str(m.status),
                ]
                for m in status.marts
            ],
        )
    lines.append("")
    lines.append("last run")
    run = status.last_run
    if status.marts is None:
        lines.append("  unknown (see above)")
    elif run is None:
        lines.append("  no run yet")
    else:
        lines.append(f"  {run.run_id}  {run.job_name}  {run.status}")
        lines.append(
            f"  started {_when(run.started_at, '-')}, ended {_when(run.ended_at, '-')}, "
            f"window {run.window or 'none'}"
        )
        if run.failed_checks:
            lines.append(f"  checks that did not pass ({len(run.failed_checks)} of {run.checks_evaluated}):")
            lines += [f"    {check}" for check in run.failed_checks]
        else:
            lines.append(f"  every check passed ({run.checks_evaluated} evaluated)")
    lines.append("")
    lines.append("recent failed runs (ops.run_failures)")
    if not status.failures:
        lines.append("  none")
    for run_id, job_name, failed_at, message in status.failures:
        first_line = (message or "").splitlines()[0] if message else ""
        lines.append(f"  {_when(failed_at)}  {run_id}  {job_name or '-'}: {first_line}")
    return "\n".join(lines)


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def status_json(status: Status) -> dict[str, Any]:
    run = status.last_run
    return {
        "now": _iso(status.now),
        "sources": [
            {
                "source": row.source,
                "store_id": row.store_id,
                "last_loaded_at": _iso(row.last_loaded_at),
                "last_partition": _iso(row.last_partition),
                "files": row.files,
                "rows": row.rows,
                "age_hours": None if row.age_hours is None else round(row.age_hours, 3),
                "status": str(row.status),
                "warn_after_hours": row.thresholds.warn_hours if row.thresholds else None,
                "error_after_hours": row.thresholds.error_hours if row.thresholds else None,
            }
            for row in status.sources
        ],
        "marts": None
        if status.marts is None
        else [
            {
                "mart": f"marts.{m.mart}",
                "last_built_at": _iso(m.last_built_at),
                "age_hours": None if m.age_hours is None else round(m.age_hours, 3),
                "status": str(m.status),
            }
            for m in status.marts
        ],
        "dagster_error": status.dagster_error,
        "last_run": None
        if run is None
        else {
            "run_id": run.run_id,
            "job_name": run.job_name,
            "status": run.status,
            "started_at": _iso(run.started_at),
            "ended_at": _iso(run.ended_at),
            "window": run.window,
            "checks_evaluated": run.checks_evaluated,
            "failed_checks": run.failed_checks,
        },
        "recent_failures": [
            {"run_id": run_id, "job_name": job, "failed_at": _iso(at), "message": message}
            for run_id, job, at, message in status.failures
        ],
    }


@click.command(
    help="Freshness of every raw source (per store) and key mart, the last run and its failed "
    "checks, and recent failed runs."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the tables.")
@click.option(
    "--tables",
    is_flag=True,
    help="Instead: every warehouse table per schema with its row count and date range.",
)
def status(as_json: bool, tables: bool) -> None:
    try:
        settings = load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if tables:
        from .lib.warehouse.connection import warehouse_url
        from .lib.warehouse.summary import format_summary, summarize

        found = summarize(warehouse_url(settings))
        if as_json:
            click.echo(json.dumps([t.__dict__ for t in found], indent=2))
        else:
            click.echo(format_summary(found) or "no tables yet: run `nexus run` (or `make demo`)")
        return
    current = collect(settings)
    click.echo(json.dumps(status_json(current), indent=2) if as_json else format_status(current))
