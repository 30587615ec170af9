"""`nexus quarantine list|summary|show` on a real PostgreSQL, after loading hand-written files
whose bad lines (and the reasons the parsers give for them) are known line by line."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import pytest
from click.testing import CliRunner

from nexus_pipelines import cli
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import ingest
from tests.integration.test_loader import write_orders
from tests.unit.test_formats_sales_traffic import report

DAY = dt.date(2026, 3, 2)
REPORT_DAY = dt.date(2026, 11, 2)  # the date of the Sales and Traffic document of report()

S1 = "amazon/s1/orders/2026-03-02.txt"
S2 = "amazon/s2/orders/2026-03-02.txt"
TRAFFIC = "amazon/s1/sales_traffic/2026-11-02.json"


def order(order_id: str, quantity: str = "1", purchased: str = "2026-03-02T10:00:00+00:00") -> str:
    return (
        f"{order_id}\t{purchased}\t2026-03-02T11:00:00+00:00\tShipped\tSKU-1\tB01\t{quantity}\tUSD\t10.00\t0"
    )


QUANTITY_ABC = "quantity: 'abc' is not an integer"
QUANTITY_X1 = "quantity: 'x1' is not an integer"
BAD_PURCHASE = "purchase-date: 'not-a-date' is not an ISO-8601 timestamp"
PAGE_VIEWS = "trafficByDate.pageViews: 3000000000 is out of range for an integer column"
SESSIONS = "trafficByAsin.sessions: 3000000000 is out of range for an integer column"

# header = line 1
S1_LINES = [
    order("1-1"),  # 2
    order("1-2", quantity="abc"),  # 3
    order("1-3"),  # 4
    order("1-4", purchased="not-a-date"),  # 5
    order("1-5"),  # 6
]
S2_LINES = [
    order("2-1", quantity="abc"),  # 2
    order("2-2"),  # 3
    order("2-3", quantity="abc"),  # 4
    order("2-4", quantity="x1"),  # 5
]


def nexus(*args: str):
    return CliRunner().invoke(cli.main, ["quarantine", *args], prog_name="nexus")


@pytest.fixture
def landing(monkeypatch, fresh_db, tmp_path):
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "landing"
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEXUS_LANDING_DIR", str(folder))
    monkeypatch.setenv("NEXUS_DATABASE_URL", fresh_db)
    return folder


def traffic_document() -> dict:
    document = report()
    document["salesAndTrafficByDate"][1]["trafficByDate"]["pageViews"] = 3_000_000_000
    document["salesAndTrafficByAsin"][1]["trafficByAsin"]["sessions"] = 3_000_000_000
    return document


def load_all(url: str, landing) -> tuple[dt.datetime, dt.datetime]:
    """Load the three files; returns the time span the loads happened in."""
    write_orders(landing, "s1", "2026-03-02", S1_LINES)
    write_orders(landing, "s2", "2026-03-02", S2_LINES)
    path = landing / TRAFFIC
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(traffic_document()), encoding="utf-8")
    before = dt.datetime.now(dt.UTC)
    assert ingest(url, SOURCES["amazon_orders"], landing, DAY, DAY).rows_quarantined == 5
    for source in ("amazon_sales_traffic_by_date", "amazon_sales_traffic_by_asin"):
        assert ingest(url, SOURCES[source], landing, REPORT_DAY, REPORT_DAY).rows_quarantined == 1
    return before, dt.datetime.now(dt.UTC)


def test_before_any_load_every_view_is_empty_and_no_file_is_known(landing):
    for command in ("list", "summary"):
        result = nexus(command)
        assert (result.exit_code, result.stdout) == (0, "no quarantined rows\n"), result.output
        as_json = nexus(command, "--json")
        assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])
    unknown = nexus("show", S1)
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[-1] == f"Error: Invalid value for 'FILE': {S1} was never loaded"


def test_list_counts_rows_and_lines_per_source_and_file(landing, fresh_db):
    before, after = load_all(fresh_db, landing)
    result = nexus("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    loaded = [re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", line) for line in lines[1:-1]]
    assert all(loaded)
    for match in loaded:
        at = dt.datetime.strptime(match[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        assert before.replace(microsecond=0) <= at <= after
    # ordered by source, then file; the loaded column (checked above) cut off
    width = len(lines[0]) - len("loaded")
    assert [line[:width].rstrip() for line in lines[:-1]] == [
        "source                        file                                     rows  lines  partition",
        "amazon_orders                 amazon/s1/orders/2026-03-02.txt          2     3..5   2026-03-02",
        "amazon_orders                 amazon/s2/orders/2026-03-02.txt          3     2..5   2026-03-02",
        "amazon_sales_traffic_by_asin  amazon/s1/sales_traffic/2026-11-02.json  1     2..2   2026-11-02",
        "amazon_sales_traffic_by_date  amazon/s1/sales_traffic/2026-11-02.json  1     2..2   2026-11-02",
    ]
    assert lines[-1] == "7 row(s) from 3 file(s)"

    only = nexus("list", "--source", "amazon_orders", "--json")
    assert only.exit_code == 0, only.output
    document = json.loads(only.stdout)
    assert [{k: v for k, v in f.items() if k != "last_loaded_at"} for f in document] == [
        {
            "source": "amazon_orders",
            "file": S1,
            "rows": 2,
            "first_line": 3,
            "last_line": 5,
            "partition_date": "2026-03-02",
        },
        {
            "source": "amazon_orders",
            "file": S2,
            "rows": 3,
            "first_line": 2,
            "last_line": 5,
            "partition_date": "2026-03-02",
        },
    ]
    assert all(before <= dt.datetime.fromisoformat(f["last_loaded_at"]) <= after for f in document)


def test_summary_groups_by_the_whole_reason_or_by_its_field(landing, fresh_db):
    load_all(fresh_db, landing)
    result = nexus("summary")
    assert result.exit_code == 0, result.output
    # per file the most frequent reason first, ties by the reason's text
    assert result.stdout.splitlines() == [
        "source                        file                                     rows  reason",
        f"amazon_orders                 {S1}          1     {BAD_PURCHASE}",
        f"amazon_orders                 {S1}          1     {QUANTITY_ABC}",
        f"amazon_orders                 {S2}          2     {QUANTITY_ABC}",
        f"amazon_orders                 {S2}          1     {QUANTITY_X1}",
        f"amazon_sales_traffic_by_asin  {TRAFFIC}  1     {SESSIONS}",
        f"amazon_sales_traffic_by_date  {TRAFFIC}  1     {PAGE_VIEWS}",
    ]
    by_field = nexus("summary", "--by", "field", "--source", "amazon_orders")
    assert by_field.exit_code == 0, by_field.output
    assert by_field.stdout.splitlines() == [
        "source         file                             rows  field",
        f"amazon_orders  {S1}  1     purchase-date",
        f"amazon_orders  {S1}  1     quantity",
        f"amazon_orders  {S2}  3     quantity",
    ]
    fields = json.loads(nexus("summary", "--by", "field", "--json", "--source", "amazon_orders").stdout)
    assert fields == [
        {"source": "amazon_orders", "file": S1, "field": "purchase-date", "rows": 1},
        {"source": "amazon_orders", "file": S1, "field": "quantity", "rows": 1},
        {"source": "amazon_orders", "file": S2, "field": "quantity", "rows": 3},
    ]
    as_json = json.loads(nexus("summary", "--json", "--source", "amazon_sales_traffic_by_date").stdout)
    assert as_json == [
        {"source": "amazon_sales_traffic_by_date", "file": TRAFFIC, "reason": PAGE_VIEWS, "rows": 1}
    ]


def test_show_lists_one_files_rows_by_line_across_the_tables_it_feeds(landing, fresh_db):
    load_all(fresh_db, landing)
    result = nexus("show", TRAFFIC)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{TRAFFIC}: 2 quarantined row(s)"
    assert lines[1].split() == ["source", "line", "reason", "raw_text"]
    assert [line[: lines[1].index("raw_text")].rstrip() for line in lines[2:]] == [
        f"amazon_sales_traffic_by_asin  2     {SESSIONS}",
        f"amazon_sales_traffic_by_date  2     {PAGE_VIEWS}",
    ]
    document = json.loads(nexus("show", TRAFFIC, "--json").stdout)
    assert (document["file"], document["rows_quarantined"]) == (TRAFFIC, 2)
    raw = [json.loads(r["raw_text"]) for r in document["rows"]]
    assert raw == [
        traffic_document()["salesAndTrafficByAsin"][1],
        traffic_document()["salesAndTrafficByDate"][1],
    ]

    one_table = nexus("show", TRAFFIC, "--source", "amazon_sales_traffic_by_date", "--json")
    rows = json.loads(one_table.stdout)["rows"]
    assert [(r["source"], r["line"], r["reason"]) for r in rows] == [
        ("amazon_sales_traffic_by_date", 2, PAGE_VIEWS)
    ]

    # the raw line with its tabs escaped; --limit keeps the first lines and says so
    first = nexus("show", str(landing / S2), "--limit", "2")
    assert first.exit_code == 0, first.output
    out = first.stdout.splitlines()
    assert out[0] == f"{S2}: 3 quarantined row(s), the first 2 shown"
    assert out[2:] == [
        f"amazon_orders  2     {QUANTITY_ABC}  " + S2_LINES[0].replace("\t", "\\t"),
        f"amazon_orders  4     {QUANTITY_ABC}  " + S2_LINES[2].replace("\t", "\\t"),
    ]


def test_an_unknown_file_is_a_usage_error_naming_the_closest_known_files(landing, fresh_db):
    load_all(fresh_db, landing)
    typo = nexus("show", "amazon/s1/orders/2026-03-20.txt")
    assert typo.exit_code == 2
    assert "Traceback" not in typo.output
    assert typo.stderr.splitlines()[-1] == (
        "Error: Invalid value for 'FILE': amazon/s1/orders/2026-03-20.txt was never loaded;"
        f" did you mean {S1}, {S2}?"
    )
    nothing_like = nexus("show", "notes.md")
    assert nothing_like.exit_code == 2
    assert (
        nothing_like.stderr.splitlines()[-1] == "Error: Invalid value for 'FILE': notes.md was never loaded"
    )
    wrong_source = nexus("show", S1, "--source", "events")
    assert wrong_source.exit_code == 2
    assert wrong_source.stderr.splitlines()[-1] == (
        f"Error: Invalid value for 'FILE': {S1} was never loaded of source events"
    )


def test_reloading_a_fixed_file_replaces_its_quarantined_rows(landing, fresh_db):
    load_all(fresh_db, landing)
    before = nexus("show", S2, "--json")
    assert [r["line"] for r in json.loads(before.stdout)["rows"]] == [2, 4, 5]

    write_orders(landing, "s2", "2026-03-02", [order("2-1"), order("2-2"), order("2-3"), order("2-4")])
    summary = ingest(fresh_db, SOURCES["amazon_orders"], landing, DAY, DAY)
    assert (summary.files_loaded, summary.files_skipped, summary.rows_quarantined) == (1, 1, 0)

    fixed = nexus("show", S2)
    assert (fixed.exit_code, fixed.stdout) == (0, f"{S2}: 0 quarantined row(s)\n"), fixed.output
    assert json.loads(nexus("show", S2, "--json").stdout) == {"file": S2, "rows_quarantined": 0, "rows": []}
    # the other files keep theirs
    assert json.loads(nexus("show", S1, "--json").stdout)["rows_quarantined"] == 2
    listed = json.loads(nexus("list", "--json").stdout)
    assert [(f["source"], f["file"], f["rows"]) for f in listed] == [
        ("amazon_orders", S1, 2),
        ("amazon_sales_traffic_by_asin", TRAFFIC, 1),
        ("amazon_sales_traffic_by_date", TRAFFIC, 1),
    ]
