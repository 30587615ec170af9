"""Checks on raw assets: the share of quarantined rows and failed files in the latest loads."""

import psycopg
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from ...lib.formats import SOURCES
from ...lib.formats.base import SourceSpec
from ...lib.landing import unmatched_files
from ...lib.warehouse.connection import scalar
from ..resources import WarehouseResource

MAX_QUARANTINE_SHARE = 0.02  # more than 2% of rows rejected in the latest loads deserves a look

LATEST_LOADS_SQL = """
select distinct on (file_path) file_path, status, error, coalesce(rows_read, 0), coalesce(rows_quarantined, 0)
from ops.load_manifest where source = %s
order by file_path, load_id desc
"""


def build_quarantine_check(spec: SourceSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=["raw", spec.name],
        name="quarantine_share",
        blocking=False,
        description=f"Latest load of every file: no failed file, at most {MAX_QUARANTINE_SHARE:.0%} of rows quarantined.",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        with psycopg.connect(warehouse.url) as conn:
            exists = scalar(conn, "select to_regclass('ops.load_manifest')")
            latest = conn.execute(LATEST_LOADS_SQL, (spec.name,)).fetchall() if exists else []
        # files still in the landing folder (a misnamed file renamed or removed is no longer a problem)
        latest = [r for r in latest if (warehouse.landing_path / r[0]).exists()]
        failed = [(path, error) for path, status, error, _read, _quarantined in latest if status == "failed"]
        read = sum(r[3] for r in latest)
        quarantined = sum(r[4] for r in latest)
        share = quarantined / read if read else 0.0
        return AssetCheckResult(
            passed=not failed and share <= MAX_QUARANTINE_SHARE,
            severity=AssetCheckSeverity.WARN,
            description=f"{len(failed)} file(s) could not be loaded" if failed else None,
            metadata={
                "failed_files": len(failed),
                "rows_read": read,
                "rows_quarantined": quarantined,
                "quarantine_share": round(share, 5),
                "failures": MetadataValue.md("\n".join(f"- {e or p}" for p, e in failed[:50]) or "none"),
            },
        )

    return _check


def build_unmatched_check(spec: SourceSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=["raw", spec.name],
        name="landing_files_recognised",
        blocking=False,
        description="Every landing file near this source's folder matches a source: none is skipped unseen.",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        unmatched = [u for u in unmatched_files(warehouse.landing_path) if spec.name in u.sources]
        return AssetCheckResult(
            passed=not unmatched,
            severity=AssetCheckSeverity.WARN,
            description=f"{len(unmatched)} landing file(s) match no source and were not loaded"
            if unmatched
            else None,
            metadata={
                "unmatched_files": len(unmatched),
                "files": MetadataValue.md(
                    "\n".join(f"- `{u.relative_path}`: {u.reason}" for u in unmatched[:100]) or "none"
                ),
            },
        )

    return _check


raw_asset_checks = [
    *(build_quarantine_check(spec) for spec in SOURCES.values()),
    *(build_unmatched_check(spec) for spec in SOURCES.values()),
]
