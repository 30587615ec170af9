"""COPY loader and ingestion on a real PostgreSQL: counts, idempotence, bad files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from nexus_pipelines.lib.formats import SOURCES, ParseContext
from nexus_pipelines.lib.ingestion import IngestionFailed, ingest
from nexus_pipelines.lib.warehouse.loader import (
    LoadResult,
    load_files,
    loader_connection,
    record_unloadable,
    remove_missing_files,
)

ORDERS_HEADER = (
    "amazon-order-id\tpurchase-date\tlast-updated-date\torder-status\tsku\tasin\tquantity"
    "\tcurrency\titem-price\titem-promotion-discount"
)


def write_orders(landing: Path, store: str, day: str, lines: list[str], header: str = ORDERS_HEADER) -> Path:
    path = landing / "amazon" / store / "orders" / f"{day}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


GOOD = [
    "111-1\t2026-03-02T10:00:00+00:00\t2026-03-02T11:00:00+00:00\tShipped\tSKU-1\tB01\t2\tUSD\t20.00\t0",
    "111-2\t2026-03-02T12:00:00+00:00\t2026-03-02T12:00:00+00:00\tCancelled\tSKU-1\tB01\t1\tUSD\t10.00\t0",
    "111-3\t2026-03-02T13:00:00+00:00\t2026-03-02T13:00:00+00:00\tShipped\tSKU-2\tB02\t3\tUSD\t29.97\t1.50",
]
BAD_QUANTITY = (
    "111-4\t2026-03-02T14:00:00+00:00\t2026-03-02T14:00:00+00:00\tShipped\tSKU-2\tB02\tabc\tUSD\t9.99\t0"
)
BAD_DATE = "111-5\tnot-a-date\t2026-03-02T14:00:00+00:00\tShipped\tSKU-2\tB02\t1\tUSD\t9.99\t0"


def table_rows(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        columns = [c.name for c in SOURCES[table].columns] + [
            "_partition_date",
            "_source_file",
            "_row_number",
        ]
        query = f"select {', '.join(columns)} from raw.{table} order by _source_file, _row_number"
        return conn.execute(query).fetchall()


def test_rows_in_equal_loaded_plus_quarantined(fresh_db, tmp_path):
    write_orders(tmp_path, "s1", "2026-03-02", [GOOD[0], BAD_QUANTITY, GOOD[1], BAD_DATE, GOOD[2]])
    day = dt.date(2026, 3, 2)
    summary = ingest(fresh_db, SOURCES["amazon_orders"], tmp_path, day, day)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (5, 3, 2)
    with psycopg.connect(fresh_db) as conn:
        manifest = conn.execute(
            "select file_path, rows_read, rows_loaded, rows_quarantined, status, length(sha256) from ops.load_manifest"
        ).fetchall()
        quarantined = conn.execute(
            "select _row_number, reason, raw_text from quarantine.amazon_orders order by _row_number"
        ).fetchall()
        loaded_lines = [r[0] for r in conn.execute("select _row_number from raw.amazon_orders order by 1")]
        sales = conn.execute("select sum(item_price), sum(quantity) from raw.amazon_orders").fetchone()
    assert manifest == [("amazon/s1/orders/2026-03-02.txt", 5, 3, 2, "loaded", 64)]
    # header is line 1: the bad rows are physical lines 3 and 5, the good ones 2, 4 and 6
    assert [q[0] for q in quarantined] == [3, 5]
    assert "quantity" in quarantined[0][1] and "purchase" in quarantined[1][1]
    assert quarantined[0][2].startswith("111-4\t")
    assert loaded_lines == [2, 4, 6]
    assert sales == (Decimal("59.97"), 6)  # 20.00 + 10.00 + 29.97; 2 + 1 + 3


def test_reloading_a_partition_leaves_identical_contents(fresh_db, tmp_path):
    write_orders(tmp_path, "s1", "2026-03-02", GOOD)
    write_orders(tmp_path, "s2", "2026-03-02", GOOD[:2])
    day = dt.date(2026, 3, 2)
    spec = SOURCES["amazon_orders"]
    ingest(fresh_db, spec, tmp_path, day, day)
    first = table_rows(fresh_db, "amazon_orders")
    assert len(first) == 5
    forced = ingest(fresh_db, spec, tmp_path, day, day, force=True)
    assert forced.files_loaded == 2 and forced.rows_loaded == 5
    assert table_rows(fresh_db, "amazon_orders") == first
    unchanged = ingest(fresh_db, spec, tmp_path, day, day)
    assert (unchanged.files_loaded, unchanged.files_skipped) == (0, 2)
    assert table_rows(fresh_db, "amazon_orders") == first


def test_a_changed_or_removed_file_replaces_what_it_loaded_before(fresh_db, tmp_path):
    day = dt.date(2026, 3, 2)
    spec = SOURCES["amazon_orders"]
    write_orders(tmp_path, "s1", "2026-03-02", GOOD)
    second = write_orders(tmp_path, "s2", "2026-03-02", GOOD)
    ingest(fresh_db, spec, tmp_path, day, day)
    write_orders(tmp_path, "s1", "2026-03-02", GOOD[:1])
    second.unlink()
    ingest(fresh_db, spec, tmp_path, day, day)
    rows = table_rows(fresh_db, "amazon_orders")
    assert [(r[0], r[1]) for r in rows] == [("s1", "111-1")]


def test_unreadable_file_fails_with_file_and_line_while_other_partitions_load(fresh_db, tmp_path):
    spec = SOURCES["amazon_orders"]
    write_orders(tmp_path, "s1", "2026-03-02", GOOD)
    # a header without the required amazon-order-id column cannot be mapped at all
    broken_header = ORDERS_HEADER.replace("amazon-order-id\t", "order-ref\t")
    bad = write_orders(tmp_path, "s1", "2026-03-03", GOOD, header=broken_header)
    with pytest.raises(IngestionFailed) as failure:
        ingest(fresh_db, spec, tmp_path, dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    message = str(failure.value)
    assert str(bad) in message and "line 1" in message and "amazon-order-id" in message
    with psycopg.connect(fresh_db) as conn:
        by_partition = conn.execute(
            "select _partition_date, count(*) from raw.amazon_orders group by 1 order by 1"
        ).fetchall()
        statuses = conn.execute(
            "select file_path, status, error is not null from ops.load_manifest order by file_path"
        ).fetchall()
    assert by_partition == [(dt.date(2026, 3, 2), 3)]
    assert statuses == [
        ("amazon/s1/orders/2026-03-02.txt", "loaded", False),
        ("amazon/s1/orders/2026-03-03.txt", "failed", True),
    ]


def test_a_bad_new_version_of_a_file_keeps_the_previous_good_rows(fresh_db, tmp_path):
    spec = SOURCES["amazon_orders"]
    day = dt.date(2026, 3, 2)
    write_orders(tmp_path, "s1", "2026-03-02", GOOD)
    ingest(fresh_db, spec, tmp_path, day, day)
    write_orders(tmp_path, "s1", "2026-03-02", GOOD, header="garbage")
    with pytest.raises(IngestionFailed):
        ingest(fresh_db, spec, tmp_path, day, day)
    assert len(table_rows(fresh_db, "amazon_orders")) == 3


def test_a_file_breaking_mid_copy_is_undone_alone_and_the_window_still_loads(fresh_db, tmp_path):
    """A gzip file truncated after thousands of good lines fails at its break, inside the batch's
    one transaction: its earlier rows stay, the other day's file loads, the failure is recorded."""
    import gzip

    event = (
        '{"type":"track","event":"Product Viewed","messageId":"%s-%d","anonymousId":"a1",'
        '"timestamp":"%sT10:00:00Z","properties":{"sku":"SKU-1"}}'
    )
    folder = tmp_path / "events"
    folder.mkdir()
    first = folder / "2026-03-02.jsonl.gz"
    first.write_bytes(
        gzip.compress(("\n".join(event % ("old", i, "2026-03-02") for i in range(3)) + "\n").encode())
    )
    ingest(fresh_db, SOURCES["events"], tmp_path, dt.date(2026, 3, 2), dt.date(2026, 3, 2))
    # the new version: 20,000 lines (well past COPY's first blocks), then cut in the middle
    whole = gzip.compress(("\n".join(event % ("new", i, "2026-03-02") for i in range(20000)) + "\n").encode())
    first.write_bytes(whole[: len(whole) * 3 // 4])
    (folder / "2026-03-03.jsonl").write_text(
        "\n".join(event % ("next", i, "2026-03-03") for i in range(5)) + "\n"
    )
    with pytest.raises(IngestionFailed) as failure:
        ingest(fresh_db, SOURCES["events"], tmp_path, dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    assert "2026-03-02.jsonl.gz" in str(failure.value) and "damaged gzip data" in str(failure.value)
    with psycopg.connect(fresh_db) as conn:
        ids = {r[0] for r in conn.execute("select message_id from raw.events")}
        statuses = conn.execute("select file_path, status from ops.load_manifest order by load_id").fetchall()
    assert ids == {f"old-{i}" for i in range(3)} | {f"next-{i}" for i in range(5)}
    assert statuses[-2:] == [("events/2026-03-02.jsonl.gz", "failed"), ("events/2026-03-03.jsonl", "loaded")]


def test_events_keep_resends_in_raw_and_quarantine_broken_lines(fresh_db, tmp_path):
    path = tmp_path / "events" / "2026-03-02.jsonl"
    path.parent.mkdir(parents=True)
    event = (
        '{"type":"track","event":"Product Viewed","messageId":"m-%d","anonymousId":"a1",'
        '"timestamp":"2026-03-02T10:00:0%dZ","properties":{"sku":"SKU-1"}}'
    )
    path.write_text(
        "\n".join(
            [event % (1, 1), event % (2, 2), event % (2, 2), '{"type": "track", broken', event % (3, 3)]
        )
        + "\n"
    )
    day = dt.date(2026, 3, 2)
    summary = ingest(fresh_db, SOURCES["events"], tmp_path, day, day)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (5, 4, 1)
    with psycopg.connect(fresh_db) as conn:
        ids = [r[0] for r in conn.execute("select message_id from raw.events order by _row_number")]
        props = conn.execute("select properties->>'sku' from raw.events limit 1").fetchone()[0]
        line = conn.execute("select _row_number from quarantine.events").fetchone()[0]
    assert ids == ["m-1", "m-2", "m-2", "m-3"]
    assert props == "SKU-1"
    assert line == 4


def test_two_processes_starting_the_embedded_server_at_once_share_one_server():
    """Starting is idempotent and serialised by a lock: both callers get the same running server."""
    import shutil
    import subprocess
    import sys
    import tempfile

    home = tempfile.mkdtemp(prefix="nexus-start-")
    script = (
        "from nexus_pipelines.lib.config import load_settings\n"
        "from nexus_pipelines.lib.warehouse import embedded\n"
        f"s = embedded.start(load_settings({{'NEXUS_HOME': {home!r}}}))\n"
        "print(s.pid)\n"
    )
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        pids = [p.communicate(timeout=120)[0].strip() for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert pids[0] == pids[1] and pids[0].isdigit()
        from nexus_pipelines.lib.config import load_settings
        from nexus_pipelines.lib.warehouse import embedded

        settings = load_settings({"NEXUS_HOME": home})
        assert embedded.status(settings).pid == int(pids[0])
        assert embedded.stop(settings) is True
        assert embedded.status(settings).running is False
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_replace_table_copies_a_frame_and_keeps_up_with_new_columns(fresh_db):
    import pandas as pd

    from nexus_pipelines.lib.warehouse.frames import read_frame, replace_table

    replace_table(fresh_db, "analytics", "t", pd.DataFrame({"k": ["a", "b"], "v": [1.5, None]}))
    replace_table(fresh_db, "analytics", "t", pd.DataFrame({"k": ["c"], "v": [2.0], "n": [7]}))
    got = read_frame(fresh_db, "select k, v, n from analytics.t order by k")
    assert got.to_dict("records") == [{"k": "c", "v": 2.0, "n": 7}]
    replace_table(
        fresh_db, "analytics", "t", pd.DataFrame({"k": ["d"], "v": [3.0], "n": [8]}), where=("k = %s", ("d",))
    )
    assert read_frame(fresh_db, "select count(*) as rows from analytics.t")["rows"].tolist() == [2]


def test_only_a_new_first_link_of_a_device_rebuilds_its_older_sessions(fresh_db, tmp_path):
    """A logged-in user's everyday events do not re-key the device's history; a device linked for
    the first time does (its earlier anonymous events now belong to the user)."""
    from nexus_pipelines.lib.warehouse import changes

    def event(day, n, anon, user=None, kind="track"):
        body = {
            "type": kind,
            "messageId": f"{anon}-{day}-{n}",
            "anonymousId": anon,
            "timestamp": f"{day}T10:00:0{n}Z",
        }
        if kind == "track":
            body["event"] = "Product Viewed"
        if user:
            body["userId"] = user
        return json.dumps(body)

    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "2026-03-02.jsonl").write_text(event("2026-03-02", 1, "a-new") + "\n")  # anonymous so far
    (folder / "2026-03-08.jsonl").write_text(event("2026-03-08", 1, "a-known", "u-known", "identify") + "\n")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create schema marts")  # the facts exist: a plan of dates, not a full rebuild
        conn.execute("create table marts.fct_sessions (x int)")
        conn.execute("create table marts.fct_goal_completions (x int)")
    ingest(fresh_db, SOURCES["events"], tmp_path, dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        changes.consume(conn, changes.rebuild_plan(conn, "product", None))
    # the new day: the known device's user browses again, the new device logs in for the first time
    (folder / "2026-03-12.jsonl").write_text(
        event("2026-03-12", 1, "a-known", "u-known")
        + "\n"
        + event("2026-03-12", 2, "a-new", "u-new", "identify")
        + "\n"
    )
    ingest(fresh_db, SOURCES["events"], tmp_path, dt.date(2026, 3, 12), dt.date(2026, 3, 12))
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        plan = changes.rebuild_plan(conn, "product", None, session_lookback_days=1)
    days = {d.day for d in plan.dates["sessions"]}
    assert days == {1, 2, 3, 11, 12, 13}  # a-new's March 2 (±1) and the new day (±1); not a-known's March 8


# ---------------------------------------------------------------- load_files and its bookkeeping


def _orders_context(landing: Path, store: str, lines: list[str]) -> ParseContext:
    path = write_orders(landing, store, "2026-03-02", lines)
    return ParseContext(path, path.relative_to(landing).as_posix(), dt.date(2026, 3, 2), store_id=store)


def test_load_results_manifest_and_quarantine_lineage(fresh_db, tmp_path):
    spec = SOURCES["amazon_orders"]
    ctx = _orders_context(tmp_path, "s1", [GOOD[0], BAD_QUANTITY, GOOD[2]])
    sha = hashlib.sha256(ctx.path.read_bytes()).hexdigest()
    day = dt.date(2026, 3, 2)
    with loader_connection(fresh_db, spec) as conn:
        results, failed = load_files(conn, spec, [ctx])
        assert failed == []
        (loaded,) = results
        assert 0 < loaded.duration_seconds < 60
        assert loaded == LoadResult(
            "amazon_orders", ctx.relative_path, day, 3, 2, 1, loaded.duration_seconds, False, sha
        )
        # unchanged: skipped without force (the default), with zero counts
        (skipped,) = load_files(conn, spec, [ctx])[0]
        assert 0 <= skipped.duration_seconds < 60
        assert skipped == LoadResult(
            "amazon_orders", ctx.relative_path, day, 0, 0, 0, skipped.duration_seconds, True, sha
        )
        manifest = conn.execute(
            """select source, file_path, partition_date, sha256, size_bytes, rows_read, rows_loaded,
                      rows_quarantined, status, error, duration_seconds, batch_id from ops.load_manifest"""
        ).fetchall()
        quarantined = conn.execute(
            "select _partition_date, _source_file, _row_number, _batch_id from quarantine.amazon_orders"
        ).fetchall()
        batches = {r[0] for r in conn.execute("select distinct _batch_id from raw.amazon_orders")}
        changed = {r[0] for r in conn.execute("select distinct source from ops.pending_changes")}
    ((source, file_path, partition, digest, size, read, ok, bad, status, error, seconds, batch),) = manifest
    assert (source, file_path, partition, digest, size) == (
        "amazon_orders",
        ctx.relative_path,
        day,
        sha,
        ctx.path.stat().st_size,
    )
    assert (read, ok, bad, status, error) == (3, 2, 1, "loaded", None)
    assert 0 < seconds < 60
    assert quarantined == [(day, ctx.relative_path, 3, batch)]
    assert batches == {batch}
    assert changed == {"amazon_orders"}


def test_an_unpartitioned_file_replaces_the_whole_table(fresh_db, tmp_path):
    spec = SOURCES["stores"]
    stores = tmp_path / "stores.yaml"
    stores.write_text("- {store_id: us, currency: USD}\n- {store_id: de, currency: EUR}\n")
    first = ingest(fresh_db, spec, tmp_path)
    assert [(r.partition_date, r.rows_loaded) for r in first.results] == [(None, 2)]
    stores.write_text("- {store_id: uk, currency: GBP}\n")
    second = ingest(fresh_db, spec, tmp_path)
    assert [(r.file_path, r.partition_date, r.rows_loaded, r.skipped) for r in second.results] == [
        ("stores.yaml", None, 1, False)
    ]
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            "select store_id, currency, _partition_date, _source_file from raw.stores"
        ).fetchall()
        partitions = conn.execute("select distinct partition_date from ops.load_manifest").fetchall()
    assert rows == [("uk", "GBP", None, "stores.yaml")]
    assert partitions == [(None,)]


def test_a_file_without_a_date_is_recorded_once_per_content(fresh_db, tmp_path):
    spec = SOURCES["amazon_orders"]
    misnamed = write_orders(tmp_path, "s1", "latest", GOOD)
    day = dt.date(2026, 3, 2)
    first = ingest(fresh_db, spec, tmp_path, day, day)
    ((relative, problem),) = first.misnamed
    assert relative == "amazon/s1/orders/latest.txt"
    ingest(fresh_db, spec, tmp_path, day, day)  # unchanged: nothing new recorded
    misnamed.write_text(misnamed.read_text() + GOOD[0] + "\n")
    ingest(fresh_db, spec, tmp_path, day, day)
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            """select source, file_path, partition_date, sha256, size_bytes, rows_read, status, error,
                      duration_seconds from ops.load_manifest order by load_id"""
        ).fetchall()
        with loader_connection(fresh_db, spec) as loader:
            again = record_unloadable(loader, spec, misnamed, relative, problem)
            other_problem = record_unloadable(loader, spec, misnamed, relative, "another problem")
    shas = [r[3] for r in rows]
    assert rows == [
        ("amazon_orders", relative, None, shas[0], rows[0][4], None, "failed", problem, 0),
        (
            "amazon_orders",
            relative,
            None,
            hashlib.sha256(misnamed.read_bytes()).hexdigest(),
            misnamed.stat().st_size,
            None,
            "failed",
            problem,
            0,
        ),
    ]
    assert shas[0] != shas[1]
    assert (again, other_problem) == (False, True)


def test_removing_a_file_counts_its_raw_rows(fresh_db, tmp_path):
    spec = SOURCES["amazon_orders"]
    day = dt.date(2026, 3, 2)
    kept = write_orders(tmp_path, "s1", "2026-03-02", GOOD)
    write_orders(tmp_path, "s2", "2026-03-02", [GOOD[0], BAD_QUANTITY, GOOD[2]])
    ingest(fresh_db, spec, tmp_path, day, day)
    with loader_connection(fresh_db, spec) as conn:
        removed = remove_missing_files(conn, spec, day, day, [kept.relative_to(tmp_path).as_posix()])
        left = conn.execute("select distinct _source_file from raw.amazon_orders").fetchall()
        quarantined = conn.execute("select count(*) from quarantine.amazon_orders").fetchone()
    assert removed == 2  # the raw rows of s2; its quarantined row goes too but is not counted
    assert left == [("amazon/s1/orders/2026-03-02.txt",)]
    assert quarantined == (0,)


def test_a_nul_in_a_quarantined_line_is_dropped_from_its_raw_text(fresh_db, tmp_path):
    path = tmp_path / "marketing" / "spend" / "2026-03-02.csv"
    path.parent.mkdir(parents=True)
    path.write_text("date,channel,campaign,spend,currency\n2026-03-02,meta,a\x00b,5,USD\n")
    day = dt.date(2026, 3, 2)
    ingest(fresh_db, SOURCES["marketing_spend"], tmp_path, day, day)
    with psycopg.connect(fresh_db) as conn:
        raw = conn.execute("select raw_text, _partition_date from quarantine.marketing_spend").fetchall()
    assert raw == [("2026-03-02,meta,ab,5,USD", day)]


EVENT = (
    '{"type":"track","event":"Product Viewed","messageId":"%s","anonymousId":"a1",'
    '"timestamp":"%sT10:00:00Z","properties":{"sku":"%s"}}'
)


def test_conflicting_resends_are_counted_per_file_and_restored_when_the_first_copy_goes(fresh_db, tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    first = folder / "2026-03-02.jsonl"
    first.write_text(EVENT % ("m-1", "2026-03-02", "A") + "\n" + EVENT % ("m-2", "2026-03-02", "A") + "\n")
    second = folder / "2026-03-03.jsonl"
    second.write_text(
        "\n".join(EVENT % (m, "2026-03-02", "B") for m in ("m-1", "m-2"))
        + "\n"
        + EVENT % ("m-3", "2026-03-03", "B")
        + "\n"
    )
    start, end = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    summary = ingest(fresh_db, SOURCES["events"], tmp_path, start, end)
    counts = {r.file_path: (r.rows_read, r.rows_loaded, r.rows_quarantined) for r in summary.results}
    # the copies of m-1 and m-2 in the later file differ from the first copies: set aside
    assert counts == {"events/2026-03-02.jsonl": (2, 2, 0), "events/2026-03-03.jsonl": (3, 1, 2)}
    with psycopg.connect(fresh_db) as conn:
        manifest = conn.execute(
            "select file_path, rows_loaded, rows_quarantined, batch_id from ops.load_manifest order by file_path"
        ).fetchall()
        set_aside = conn.execute("select distinct _batch_id from quarantine.events").fetchall()
    assert [m[:3] for m in manifest] == [("events/2026-03-02.jsonl", 2, 0), ("events/2026-03-03.jsonl", 1, 2)]
    assert set_aside == [(manifest[1][3],)]
    first.unlink()
    ingest(fresh_db, SOURCES["events"], tmp_path, start, end)
    with psycopg.connect(fresh_db) as conn:
        raw = conn.execute(
            "select message_id, properties->>'sku' from raw.events order by message_id"
        ).fetchall()
        quarantined = conn.execute("select count(*) from quarantine.events").fetchone()
    assert raw == [("m-1", "B"), ("m-2", "B"), ("m-3", "B")]
    assert quarantined == (0,)
