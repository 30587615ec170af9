"""dbt models as Dagster assets: two independent chains, Amazon and product, one `dbt build` each.

``dbt_amazon`` (seller reports) and ``dbt_product`` (Segment events and marketing spend) each build
their staging and intermediate views, their incremental facts and their marts in one invocation.
The incremental facts rebuild every business date that the loads since the chain's last
successful build touched (the pending changes in ``ops``, turned into dates in SQL by
``lib/warehouse/changes.py``) plus the run's partition window, written to ``ops.rebuild_ranges``
for the models to read; the partitions themselves belong to the raw loads.

A chain with no pending change, the same dbt project as at its last successful build, a clean
previous run of the job and every one of its tables and views in place does not invoke dbt at all and materializes nothing, so Dagster skips the
analytics downstream of it: a run over unchanged files costs seconds, not minutes.

The chains share no model, so a failing test on events never stops the Amazon marts and an Amazon
problem never stops the product marts. dbt tests appear as asset checks and run in the same
`dbt build`. Every invocation holds the advisory lock ``dbt``; after it, the BI groups' grants and
row-level security are (re)applied (``lib/warehouse/bi.py``), on every path that runs the chain;
what a warehouse user without the privilege cannot do is logged as one warning, never a failure.

Each model's materialization reports what the build produced (``metadata.py``): its row count and
column types (dagster-dbt's ``fetch_row_counts`` / ``fetch_column_metadata``), the dates it covers
and, for a few key marts, a chart; they are fetched once dbt has exited, and never fail a build.

Each invocation's artifacts (compiled SQL, run_results.json, dbt.log) go to a folder of its own
under ``$NEXUS_HOME/dbt_runs/``; the newest few are kept, older ones are deleted once their
invocation is over (``project.invocation_folder``).
"""

from collections.abc import Iterator

from dagster import AssetExecutionContext, Config, DagsterRunStatus, RunsFilter
from dagster_dbt import DbtCliResource, dbt_assets

from ...lib.config import load_settings
from ...lib.warehouse import changes, connection, locks
from ...lib.warehouse.bi import apply_access
from ..partitions import window_of_run
from ..resources import WarehouseResource
from .metadata import built_models
from .project import (
    BUILD_ARGS,
    FULL_CHECK_BUILD_ARGS,
    bi_schemas,
    invocation_folder,
    keep_partial_parse,
    nexus_dbt_project,
    prepare,
    project_fingerprint,
    prune_legacy_invocations,
)
from .project import manifest as dbt_manifest
from .translator import NexusDbtTranslator

prepare(nexus_dbt_project)
TRANSLATOR = NexusDbtTranslator()

# dbt selections of the two chains (the test suite checks that they cover every model, apart)
CHAINS = {
    "amazon": "path:models/staging/amazon path:models/intermediate/business path:models/intermediate/inventory "
    "path:models/intermediate/returns path:models/marts/core path:models/marts/business "
    "path:models/marts/inventory path:models/marts/returns",
    "product": "path:models/staging/events path:models/staging/marketing path:models/intermediate/product "
    "path:models/marts/product",
}
# Dagster concurrency pool of the dbt builds: unlimited by default (the advisory lock ``dbt`` already
# keeps two builds apart, across instances too); a deployment can make Dagster queue them visibly
# with `dagster instance concurrency set nexus_dbt 1`.
DBT_POOL = "nexus_dbt"
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def missing_relations(url: str, context: AssetExecutionContext) -> list[str]:
    """The tables and views of this step's models that do not exist in the warehouse."""
    wanted = [
        (node["schema"], node.get("alias") or node["name"])
        for node in dbt_manifest()["nodes"].values()
        if node["resource_type"] == "model" and TRANSLATOR.get_asset_key(node) in context.selected_asset_keys
    ]
    return connection.missing_relations(url, wanted)


def previous_run_succeeded(context: AssetExecutionContext) -> bool:
    """Whether the last finished run of this job succeeded (a failed one may have left a stale asset)."""
    runs = context.instance.get_runs(RunsFilter(job_name=context.job_name, statuses=_FINISHED), limit=1)
    return bool(runs) and runs[0].status == DagsterRunStatus.SUCCESS


class ChainConfig(Config):
    # every data test over every row, and a build even when nothing changed (the weekly full check)
    full_checks: bool = False


def _build_chain(
    chain: str,
    context: AssetExecutionContext,
    config: ChainConfig,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
) -> Iterator:
    window = window_of_run(context)
    span = (window.start, window.end) if window else None
    lookback = int(changes.dbt_project_var(nexus_dbt_project.project_dir, "session_lookback_days", 1))
    fingerprint = project_fingerprint()
    with (
        locks.exclusive(warehouse.url, f"facts:{chain}", on_wait=context.log.info),
        changes.rebuilding(
            warehouse.url, chain, span, session_lookback_days=lookback, fingerprint=fingerprint
        ) as plan,
    ):
        if (
            not config.full_checks
            and not plan.has_changes
            and plan.built_fingerprint == fingerprint
            and previous_run_succeeded(context)
            and not missing_relations(warehouse.url, context)
        ):
            context.log.info(
                f"{chain}: no load changed anything since its last build and the dbt project "
                "is unchanged: nothing to build (downstream assets are skipped)"
            )
            _apply_bi_access(context, warehouse.url)  # roles an administrator created meanwhile
            return
        scope = (
            "every data test over every row"
            if config.full_checks
            else "data tests of the marts, on the rebuilt dates of the incremental facts"
        )
        context.log.info(
            f"{chain}: partition window {window or 'none'}; rebuilding {plan.describe()}; {scope}"
        )
        warehouse.export_dbt_env()
        args = FULL_CHECK_BUILD_ARGS if config.full_checks else BUILD_ARGS
        name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}"
        with (
            locks.exclusive(warehouse.url, "dbt", on_wait=context.log.info),
            invocation_folder(warehouse.settings.home, name) as target,
        ):
            invocation = dbt.cli(args, context=context, target_path=target)
            # consumed: dbt has exited and its artifacts are read
            yield from built_models(invocation, warehouse.url, context.log.warning)
            keep_partial_parse(invocation.target_path)
        prune_legacy_invocations(nexus_dbt_project)
        _apply_bi_access(context, warehouse.url)


_SAID: set[tuple[str, str]] = set()  # (warehouse, message) already logged by this process


def _apply_bi_access(context: AssetExecutionContext, url: str) -> None:
    """The BI grants after a build; what the warehouse user may not do is said once per process."""
    settings = load_settings()
    report = apply_access(
        url, bi_schemas(), dagster_database=connection.same_server_dagster_database(settings, url)
    )
    new = [line for line in report.lines() if (url, line) not in _SAID]
    if new:
        _SAID.update((url, line) for line in new)
        context.log.warning("BI access: " + " | ".join(new))


def _chain_assets(chain: str):
    @dbt_assets(
        manifest=nexus_dbt_project.manifest_path,
        project=nexus_dbt_project,
        select=CHAINS[chain],
        dagster_dbt_translator=TRANSLATOR,
        name=f"dbt_{chain}",
        pool=DBT_POOL,
    )
    def _assets(
        context: AssetExecutionContext, config: ChainConfig, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        yield from _build_chain(chain, context, config, dbt, warehouse)

    return _assets


dbt_amazon = _chain_assets("amazon")
dbt_product = _chain_assets("product")
dbt_asset_definitions = [dbt_amazon, dbt_product]
