"""Load every landing file of one source for a window of partitions, Dagster-free.

The changed files of a window load in one transaction, each in its own savepoint: a file that
cannot be read is reported (and recorded as failed in ``ops.load_manifest``) while every other
file of the window still loads, so nothing
valid is lost. ``IngestionFailed`` is raised at the end naming each unreadable file and line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .formats.base import SourceSpec, UnreadableFile
from .landing import files_for, misnamed_files, parse_context, store_currencies
from .warehouse.loader import (
    LoadResult,
    analyze,
    load_files,
    loader_connection,
    record_unloadable,
    remove_missing_files,
)


class IngestionFailed(Exception):
    def __init__(self, source: str, failures: list[UnreadableFile], summary: IngestionSummary):
        self.failures = failures
        self.summary = summary
        lines = "\n".join(f"  - {f}" for f in failures)
        super().__init__(
            f"{len(failures)} file(s) of source {source!r} could not be read "
            f"({summary.files_loaded} other file(s) loaded):\n{lines}"
        )


@dataclass
class IngestionSummary:
    source: str
    start: dt.date | None
    end: dt.date | None
    results: list[LoadResult] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    # files that belong to no partition (no valid date in the name): recorded as failed, never loaded
    misnamed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def files_loaded(self) -> int:
        return sum(1 for r in self.results if not r.skipped)

    @property
    def files_skipped(self) -> int:
        return sum(1 for r in self.results if r.skipped)

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.results)

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results)

    @property
    def rows_quarantined(self) -> int:
        return sum(r.rows_quarantined for r in self.results)

    @property
    def duration_seconds(self) -> float:
        return sum(r.duration_seconds for r in self.results)


def ingest(
    url: str,
    spec: SourceSpec,
    landing_dir: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    force: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> IngestionSummary:
    """Load the files of ``spec`` dated in [start, end] (all when unset).

    Unreadable files raise ``IngestionFailed`` after every other file loaded; files with no valid
    date in their name are recorded as failed in ops.load_manifest and listed in
    ``summary.misnamed`` without failing (they belong to no partition). ``on_wait`` hears when
    another run holds this source's lock.
    """
    files = files_for(spec, landing_dir, start, end)
    currencies = store_currencies(landing_dir)
    summary = IngestionSummary(spec.name, start, end)
    failures: list[UnreadableFile] = []
    with loader_connection(url, spec, on_wait=on_wait) as conn:
        for file, problem in misnamed_files(spec, landing_dir):
            record_unloadable(conn, spec, file.path, file.relative_path, problem)
            summary.misnamed.append((file.relative_path, problem))
        results, failed = load_files(
            conn, spec, [parse_context(file, currencies) for file in files], force=force
        )
        summary.results.extend(results)
        summary.failed_files.extend(path for path, _error in failed)
        failures.extend(error for _path, error in failed)
        if spec.partitioned and start and end:
            remove_missing_files(conn, spec, start, end, [f.relative_path for f in files])
        if summary.files_loaded:
            analyze(conn, spec)  # fresh statistics, so that dbt's queries get sane plans right away
    if failures:
        raise IngestionFailed(spec.name, failures, summary)
    return summary
