"""`nexus quarantine list|summary|show` on a real PostgreSQL, after loading hand-written files
whose bad lines (and the reasons the parsers give for them) are known line by line."""

from __future__ import annotations

import datetime as dt
import json
import os

import psycopg
import pytest
from click.testing import CliRunner

from nexus_pipelines import cli
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import ingest
from nexus_pipelines.lib.warehouse import quarantine
from tests.integration.test_loader import write_orders
from tests.unit.test_formats_sales_traffic import report

DAY = dt.date(2026, 3, 2)
REPORT_DAY = dt.date(2026, 11, 2)  # the date of the Sales and Traffic document of report()

S1 = "amazon/s1/orders/2026-03-02.txt"
S2 = "amazon/s2/orders/2026-03-02.txt"
RETURNS = "amazon/s1/returns/2026-03-02.txt"
TRAFFIC = "amazon/s1/sales_traffic/2026-11-02.json"
EVENTS = "events/2026-03-02.jsonl"

QUANTITY_ABC = "quantity: 'abc' is not an integer"
BAD_PURCHASE = "purchase-date: 'not-a-date' is not an ISO-8601 timestamp"
RETURNED_NONE = "quantity: must be greater than 0, got 0"
PAGE_VIEWS = "trafficByDate.pageViews: 3000000000 is out of range for an integer column"
SESSIONS = "trafficByAsin.sessions: 3000000000 is out of range for an integer column"
BROKEN_JSON = "not valid JSON: unexpected character, expected a string key: line 1 column 19 (char 18)"

# when each file was loaded, as set in ops.load_manifest after the loads
LOADED = {
    S1: "2026-03-03 06:02:11",
    S2: "2026-03-03 06:02:12",
    RETURNS: "2026-03-03 06:03:00",
    TRAFFIC: "2026-11-03 07:00:00",
    EVENTS: "2026-03-03 06:04:30",
}


def order(order_id: str, quantity: str = "1", purchased: str = "2026-03-02T10:00:00+00:00") -> str:
    return (
        f"{order_id}\t{purchased}\t2026-03-02T11:00:00+00:00\tShipped\tSKU-1\tB01\t{quantity}\tUSD\t10.00\t0"
    )


# the header is line 1
S1_LINES = [
    order("1-1"),  # 2
    order("1-2", quantity="abc"),  # 3: QUANTITY_ABC
    order("1-3"),  # 4
    order("1-4", purchased="not-a-date"),  # 5: BAD_PURCHASE
    order("1-5"),  # 6
]
S2_LINES = [
    order("2-1"),  # 2
    order("2-2", quantity="abc"),  # 3: QUANTITY_ABC
    order("2-3", quantity="abc"),  # 4: QUANTITY_ABC
]

RETURNS_HEADER = (
    "return-date\torder-id\tsku\tasin\tfnsku\tproduct-name\tquantity\tfulfillment-center-id"
    "\tdetailed-disposition\treason\tstatus\tlicense-plate-number\tcustomer-comments"
)


def returned(quantity: str) -> str:
    return (
        f"2026-03-01T10:00:00+00:00\t111-1\tSKU-1\tB01\tX001\tMug\t{quantity}\tSEA8\tSELLABLE"
        "\tNOT_AS_DESCRIBED\tUnit returned to inventory\tLPN1\t"
    )


RETURNS_LINES = [returned("1"), returned("0"), returned("2")]  # lines 2, 3 (RETURNED_NONE), 4

BROKEN_EVENT = '{"type": "track", broken'


def event(n: int) -> str:
    return json.dumps(
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": f"m-{n}",
            "anonymousId": "a1",
            "timestamp": f"2026-03-02T10:00:0{n}Z",
        }
    )


EVENT_LINES = [event(1), BROKEN_EVENT, event(3)]  # no header: the broken one is line 2


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


