"""The tables the Python analytics assets write, one asset per table, and the relations they read.

Each ``Table`` is the single definition of a table: the columns and PostgreSQL types that
``replace_table`` creates it with are the ``TableSchema`` its asset shows in Dagster. The schema
is configuration (``NEXUS_ANALYTICS_SCHEMA``, default ``analytics``); the dbt relations the SQL
files read are resolved from the dbt manifest (``{fct_sessions}`` in a SQL file becomes the
model's schema-qualified relation), so neither a schema nor a model name is typed twice.
"""

import re
from dataclasses import dataclass
from functools import cache

from dagster import AssetKey, AssetSpec, TableColumn, TableSchema
from dagster_dbt import get_asset_key_for_model
from psycopg import sql

from ...lib.config import load_settings
from ..dbt.assets import dbt_asset_definitions
from ..dbt.project import manifest as dbt_manifest

GROUP = "analytics"
KINDS = {"python", "postgres"}


def analytics_schema() -> str:
    return load_settings().analytics_schema


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # column -> PostgreSQL type, in table order
    description: str
    indexes: tuple[tuple[str, ...], ...] = ()  # column lists to index: what BI tools filter by

    @property
    def key(self) -> AssetKey:
        return AssetKey([self.name])

    @property
    def schema(self) -> TableSchema:
        return TableSchema(columns=[TableColumn(name, pg_type) for name, pg_type in self.columns.items()])

    def spec(self, deps, *, skippable: bool = False) -> AssetSpec:
        return AssetSpec(
            self.key,
            deps=deps,
            description=self.description,
            group_name=GROUP,
            kinds=KINDS,
            skippable=skippable,
            metadata={
                "dagster/column_schema": self.schema,
                "dagster/table_name": f"{analytics_schema()}.{self.name}",
            },
        )


def model(name: str) -> AssetKey:
    """The asset key of dbt model ``name`` (fails at load time if the model is renamed or removed)."""
    for chain in dbt_asset_definitions:  # the model is in exactly one chain
        key = get_asset_key_for_model([chain], name)
        if key in chain.keys:
            return key
    raise KeyError(f"no dbt model {name!r} in the dbt assets")


@cache
def _dbt_relations() -> dict[str, sql.Identifier]:
    return {
        node["name"]: sql.Identifier(node["schema"], node.get("alias") or node["name"])
        for node in dbt_manifest()["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }


def relation(name: str) -> sql.Identifier:
    """The schema-qualified relation of a dbt model, or of an analytics table."""
    found = _dbt_relations().get(name)
    return found if found is not None else sql.Identifier(analytics_schema(), name)


def render(text: str) -> sql.Composed:
    """``text`` with each ``{name}`` replaced by the relation of ``name`` (bound parameters untouched)."""
    names = set(re.findall(r"\{(\w+)\}", text))
    return sql.SQL(text).format(**{name: relation(name) for name in names})
