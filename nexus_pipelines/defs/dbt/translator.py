"""How dbt nodes appear in Dagster: asset key = model name, sources = raw/<table>, group = folder."""


from typing import Any, Mapping

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


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
