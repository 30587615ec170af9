"""dbt models as Dagster assets, in three steps that run in dependency order:

1. ``dbt_staging``: staging and intermediate views (unpartitioned, cheap to re-create);
2. ``dbt_partitioned_facts``: incremental facts tagged ``partitioned`` — daily partitioned, a
   run (or a single-run backfill) passes its date window as vars min_date/max_date and the model
   replaces exactly that window;
3. ``dbt_marts``: every other mart (dimensions, health and comparison tables), rebuilt whole.

dbt tests appear as asset checks and run in the same `dbt build`.
"""


import datetime as dt
import json

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from ..partitions import daily_partitions, single_run_backfill
from ..resources import WarehouseResource
from .project import ensure_manifest, nexus_dbt_project
from .translator import NexusDbtTranslator

MANIFEST = ensure_manifest()
TRANSLATOR = NexusDbtTranslator()
VIEW_LAYERS = "path:models/staging path:models/intermediate"


def window_vars(context: AssetExecutionContext) -> dict[str, str]:
    window = context.partition_time_window
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - dt.timedelta(days=1)).date().isoformat(),
    }


@dbt_assets(manifest=MANIFEST, project=nexus_dbt_project, select=VIEW_LAYERS, exclude="tag:partitioned",
            dagster_dbt_translator=TRANSLATOR, name="dbt_staging")
def dbt_staging(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    warehouse.export_dbt_env()
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(manifest=MANIFEST, project=nexus_dbt_project, select="tag:partitioned",
            partitions_def=daily_partitions, backfill_policy=single_run_backfill,
            dagster_dbt_translator=TRANSLATOR, name="dbt_partitioned_facts")
def dbt_partitioned_facts(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    warehouse.export_dbt_env()
    variables = window_vars(context)
    context.log.info(f"dbt window {variables['min_date']} .. {variables['max_date']}")
    yield from dbt.cli(["build", "--vars", json.dumps(variables)], context=context).stream()


@dbt_assets(manifest=MANIFEST, project=nexus_dbt_project, select="fqn:*",
            exclude=f"tag:partitioned {VIEW_LAYERS}", dagster_dbt_translator=TRANSLATOR, name="dbt_marts")
def dbt_marts(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    warehouse.export_dbt_env()
    yield from dbt.cli(["build"], context=context).stream()


dbt_asset_definitions = [dbt_staging, dbt_partitioned_facts, dbt_marts]
