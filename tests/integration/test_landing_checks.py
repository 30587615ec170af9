"""The landing_files_recognised check and the raw assets' unmatched_files metadata, in a real
Dagster run of three raw assets and their checks on a hand-built landing folder."""

from __future__ import annotations

import os

import pytest
from dagster import AssetCheckSeverity, AssetKey, AssetSelection, DagsterInstance, materialize

from nexus_pipelines.defs.ingestion.assets import raw_assets
from nexus_pipelines.defs.ingestion.checks import raw_asset_checks
from nexus_pipelines.defs.resources import WarehouseResource

from .test_loader import GOOD, write_orders

DAY = "2026-03-02"
SOURCES_RUN = ("amazon_orders", "events", "marketing_spend")
STRAY_AMAZON = f"amazon/S1/order/{DAY}.txt"  # "order", not "orders"
STRAY_EVENTS = f"events/{DAY}.json"  # events are .jsonl


@pytest.fixture
def landing(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    folder = tmp_path / "landing"
    write_orders(folder, "S1", DAY, GOOD)
    for stray in (STRAY_AMAZON, STRAY_EVENTS):
        (folder / stray).parent.mkdir(parents=True, exist_ok=True)
        (folder / stray).write_text("{}\n", encoding="utf-8")
    return folder


ASSETS = [a for a in raw_assets if a.key.path[-1] in SOURCES_RUN]
CHECKS = [c for c in raw_asset_checks if next(iter(c.check_keys)).asset_key in {a.key for a in ASSETS}]


def recognised(result) -> dict[str, object]:
    """source -> the landing_files_recognised evaluation of the run."""
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.asset_check_evaluation_data
            if data.check_name == "landing_files_recognised":
                found[data.asset_key.path[-1]] = data
    return found


def test_a_file_no_source_reads_fails_the_check_of_the_sources_it_was_meant_for(landing, fresh_db):
    resources = {"warehouse": WarehouseResource(database_url=fresh_db, landing_dir=str(landing))}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([*ASSETS, *CHECKS], resources=resources, partition_key=DAY, instance=instance)
        assert result.success
        checks = recognised(result)
        assert sorted(checks) == sorted(SOURCES_RUN)
        orders, events, spend = checks["amazon_orders"], checks["events"], checks["marketing_spend"]
        assert (orders.passed, orders.severity) == (False, AssetCheckSeverity.WARN)
        assert orders.metadata["unmatched_files"].value == 1
        assert orders.metadata["files"].value == (
            f"- `{STRAY_AMAZON}`: matches no source: unknown folder 'amazon/S1/order/'"
            " (known here: inventory, orders, returns, sales_traffic)"
        )
        assert (events.passed, events.metadata["unmatched_files"].value) == (False, 1)
        assert events.metadata["files"].value == (
            f"- `{STRAY_EVENTS}`: matches no source: name or extension '.json' in events/"
            " (expected events/*.jsonl*)"
        )
        assert (spend.passed, spend.metadata["unmatched_files"].value, spend.metadata["files"].value) == (
            True,
            0,
            "none",
        )

        # the materializations say the same, each only about its own source
        def unmatched_metadata(source: str) -> str:
            materialization = instance.get_latest_materialization_event(AssetKey(["raw", source]))
            assert materialization is not None and materialization.asset_materialization is not None
            return materialization.asset_materialization.metadata["unmatched_files"].value

        assert unmatched_metadata("amazon_orders").startswith(f"- `{STRAY_AMAZON}`: ")
        assert "\n" not in unmatched_metadata("amazon_orders")
        assert unmatched_metadata("events").startswith(f"- `{STRAY_EVENTS}`: ")
        assert unmatched_metadata("marketing_spend") == "none"

        # once the strays are gone (renamed into place or removed) the checks pass
        (landing / STRAY_AMAZON).unlink()
        (landing / STRAY_EVENTS).unlink()
        again = materialize(
            [*ASSETS, *CHECKS],
            resources=resources,
            instance=instance,
            selection=AssetSelection.checks(*CHECKS),
        )
        assert again.success
        after = recognised(again)
        assert sorted(after) == sorted(SOURCES_RUN)
        assert all(c.passed and c.metadata["unmatched_files"].value == 0 for c in after.values())
