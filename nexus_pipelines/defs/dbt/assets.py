"""dbt models as Dagster assets: two independent chains, Amazon and product, of three steps each.

For each chain (``amazon``: seller reports; ``product``: Segment events and marketing spend):

1. ``dbt_<chain>_views``: staging and intermediate views (unpartitioned, cheap to re-create);
2. ``dbt_<chain>_facts``: incremental facts tagged ``partitioned`` — daily partitioned; a run
   rebuilds every business date that the loads since the last successful build touched (the
   pending changes in ``ops``, computed in SQL by ``lib/warehouse/changes.py``) plus its own
   partition window, written to ``ops.rebuild_ranges`` for the models to read;
3. ``dbt_<chain>_marts``: every other mart of the chain (dimensions, health and comparison
   tables), rebuilt whole.

The chains share no model, so a failing test on events never stops the Amazon marts and an
Amazon problem never stops the product marts: Dagster skips only the failed step's downstream.
dbt tests appear as asset checks and run in the same `dbt build`. Every dbt invocation holds the
advisory lock ``dbt``, so two runs never build the same relations at once.
"""


import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from ...lib.warehouse import changes, locks
from ..partitions import daily_partitions, single_run_backfill
from ..resources import WarehouseResource
from .project import ensure_manifest, nexus_dbt_project
from .translator import NexusDbtTranslator

MANIFEST = ensure_manifest()
TRANSLATOR = NexusDbtTranslator()

CHAINS = {
    "amazon": {
        "views": "path:models/staging/amazon path:models/intermediate/business "
                 "path:models/intermediate/inventory path:models/intermediate/returns",
        "facts": "tag:partitioned",
        "facts_exclude": "path:models/marts/product",
        "marts": "path:models/marts/core path:models/marts/business path:models/marts/inventory "
                 "path:models/marts/returns",
    },
    "product": {
        "views": "path:models/staging/events path:models/staging/marketing path:models/intermediate/product",
        "facts": "tag:partitioned,path:models/marts/product",
        "marts": "path:models/marts/product",
    },
}


def window_vars(context: AssetExecutionContext) -> dict[str, str]:
    window = context.partition_time_window
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - dt.timedelta(days=1)).date().isoformat(),
    }


# The same vars on every invocation: the incremental facts read their dates from ops.rebuild_ranges,
# so dbt's partial parsing is not invalidated by changing vars from one step or run to the next.
DBT_VARS = {"rebuild_from_ops": True}


def _keep_partial_parse(invocation_target: Path) -> None:
    """Hand this invocation's parse state to the next one (dagster-dbt seeds each from target/)."""
    produced = Path(invocation_target) / "partial_parse.msgpack"
    shared = Path(nexus_dbt_project.project_dir) / "target" / "partial_parse.msgpack"
    if produced.exists():
        temporary = shared.with_name(f".partial_parse.{os.getpid()}.msgpack")
        shutil.copyfile(produced, temporary)
        os.replace(temporary, shared)


def _build(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator:
    warehouse.export_dbt_env()
    with locks.exclusive(warehouse.url, "dbt", on_wait=context.log.info):
        invocation = dbt.cli(["build", "--vars", json.dumps(DBT_VARS)], context=context)
        yield from invocation.stream()
        _keep_partial_parse(invocation.target_path)


def _build_facts(chain: str, context: AssetExecutionContext, dbt: DbtCliResource,
                 warehouse: WarehouseResource) -> Iterator:
    window = window_vars(context)
    span = (dt.date.fromisoformat(window["min_date"]), dt.date.fromisoformat(window["max_date"]))
    lookback = int(changes.dbt_project_var(nexus_dbt_project.project_dir, "session_lookback_days", 1))
    with locks.exclusive(warehouse.url, f"facts:{chain}", on_wait=context.log.info):
        with changes.rebuilding(warehouse.url, chain, span, session_lookback_days=lookback) as plan:
            context.log.info(f"{chain} facts: partition window {span[0]} .. {span[1]}; rebuilding {plan.describe()}")
            yield from _build(context, dbt, warehouse)


def _unpartitioned(chain: str, step: str):
    """The views or the whole-rebuilt marts of ``chain`` (``step`` = "views" | "marts")."""
    @dbt_assets(manifest=MANIFEST, project=nexus_dbt_project, select=CHAINS[chain][step],
                exclude="tag:partitioned", dagster_dbt_translator=TRANSLATOR, name=f"dbt_{chain}_{step}")
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        yield from _build(context, dbt, warehouse)

    return _assets


def _facts(chain: str):
    @dbt_assets(manifest=MANIFEST, project=nexus_dbt_project, select=CHAINS[chain]["facts"],
                exclude=CHAINS[chain].get("facts_exclude"), partitions_def=daily_partitions, backfill_policy=single_run_backfill,
                dagster_dbt_translator=TRANSLATOR, name=f"dbt_{chain}_facts")
    def _assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        yield from _build_facts(chain, context, dbt, warehouse)

    return _assets


dbt_asset_definitions = [
    asset for chain in CHAINS for asset in (_unpartitioned(chain, "views"), _facts(chain), _unpartitioned(chain, "marts"))
]
