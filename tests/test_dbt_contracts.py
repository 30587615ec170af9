"""The marts BI tools read have enforced contracts: every column named, with its data type.

A contract makes dbt fail the build when a model's columns or their types change, so a type
change never reaches a dashboard silently (checked by hand: casting fct_daily_sales.units_ordered
to numeric fails the build with "This model has an enforced contract that failed").
"""

from __future__ import annotations

import re

from nexus_pipelines.defs.dbt.project import manifest, prepare
from nexus_pipelines.defs.dbt.project import nexus_dbt_project as project

# PostgreSQL type names as written in the contracts (precision and scale where they are fixed)
TYPE = re.compile(
    r"^(text|boolean|date|integer|bigint|numeric(\(\d+,\d+\))?|timestamp with time zone|double precision)$"
)


def _marts() -> list[dict]:
    prepare(project)
    nodes = manifest(project)["nodes"].values()
    return [n for n in nodes if n["resource_type"] == "model" and n["path"].startswith("marts/")]


def test_every_mart_has_an_enforced_contract_with_a_type_per_column():
    marts = _marts()
    assert len(marts) >= 20
    for node in marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["columns"], node["name"]
        for name, column in node["columns"].items():
            assert TYPE.match(column.get("data_type") or ""), (node["name"], name, column.get("data_type"))


def test_incremental_marts_fail_on_a_changed_schema():
    for node in _marts():
        if node["config"]["materialized"] == "incremental":
            assert node["config"]["on_schema_change"] == "fail", node["name"]