def write(landing, relative: str, text: str) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def load_all(url: str, landing) -> None:
    """Load the five files, then give each load a known time in ops.load_manifest."""
    write_orders(landing, "s1", "2026-03-02", S1_LINES)
    write_orders(landing, "s2", "2026-03-02", S2_LINES)
    write(landing, RETURNS, "\n".join([RETURNS_HEADER, *RETURNS_LINES]) + "\n")
    write(landing, TRAFFIC, json.dumps(traffic_document()))
    write(landing, EVENTS, "\n".join(EVENT_LINES) + "\n")
    assert ingest(url, SOURCES["amazon_orders"], landing, DAY, DAY).rows_quarantined == 4
    assert ingest(url, SOURCES["amazon_returns"], landing, DAY, DAY).rows_quarantined == 1
    assert ingest(url, SOURCES["events"], landing, DAY, DAY).rows_quarantined == 1
    for source in ("amazon_sales_traffic_by_date", "amazon_sales_traffic_by_asin"):
        assert ingest(url, SOURCES[source], landing, REPORT_DAY, REPORT_DAY).rows_quarantined == 1
    with psycopg.connect(url) as conn:
        for file, at in LOADED.items():
            conn.execute(
                "update ops.load_manifest set started_at = %s::timestamp at time zone 'UTC' where file_path = %s",
                (at, file),
            )
        # an older load and a later failed attempt of S1: its rows are from the latest successful load
        conn.execute(
            """insert into ops.load_manifest (batch_id, source, file_path, sha256, status, error, started_at)
               select gen_random_uuid(), source, file_path, sha256, status, error, started_at::timestamptz
               from (values ('loaded', null, '2026-03-02 06:00:00+00'),
                            ('failed', 'damaged', '2026-03-04 06:00:00+00')) as v(status, error, started_at),
                    (select source, file_path, sha256 from ops.load_manifest where file_path = %s) as m""",
            (S1,),
        )


def err_line(result) -> str:
    return result.stderr.splitlines()[-1]


# ---------------------------------------------------------------- nothing loaded yet
def test_an_empty_database_says_nothing_is_quarantined(landing):
    for command in ("list", "summary"):
        result = nexus(command)
        assert (result.exit_code, result.stdout) == (0, "nothing is quarantined\n"), result.output
        as_json = nexus(command, "--json")
        assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])
    one = nexus("summary", "--by", "field", "--source", "amazon_orders")
    assert (one.exit_code, one.stdout) == (0, "nothing is quarantined for source amazon_orders\n")
    unknown = nexus("show", S1)
    assert unknown.exit_code == 2
    assert err_line(unknown) == f"Error: Invalid value for 'FILE': no load of {S1} is recorded"


def test_a_source_that_is_not_a_raw_table_is_a_usage_error(landing):
    for args in (["list"], ["summary"], ["show", S1]):
        result = nexus(*args, "--source", "amazon_order")
        assert result.exit_code == 2
        assert err_line(result).startswith(
            "Error: Invalid value for '--source': 'amazon_order' is not one of "
        )
    by = nexus("summary", "--by", "store")
    assert by.exit_code == 2
    assert err_line(by) == "Error: Invalid value for '--by': 'store' is not one of 'reason', 'field'."


