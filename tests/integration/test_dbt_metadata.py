"""What the dbt models report in Dagster: row counts, column types, date ranges and charts.

One module-scoped Dagster run of the two dbt chains only (``dbt_amazon``, ``dbt_product``, limited
to the models asserted on and those they read; the raw tables are loaded beforehand without
Dagster, no analytics asset runs) over a small generated
landing folder, in a database named unlike the one the manifest was parsed with, as every test
database is. Every expected figure comes from the landing files or from a ``count(*)`` of the
built tables, never from the code under test.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import struct

import psycopg
import pytest
import yaml
from dagster import AssetKey, AssetSelection, DagsterInstance, MarkdownMetadataValue, materialize

from nexus_pipelines.defs.dbt import metadata as dbt_metadata
from nexus_pipelines.demo import generate
from nexus_pipelines.lib.analytics.charts import PNG_SIGNATURE
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing

START = dt.date(2026, 3, 1)
DAYS = 8
CHARTS = {
    "fct_daily_store_performance": "sales_trend",
    "fct_inventory_health": "inventory_cover",
    "fct_returns_by_reason": "return_reasons",
    "fct_funnel_steps": "funnel",
}
# fct_returns_by_reason's columns, as its contract (models/marts/returns/_returns__models.yml) types them
RETURNS_BY_REASON_COLUMNS = [
    ("store_id", "text"),
    ("reason", "text"),
    ("detailed_disposition", "text"),
    ("return_lines", "bigint"),
    ("units_returned", "bigint"),
    ("share_of_store_returns", "numeric(9,2)"),
    ("share_of_reason_returns", "numeric(9,2)"),
    ("reason_units_returned", "numeric"),
    ("reason_resellable_share", "numeric(9,2)"),
]
FAILING_CHART_MODEL = "dim_store"  # given a chart that raises: its build must not fail
# the models asserted on, built with what they read (23 of the 39 models: a cheaper run)
MODELS = [*CHARTS, "dim_store", "dim_date", "fct_sessions", "fct_inventory_daily"]


def _broken_chart(_conn, _schema, _table):
    raise RuntimeError("this chart always fails")


@pytest.fixture(scope="module")
def dbt_run(tmp_path_factory, server_url):
    tmp = tmp_path_factory.mktemp("dbt_metadata")
    landing = tmp / "landing"
    generate(landing, seed=11, start=START, days=DAYS, stores=2, skus=4, users=60)
    name = create_database(server_url, "nexus_dbtmeta")
    url = with_database(server_url, name)
    patch = pytest.MonkeyPatch()
    patch.setenv("NEXUS_DATABASE_URL", url)
    patch.setenv("NEXUS_LANDING_DIR", str(landing))
    patch.setenv("NEXUS_HOME", str(tmp / "home"))
    patch.setenv("DBT_INDIRECT_SELECTION", "cautious")  # no test of a model left out
    patch.setitem(dbt_metadata.CHARTS, FAILING_CHART_MODEL, ("broken", "a broken chart", _broken_chart))
    from nexus_pipelines.defs.dbt.assets import dbt_asset_definitions
    from nexus_pipelines.defs.resources import WarehouseResource, build_resources

    try:
        load_landing(url, landing)
        resources = {**build_resources(), "warehouse": WarehouseResource(database_url=url)}
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                dbt_asset_definitions,
                resources=resources,
                instance=instance,
                selection=AssetSelection.assets(*MODELS).upstream(),
            )
            yield {"url": url, "landing": landing, "instance": instance, "result": result}
    finally:
        patch.undo()
        drop_database(server_url, name)


def _metadata(run, model: str) -> dict:
    event = run["instance"].get_latest_materialization_event(AssetKey([model]))
    assert event is not None and event.asset_materialization is not None, f"{model} not materialized"
    return dict(event.asset_materialization.metadata)


def _count(url: str, relation: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"select count(*) from {relation}").fetchone()
    assert row is not None
    return int(row[0])


def test_row_counts_are_those_of_the_built_tables(dbt_run):
    url = dbt_run["url"]
    stores = yaml.safe_load((dbt_run["landing"] / "stores.yaml").read_text())
    stores = stores["stores"] if isinstance(stores, dict) else stores
    # dim_store: one row per store of stores.yaml (every store folder is listed there)
    assert _metadata(dbt_run, "dim_store")["dagster/row_count"].value == len(stores) == 2
    # dim_date: a calendar of whole days; fct_sessions: an incremental fact of the other chain
    for model, relation in (("dim_date", "marts.dim_date"), ("fct_sessions", "marts.fct_sessions")):
        expected = _count(url, relation)
        assert expected > 0
        assert _metadata(dbt_run, model)["dagster/row_count"].value == expected, model


def test_column_schema_lists_the_columns_and_their_types(dbt_run):
    schema = _metadata(dbt_run, "fct_returns_by_reason")["dagster/column_schema"].schema
    assert [(c.name, c.type) for c in schema.columns] == RETURNS_BY_REASON_COLUMNS


def test_date_range_is_the_span_of_the_input_files(dbt_run):
    # one inventory report per store and day, named by its day: fct_inventory_daily covers them all
    days = sorted(
        dt.date.fromisoformat(path.stem) for path in dbt_run["landing"].glob("amazon/*/inventory/*.txt")
    )
    assert days[0] == START and days[-1] == START + dt.timedelta(days=DAYS - 1)
    meta = _metadata(dbt_run, "fct_inventory_daily")
    assert meta["date_range"].value == f"{days[0].isoformat()} .. {days[-1].isoformat()}"
    assert meta["date_column"].value == "snapshot_date"


_IMAGE = re.compile(r"^!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)$")


def test_key_marts_show_a_chart_as_a_markdown_png(dbt_run):
    for model, key in CHARTS.items():
        entry = _metadata(dbt_run, model)[key]
        assert isinstance(entry, MarkdownMetadataValue), f"{model}.{key}: {type(entry).__name__}"
        markdown = entry.value
        match = _IMAGE.match(markdown)
        assert match, f"{model}.{key} is not a Markdown image: {markdown[:80]}"
        png = base64.b64decode(match.group(1))
        assert png.startswith(PNG_SIGNATURE), model
        assert struct.unpack(">II", png[16:24]) == (800, 500), model  # IHDR width, height


def test_a_failing_chart_is_a_warning_not_a_failed_build(dbt_run):
    assert dbt_run["result"].success
    meta = _metadata(dbt_run, FAILING_CHART_MODEL)
    assert "broken" not in meta and "dagster/row_count" in meta
    logs = [
        entry.user_message
        for entry in dbt_run["instance"].all_logs(dbt_run["result"].run_id)
        if entry.level >= logging.WARNING
    ]
    assert any("dim_store: chart broken not drawn: RuntimeError: this chart always fails" in m for m in logs)
