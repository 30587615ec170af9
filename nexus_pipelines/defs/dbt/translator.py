"""How dbt nodes appear in Dagster: asset key = model name, sources = raw/<table>, group = folder."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetCheckSpec, AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

# dbt tag of the tests that run in the weekly full check only (dbt_project.yml)
FULL_HISTORY_TAG = "full_history"


class NexusDbtTranslator(DagsterDbtTranslator):
    def __init__(self):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # fqn = [project, layer, area, ..., model]: staging / intermediate / marts_business ...
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) >= 3 and fqn[1] == "marts":
            return f"marts_{fqn[2]}" if len(fqn) > 3 else "marts"
        return fqn[1] if len(fqn) >= 3 else "dbt"

    def get_asset_check_spec(
        self, asset_spec: AssetSpec, manifest: Mapping[str, Any], unique_id: str, project
    ) -> AssetCheckSpec | None:
        """dbt's error tests block downstream assets, except those run weekly only (tag full_history):
        a daily run does not execute them, so it cannot wait for them; the weekly check reports them."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        test = manifest.get("nodes", {}).get(unique_id, {})
        if spec is not None and FULL_HISTORY_TAG in (test.get("tags") or []):
            return spec._replace(blocking=False)
        return spec