# ---------------------------------------------------------------- list
def test_list_counts_rows_and_lines_per_source_and_file_with_their_latest_load(
    landing, fresh_db, monkeypatch
):
    load_all(fresh_db, landing)
    monkeypatch.setenv("PGTZ", "America/New_York")  # a session time zone other than UTC: times still in UTC
    result = nexus("list")
    assert result.exit_code == 0, result.output
    # widths: the widest cell, or the header and two blanks; the rows column right-aligned
    assert result.stdout.splitlines() == [
        f"{'source':<28}  {'file':<39}  {'rows':>6}  {'lines':<7}  {'partition':<11}  loaded",
        f"{'amazon_orders':<28}  {S1:<39}  {'2':>6}  {'3..5':<7}  {'2026-03-02':<11}  2026-03-03 06:02:11",
        f"{'amazon_orders':<28}  {S2:<39}  {'2':>6}  {'3..4':<7}  {'2026-03-02':<11}  2026-03-03 06:02:12",
        f"{'amazon_returns':<28}  {RETURNS:<39}  {'1':>6}  {'3..3':<7}  {'2026-03-02':<11}  2026-03-03 06:03:00",
        f"{'amazon_sales_traffic_by_asin':<28}  {TRAFFIC:<39}  {'1':>6}  {'2..2':<7}  {'2026-11-02':<11}  2026-11-03 07:00:00",
        f"{'amazon_sales_traffic_by_date':<28}  {TRAFFIC:<39}  {'1':>6}  {'2..2':<7}  {'2026-11-02':<11}  2026-11-03 07:00:00",
        f"{'events':<28}  {EVENTS:<39}  {'1':>6}  {'2..2':<7}  {'2026-03-02':<11}  2026-03-03 06:04:30",
        "8 row(s) quarantined from 5 file(s)",
    ]

    only = nexus("list", "--source", "amazon_orders", "--json")
    assert only.exit_code == 0, only.output
    assert json.loads(only.stdout) == [
        {
            "source": "amazon_orders",
            "file": S1,
            "rows": 2,
            "first_line": 3,
            "last_line": 5,
            "partition_date": "2026-03-02",
            "last_loaded_at": "2026-03-03T06:02:11+00:00",
        },
        {
            "source": "amazon_orders",
            "file": S2,
            "rows": 2,
            "first_line": 3,
            "last_line": 4,
            "partition_date": "2026-03-02",
            "last_loaded_at": "2026-03-03T06:02:12+00:00",
        },
    ]
    never_loaded = nexus("list", "--source", "amazon_inventory")
    assert (never_loaded.exit_code, never_loaded.stdout) == (
        0,
        "nothing is quarantined for source amazon_inventory\n",
    )


# ---------------------------------------------------------------- summary
def test_summary_counts_rows_and_files_per_reason(landing, fresh_db):
    load_all(fresh_db, landing)
    result = nexus("summary", "--source", "amazon_orders")
    assert result.exit_code == 0, result.output
    # the most frequent reason first; QUANTITY_ABC is on 1 line of S1 and 2 of S2
    assert result.stdout.splitlines() == [
        f"{'source':<13}  {'reason':<56}  {'rows':>6}  {'files':>7}",
        f"amazon_orders  {QUANTITY_ABC:<56}  {'3':>6}  {'2':>7}",
        f"amazon_orders  {BAD_PURCHASE:<56}  {'1':>6}  {'1':>7}",
    ]
    everything = nexus("summary", "--json")
    assert everything.exit_code == 0, everything.output
    assert json.loads(everything.stdout) == [
        {"source": "amazon_orders", "reason": QUANTITY_ABC, "rows": 3, "files": 2},
        {"source": "amazon_orders", "reason": BAD_PURCHASE, "rows": 1, "files": 1},
        {"source": "amazon_returns", "reason": RETURNED_NONE, "rows": 1, "files": 1},
        {"source": "amazon_sales_traffic_by_asin", "reason": SESSIONS, "rows": 1, "files": 1},
        {"source": "amazon_sales_traffic_by_date", "reason": PAGE_VIEWS, "rows": 1, "files": 1},
        {"source": "events", "reason": BROKEN_JSON, "rows": 1, "files": 1},
    ]


