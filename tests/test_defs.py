"""The Dagster definitions load and are wired as the README describes (no database needed)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from dagster import AssetKey, DagsterInstance, build_sensor_context

from nexus_pipelines.definitions import defs
from nexus_pipelines.defs.automation import changed_partition_dates
from nexus_pipelines.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from nexus_pipelines.lib.formats import SOURCES


def graph():
    return defs.resolve_asset_graph()


def test_every_source_has_a_partitioned_raw_asset_and_stores_is_unpartitioned():
    keys = graph().get_all_asset_keys()
    for name, spec in SOURCES.items():
        key = AssetKey(["raw", name])
        assert key in keys
        assert graph().get(key).is_partitioned == spec.partitioned
    assert not graph().get(AssetKey(["raw", "stores"])).is_partitioned


def test_lineage_raw_to_staging_to_mart_to_analytics():
    g = graph()
    assert AssetKey(["raw", "amazon_orders"]) in g.get(AssetKey(["stg_amazon__orders"])).parent_keys
    assert AssetKey(["stg_amazon__orders"]) in g.get(AssetKey(["fct_daily_sales"])).parent_keys
    assert AssetKey(["fct_daily_sales"]) in g.get(AssetKey(["store_daily_summary"])).parent_keys
    # partitions belong to the raw loads; the dbt facts rebuild the dates the loads changed
    assert g.get(AssetKey(["raw", "amazon_orders"])).is_partitioned
    assert not g.get(AssetKey(["fct_daily_sales"])).is_partitioned


def test_dbt_tests_are_asset_checks():
    check_names = {key.name for key in graph().asset_check_keys}
    assert any(name.startswith("not_null_fct_daily_sales") for name in check_names)
    assert "quarantine_share" in check_names


def test_landing_sensor_requests_one_run_over_new_files(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXUS_LANDING_DIR", str(tmp_path))
    monkeypatch.setattr("nexus_pipelines.defs.automation.last_successful_loads", lambda url: {})
    monkeypatch.setattr("nexus_pipelines.defs.automation.warehouse_url", lambda settings: "unused")
    for day in ("2026-03-02", "2026-03-05"):
        path = tmp_path / "amazon" / "s1" / "orders" / f"{day}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("amazon-order-id\n")
    sensor = defs.resolve_sensor_def("landing_file_sensor")
    with DagsterInstance.ephemeral() as instance:
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=None))
        assert len(result.run_requests) == 1
        assert result.run_requests[0].tags[RANGE_START_TAG] == "2026-03-02"
        assert result.run_requests[0].tags[RANGE_END_TAG] == "2026-03-05"
        again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=result.cursor))
        assert not again.run_requests
    dates, newest = changed_partition_dates(tmp_path, 0)
    assert dates == [dt.date(2026, 3, 2), dt.date(2026, 3, 5)] and newest > 0
    # a file loaded after its last change (e.g. by `nexus run`) does not trigger a run again
    loaded = {"amazon/s1/orders/2026-03-02.txt": newest / 1e9 + 1}
    assert changed_partition_dates(tmp_path, 0, loaded)[0] == [dt.date(2026, 3, 5)]


def test_configuration_comes_from_environment_only_through_config():
    offenders = []
    for root, _dirs, files in os.walk(os.path.join(os.path.dirname(__file__), "..", "nexus_pipelines")):
        for name in files:
            if name.endswith(".py") and name != "config.py":
                text = Path(root, name).read_text()
                if 'os.environ.get("NEXUS' in text or 'getenv("NEXUS' in text:
                    offenders.append(name)
    assert offenders == []


def test_landing_sensor_keeps_working_with_a_misnamed_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXUS_LANDING_DIR", str(tmp_path))
    monkeypatch.setattr("nexus_pipelines.defs.automation.last_successful_loads", lambda url: {})
    monkeypatch.setattr("nexus_pipelines.defs.automation.warehouse_url", lambda settings: "unused")
    for name in ("2026-13-45.txt", "2026-03-04.txt"):
        path = tmp_path / "amazon" / "s1" / "orders" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("amazon-order-id\n")
    sensor = defs.resolve_sensor_def("landing_file_sensor")
    with DagsterInstance.ephemeral() as instance:
        result = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=None))
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in result.run_requests] == [
        ("2026-03-04", "2026-03-04")
    ]


def test_rebuild_dates_compress_to_contiguous_ranges():
    from nexus_pipelines.lib.warehouse.changes import RebuildPlan, to_ranges

    days = [dt.date(2026, 3, d) for d in (5, 1, 2, 3, 3, 9)]
    assert to_ranges(days) == [
        (dt.date(2026, 3, 1), dt.date(2026, 3, 3)),
        (dt.date(2026, 3, 5), dt.date(2026, 3, 5)),
        (dt.date(2026, 3, 9), dt.date(2026, 3, 9)),
    ]
    plan = RebuildPlan(("events",), 7, domains=("sessions",), dates={"sessions": days})
    assert plan.dbt_vars() == {
        "rebuild_ranges": {
            "sessions": [
                ["2026-03-01", "2026-03-03"],
                ["2026-03-05", "2026-03-05"],
                ["2026-03-09", "2026-03-09"],
            ]
        }
    }
    assert RebuildPlan(("stores",), 1, everything=True, domains=("orders",)).dbt_vars() == {
        "rebuild_ranges": {"orders": "all"}
    }


def test_dbt_chains_keep_amazon_and_product_apart():
    g = graph()
    step = {
        key: defs.resolve_assets_def(key).node_def.name
        for key in g.get_all_asset_keys()
        if defs.resolve_assets_def(key).node_def.name.startswith("dbt_")
    }
    assert step[AssetKey(["fct_daily_sales"])] == "dbt_amazon"
    assert step[AssetKey(["fct_sessions"])] == "dbt_product"
    assert step[AssetKey(["stg_events__events"])] == "dbt_product"
    assert step[AssetKey(["dim_store"])] == "dbt_amazon"
    # every dbt model is in exactly one chain
    import json

    from nexus_pipelines.defs.dbt.project import nexus_dbt_project

    manifest = json.loads(nexus_dbt_project.manifest_path.read_text())
    models = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert {key.path[-1] for key in step} == models
    # no product-chain model reads an Amazon-chain model or an Amazon raw table, and the other way round
    for key, name in step.items():
        chain = name.split("_")[1]
        for parent in g.get(key).parent_keys:
            other = step.get(parent)
            if other is not None:
                assert other.split("_")[1] == chain, (key, parent)
            elif parent.path[0] == "raw":
                assert (parent.path[1] == "events" or parent.path[1] == "marketing_spend") == (
                    chain == "product"
                ) or parent.path[1] == "stores", (key, parent)


def test_lib_imports_nothing_from_defs():
    import ast
    from pathlib import Path

    lib = Path(__file__).resolve().parents[1] / "nexus_pipelines" / "lib"
    offenders = []
    for path in lib.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                absolute = module.startswith(("nexus_pipelines.defs", "nexus_pipelines.definitions"))
                relative_up = node.level >= 2 and (
                    module.startswith(("defs", "definitions")) or (node.level >= 3 and module == "")
                )
                if absolute or relative_up:
                    offenders.append(f"{path.relative_to(lib)}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(
                a.name.startswith(("nexus_pipelines.defs", "nexus_pipelines.definitions", "dagster"))
                for a in node.names
            ):
                offenders.append(f"{path.relative_to(lib)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "dagster",
                "dagster_dbt",
            ):
                offenders.append(f"{path.relative_to(lib)}:{node.lineno} imports {node.module}")
    assert offenders == []


def test_the_demo_generator_is_a_development_tool_the_pipeline_never_imports():
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "nexus_pipelines"
    offenders = [
        str(path.relative_to(package))
        for folder in ("lib", "defs")
        for path in (package / folder).rglob("*.py")
        if "demo" in path.read_text()
        and (
            "from ...demo" in path.read_text()
            or "from ..demo" in path.read_text()
            or "nexus_pipelines.demo" in path.read_text()
        )
    ]
    assert offenders == []


def test_runs_keep_dagsters_default_loggers():
    """`dagster dev` and the UI show Dagster's normal logs: the definitions replace no logger."""
    from dagster import default_loggers

    assert not defs.loggers
    job = defs.resolve_job_def("refresh_all")
    assert set(job.loggers) == set(default_loggers())
    assert job.loggers["console"] is default_loggers()["console"]


def test_weekly_only_tests_do_not_block_and_the_daily_ones_do():
    """Tests a daily run leaves out (tag full_history: the views') cannot gate it, so they are
    non-blocking; the marts' error tests still block what reads the marts."""
    from nexus_pipelines.defs.dbt.assets import dbt_asset_definitions

    specs = {spec.key.name: spec for chain in dbt_asset_definitions for spec in chain.check_specs}
    assert specs["unique_stg_events__tracks_message_id"].blocking is False
    assert specs["unique_combination_int_inventory_stock_aged_store_id__sku__received_date"].blocking is False
    assert specs["unique_fct_orders_web_order_id"].blocking is True
    assert (
        specs["unique_combination_stg_marketing__spend_spend_date__channel__campaign__currency"].blocking
        is True
    )
