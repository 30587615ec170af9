"""lib/landing.unmatched_files: every landing file no source reads is named, with a reason."""

from __future__ import annotations

from pathlib import Path

from nexus_pipelines.lib.landing import unmatched_files

AMAZON = (
    "amazon_orders",
    "amazon_sales_traffic_by_date",
    "amazon_sales_traffic_by_asin",
    "amazon_inventory",
    "amazon_returns",
)


def touch(root: Path, *relative: str) -> None:
    for name in relative:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")


def by_path(root: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {u.relative_path: (u.reason, u.sources) for u in unmatched_files(root)}


def test_known_files_hidden_files_and_the_answer_key_are_not_listed(tmp_path):
    touch(
        tmp_path,
        "amazon/S1/orders/2026-03-01.txt",
        "amazon/S1/sales_traffic/2026-03-01.json",
        "amazon/S1/inventory/2026-03-01.txt",
        "amazon/S1/returns/2026-03-01.txt",
        "events/2026-03-01.jsonl",
        "events/2026-03-02.jsonl.gz",
        "marketing/spend/2026-03-01.csv",
        "stores.yaml",
        "truth.json",
        ".generated.json",
        "amazon/S1/orders/.2026-03-02.txt.partial",
        ".trash/old.txt",
    )
    assert unmatched_files(tmp_path) == []


def test_a_misspelled_report_folder_is_attributed_to_every_amazon_source(tmp_path):
    touch(tmp_path, "amazon/S1/order/2026-03-01.txt")
    assert by_path(tmp_path) == {
        "amazon/S1/order/2026-03-01.txt": (
            "matches no source: unknown folder 'amazon/S1/order/' (known here: inventory, orders, returns, sales_traffic)",
            AMAZON,
        )
    }


def test_an_unknown_extension_is_attributed_to_the_source_of_its_folder(tmp_path):
    touch(
        tmp_path,
        "amazon/S1/orders/2026-03-01.csv",
        "events/2026-03-01.json",
        "marketing/spend/2026-03-01.xlsx",
    )
    assert by_path(tmp_path) == {
        "amazon/S1/orders/2026-03-01.csv": (
            "matches no source: name or extension '.csv' in amazon/S1/orders/ (expected amazon/*/orders/*.txt)",
            ("amazon_orders",),
        ),
        "events/2026-03-01.json": (
            "matches no source: name or extension '.json' in events/ (expected events/*.jsonl*)",
            ("events",),
        ),
        "marketing/spend/2026-03-01.xlsx": (
            "matches no source: name or extension '.xlsx' in marketing/spend/ (expected marketing/spend/*.csv)",
            ("marketing_spend",),
        ),
    }


def test_unknown_top_folders_and_stray_root_files_belong_to_the_landing_root(tmp_path):
    touch(
        tmp_path, "shopify/orders/2026-03-01.csv", "stores.yml", "amazon/notes.txt", "events/2026/03/01.jsonl"
    )
    found = by_path(tmp_path)
    assert found["shopify/orders/2026-03-01.csv"] == (
        "matches no source: unknown folder 'shopify/'",
        ("stores",),
    )
    assert found["stores.yml"] == (
        "matches no source: at the landing folder's root only stores.yaml is read",
        ("stores",),
    )
    assert found["amazon/notes.txt"] == (
        "matches no source: unknown folder 'amazon/' (known here: <store_id>)",
        AMAZON,
    )
    assert found["events/2026/03/01.jsonl"] == (
        "matches no source: unknown folder 'events/2026/03/' (expected events/*.jsonl*)",
        ("events",),
    )
    assert len(found) == 4


def test_a_missing_landing_folder_has_nothing_unmatched(tmp_path):
    assert unmatched_files(tmp_path / "absent") == []