def test_summary_by_field_groups_on_the_text_before_the_first_colon(landing, fresh_db):
    load_all(fresh_db, landing)
    result = nexus("summary", "--by", "field")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{'source':<28}  {'field':<23}  {'rows':>6}  {'files':>7}",
        f"{'amazon_orders':<28}  {'quantity':<23}  {'3':>6}  {'2':>7}",
        f"{'amazon_orders':<28}  {'purchase-date':<23}  {'1':>6}  {'1':>7}",
        f"{'amazon_returns':<28}  {'quantity':<23}  {'1':>6}  {'1':>7}",
        f"{'amazon_sales_traffic_by_asin':<28}  {'trafficByAsin.sessions':<23}  {'1':>6}  {'1':>7}",
        f"{'amazon_sales_traffic_by_date':<28}  {'trafficByDate.pageViews':<23}  {'1':>6}  {'1':>7}",
        f"{'events':<28}  {'not valid JSON':<23}  {'1':>6}  {'1':>7}",
    ]
    as_json = nexus("summary", "--by", "field", "--json", "--source", "events")
    assert json.loads(as_json.stdout) == [
        {"source": "events", "field": "not valid JSON", "rows": 1, "files": 1}
    ]


# ---------------------------------------------------------------- show
def test_show_lists_one_files_rows_by_line_with_the_raw_text(landing, fresh_db):
    load_all(fresh_db, landing)
    result = nexus("show", S1)
    assert result.exit_code == 0, result.output
    raw = [S1_LINES[1].replace("\t", "\\t"), S1_LINES[3].replace("\t", "\\t")]  # lines 3 and 5
    assert result.stdout.splitlines() == [
        f"{S1}: 2 quarantined row(s)",
        f"{'source':<13}  {'line':>6}  {'reason':<56}  raw_text",
        f"amazon_orders  {'3':>6}  {QUANTITY_ABC:<56}  {raw[0]}",
        f"amazon_orders  {'5':>6}  {BAD_PURCHASE:<56}  {raw[1]}",
    ]
    # --limit keeps the first lines and says so; an absolute path in the landing folder works too
    first = nexus("show", str(landing / S1), "--limit", "1")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == f"{S1}: 2 quarantined row(s), the first 1 shown"
    assert first.stdout.splitlines()[2:] == [f"amazon_orders  {'3':>6}  {QUANTITY_ABC}  {raw[0]}"]
    dotted = nexus("show", f"./{S1}", "--json")
    assert (dotted.exit_code, json.loads(dotted.stdout)["rows_quarantined"]) == (0, 2), dotted.output

    # a file with quarantined rows is known even when its loads are no longer in the manifest
    with psycopg.connect(fresh_db) as conn:
        conn.execute("delete from ops.load_manifest where file_path = %s", (EVENTS,))
    events = nexus("show", EVENTS, "--json")
    assert events.exit_code == 0, events.output
    assert json.loads(events.stdout) == {
        "file": EVENTS,
        "rows_quarantined": 1,
        "rows": [{"source": "events", "line": 2, "reason": BROKEN_JSON, "raw_text": BROKEN_EVENT}],
    }


def test_show_reads_every_table_a_file_feeds(landing, fresh_db):
    load_all(fresh_db, landing)
    document = json.loads(nexus("show", TRAFFIC, "--json").stdout)
    assert (document["file"], document["rows_quarantined"]) == (TRAFFIC, 2)
    assert [(r["source"], r["line"], r["reason"]) for r in document["rows"]] == [
        ("amazon_sales_traffic_by_asin", 2, SESSIONS),
        ("amazon_sales_traffic_by_date", 2, PAGE_VIEWS),
    ]
    assert [json.loads(r["raw_text"]) for r in document["rows"]] == [
        traffic_document()["salesAndTrafficByAsin"][1],
        traffic_document()["salesAndTrafficByDate"][1],
    ]
    text = nexus("show", TRAFFIC).stdout.splitlines()
    assert text[0] == f"{TRAFFIC}: 2 quarantined row(s)"
    assert [line.split("  ")[0] for line in text[2:]] == [
        "amazon_sales_traffic_by_asin",
        "amazon_sales_traffic_by_date",
    ]
    one_table = json.loads(
        nexus("show", TRAFFIC, "--source", "amazon_sales_traffic_by_date", "--json").stdout
    )
    assert (one_table["rows_quarantined"], [r["reason"] for r in one_table["rows"]]) == (1, [PAGE_VIEWS])


