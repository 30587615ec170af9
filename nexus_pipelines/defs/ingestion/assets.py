"""One raw asset per landing source: raw/<table>, daily partitioned by the date in the file name.

A partitioned run (or a single-run backfill of many days) loads every landing file of its
window with COPY, quarantines bad rows with a reason, and reports rows loaded/quarantined,
files and duration as materialization metadata. Unreadable files fail the run after all other
files have loaded, naming each file and line.
"""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ...lib.formats import SOURCES
from ...lib.formats.base import SourceSpec
from ...lib.ingestion import IngestionFailed, IngestionSummary, ingest
from ...lib.landing import UnmatchedFile, unmatched_files
from ..partitions import daily_partitions, single_run_backfill, step_window
from ..resources import WarehouseResource


def unmatched_list(unmatched: list[UnmatchedFile]) -> str:
    return "\n".join(f"- `{u.relative_path}`: {u.reason}" for u in unmatched) or "none"


def _metadata(summary: IngestionSummary, unmatched: list[UnmatchedFile]) -> dict:
    files = [r for r in summary.results if not r.skipped]
    preview = "\n".join(
        f"| {r.file_path} | {r.rows_read} | {r.rows_loaded} | {r.rows_quarantined} | {r.duration_seconds:.2f} |"
        for r in files[:20]
    )
    return {
        "rows_read": summary.rows_read,
        "rows_loaded": summary.rows_loaded,
        "rows_quarantined": summary.rows_quarantined,
        "files_loaded": summary.files_loaded,
        "files_unchanged": summary.files_skipped,
        "files_failed": len(summary.failed_files),
        "files_misnamed": MetadataValue.md(
            "\n".join(f"- {problem}" for _path, problem in summary.misnamed) or "none"
        ),
        "unmatched_files": MetadataValue.md(unmatched_list(unmatched)),
        "duration_seconds": round(summary.duration_seconds, 3),
        "date_range": f"{summary.start} .. {summary.end}" if summary.start else "whole table",
        "files": MetadataValue.md(
            "| file | read | loaded | quarantined | seconds |\n|---|---|---|---|---|\n" + preview
            if preview
            else "no changed files"
        ),
    }


def build_raw_asset(spec: SourceSpec) -> AssetsDefinition:
    @asset(
        key=["raw", spec.name],
        group_name="ingestion",
        description=spec.description,
        partitions_def=daily_partitions if spec.partitioned else None,
        backfill_policy=single_run_backfill if spec.partitioned else None,
        kinds={"postgres", "python"},
        metadata={"landing_glob": spec.landing_glob, "table": f"raw.{spec.name}"},
    )
    def _raw(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        window = step_window(context) if spec.partitioned else None
        start, end = (window.start, window.end) if window else (None, None)
        try:
            summary = ingest(
                warehouse.url,
                spec,
                warehouse.landing_path,
                start,
                end,
                force=warehouse.force_reload,
                on_wait=context.log.info,
            )
        except IngestionFailed as exc:
            context.log.error(str(exc))
            raise
        for _path, problem in summary.misnamed:
            context.log.warning(f"not loaded: {problem}")
        unmatched = [u for u in unmatched_files(warehouse.landing_path) if spec.name in u.sources]
        for u in unmatched:
            context.log.warning(f"not loaded: {u.relative_path}: {u.reason}")
        context.log.info(
            f"{spec.name} {start}..{end}: {summary.files_loaded} file(s) loaded, {summary.files_skipped} unchanged, "
            f"{summary.rows_loaded} rows loaded, {summary.rows_quarantined} quarantined"
        )
        return MaterializeResult(metadata=_metadata(summary, unmatched))

    return _raw


raw_assets = [build_raw_asset(spec) for spec in SOURCES.values()]
