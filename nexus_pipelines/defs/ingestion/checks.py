"""Checks on raw assets: the share of quarantined rows and failed files in the latest loads."""


import psycopg
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetChecksDefinition, asset_check

from ...lib.formats import SOURCES
from ...lib.formats.base import SourceSpec
from ..resources import WarehouseResource

MAX_QUARANTINE_SHARE = 0.02  # more than 2% of rows rejected in the latest loads deserves a look

LATEST_LOADS_SQL = """
with latest as (
    select distinct on (file_path) file_path, status, rows_read, rows_quarantined
    from ops.load_manifest where source = %s
    order by file_path, load_id desc
)
select count(*) filter (where status = 'failed'),
       coalesce(sum(rows_read), 0), coalesce(sum(rows_quarantined), 0)
from latest
"""


def build_quarantine_check(spec: SourceSpec) -> AssetChecksDefinition:
    @asset_check(asset=["raw", spec.name], name="quarantine_share", blocking=False,
                 description=f"Latest load of every file: no failed file, at most {MAX_QUARANTINE_SHARE:.0%} of rows quarantined.")
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        with psycopg.connect(warehouse.url) as conn:
            exists = conn.execute("select to_regclass('ops.load_manifest')").fetchone()[0]
            failed, read, quarantined = conn.execute(LATEST_LOADS_SQL, (spec.name,)).fetchone() if exists else (0, 0, 0)
        share = quarantined / read if read else 0.0
        return AssetCheckResult(
            passed=failed == 0 and share <= MAX_QUARANTINE_SHARE,
            severity=AssetCheckSeverity.WARN,
            metadata={"failed_files": failed, "rows_read": read, "rows_quarantined": quarantined,
                      "quarantine_share": round(share, 5)},
        )

    return _check


raw_asset_checks = [build_quarantine_check(spec) for spec in SOURCES.values()]