def test_an_unknown_file_is_a_usage_error_naming_the_closest_known_files(landing, fresh_db):
    load_all(fresh_db, landing)
    typo = nexus("show", "amazon/s1/orders/2026-03-20.txt")
    assert typo.exit_code == 2
    assert "Traceback" not in typo.output
    assert err_line(typo) == (
        "Error: Invalid value for 'FILE': no load of amazon/s1/orders/2026-03-20.txt is recorded;"
        f" did you mean {S1} or {S2} or {RETURNS}?"
    )
    gz = nexus("show", "events/2026-03-02.jsonl.gz")
    assert (gz.exit_code, err_line(gz)) == (
        2,
        f"Error: Invalid value for 'FILE': no load of events/2026-03-02.jsonl.gz is recorded; did you mean {EVENTS}?",
    )
    nothing_like = nexus("show", "notes.md")
    assert nothing_like.exit_code == 2
    assert err_line(nothing_like) == "Error: Invalid value for 'FILE': no load of notes.md is recorded"
    wrong_source = nexus("show", S1, "--source", "events")
    assert wrong_source.exit_code == 2
    assert err_line(wrong_source) == (
        f"Error: Invalid value for 'FILE': no load of {S1} is recorded for source events"
    )


# ---------------------------------------------------------------- a fixed file loaded again
def test_reloading_a_fixed_file_replaces_its_quarantined_rows(landing, fresh_db):
    load_all(fresh_db, landing)
    assert [r["line"] for r in json.loads(nexus("show", S1, "--json").stdout)["rows"]] == [3, 5]

    write_orders(landing, "s1", "2026-03-02", [order(f"1-{n}") for n in range(1, 6)])
    loaded = ingest(fresh_db, SOURCES["amazon_orders"], landing, DAY, DAY)
    assert (loaded.files_loaded, loaded.files_skipped, loaded.rows_quarantined) == (1, 1, 0)

    fixed = nexus("show", S1)
    assert (fixed.exit_code, fixed.stdout) == (0, f"{S1}: nothing is quarantined\n"), fixed.output
    assert json.loads(nexus("show", S1, "--json").stdout) == {"file": S1, "rows_quarantined": 0, "rows": []}
    # the file is gone from the list and from the counts; the other files keep theirs
    listed = json.loads(nexus("list", "--json").stdout)
    assert [(f["source"], f["file"], f["rows"]) for f in listed] == [
        ("amazon_orders", S2, 2),
        ("amazon_returns", RETURNS, 1),
        ("amazon_sales_traffic_by_asin", TRAFFIC, 1),
        ("amazon_sales_traffic_by_date", TRAFFIC, 1),
        ("events", EVENTS, 1),
    ]
    assert nexus("list").stdout.splitlines()[-1] == "6 row(s) quarantined from 4 file(s)"
    assert json.loads(nexus("summary", "--json", "--source", "amazon_orders").stdout) == [
        {"source": "amazon_orders", "reason": QUANTITY_ABC, "rows": 2, "files": 1}
    ]


# ---------------------------------------------------------------- the library on its own
def test_the_library_checks_its_arguments_and_reads_only_existing_tables(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        assert quarantine.files(conn) == []
        assert quarantine.summary(conn, by="field") == []
        assert quarantine.show(conn, S1, 10) == []
        assert quarantine.known_files(conn) == set()
        with pytest.raises(ValueError, match="unknown source 'orders'"):
            quarantine.files(conn, "orders")
        with pytest.raises(ValueError, match="by must be 'reason' or 'field'"):
            quarantine.summary(conn, by="file")  # type: ignore[arg-type]
