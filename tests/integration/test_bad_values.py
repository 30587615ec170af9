"""Bad values that used to load silently end in quarantine, on a real PostgreSQL.

Three All Orders files of one day with rows that cannot be right (a negative quantity and 0 units
on a shipped line, a purchase date in year 9999, an invalid UTF-8 byte in a UTF-8 file) and an
events file with an invalid UTF-8 line: exactly those rows are quarantined, with their line and reason, and every
other row loads with its text intact. Byte offsets are counted by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg

from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import ingest

DAY = dt.date(2026, 3, 5)
# 15+1 + 13+1 + 12+1 + 11+1 + 3+1 + 8+1 + 12 = 80 bytes, 81 with its "\n"
HEADER = "amazon-order-id\tpurchase-date\torder-status\titem-status\tsku\tquantity\tproduct-name"


def line(
    order_id: str, quantity: str = "1", name: str = "Mug", status: str = "Shipped", purchased: str = ""
) -> str:
    purchased = purchased or "2026-03-05T10:00:00+00:00"
    return f"{order_id}\t{purchased}\t{status}\t{status}\tSKU-1\t{quantity}\t{name}"


def write(landing: Path, relative: str, content: bytes) -> None:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def utf8_file(*lines: str) -> bytes:
    return "".join(text + "\n" for text in lines).encode("utf-8")


def test_negative_quantity_year_9999_and_bad_utf8_lines_are_quarantined(fresh_db, tmp_path):
    write(
        tmp_path,
        "amazon/s1/orders/2026-03-05.txt",
        utf8_file(
            HEADER,
            line("111-1"),
            line("111-2", quantity="-2"),
            line("111-3", quantity="0", status="Cancelled"),
            line("111-4", quantity="0"),  # 0 units on a shipped line
        ),
    )
    write(
        tmp_path,
        "amazon/s2/orders/2026-03-05.txt",
        utf8_file(HEADER, line("222-1", purchased="9999-01-01T00:00:00+00:00"), line("222-2")),
    )
    # line 2 starts at 81: "333-1\t" 6 + timestamp 26 + "Shipped\t" 8 twice + "SKU-1\t" 6 + "1\t" 2
    # + "Müller" 7 = 63 bytes + "\n", so line 3 starts at 145; there 56 bytes precede "Caf" (3):
    # 0xE9 is byte 59 of the line, 145 + 59 = 204 of the file
    bad = line("333-2", name="Caf\xe9 Mug").encode("latin-1")
    write(
        tmp_path,
        "amazon/s3/orders/2026-03-05.txt",
        utf8_file(HEADER, line("333-1", name="Müller"))
        + bad
        + b"\n"
        + utf8_file(line("333-3", name="Straße")),
    )

    summary = ingest(fresh_db, SOURCES["amazon_orders"], tmp_path, DAY, DAY)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (9, 5, 4)
    with psycopg.connect(fresh_db) as conn:
        quarantined = conn.execute(
            "select _source_file, _row_number, reason, raw_text from quarantine.amazon_orders"
            " order by _source_file, _row_number"
        ).fetchall()
        loaded = conn.execute(
            "select store_id, _row_number, amazon_order_id, quantity, product_name from raw.amazon_orders"
            " order by store_id, _row_number"
        ).fetchall()
    assert quarantined == [
        (
            "amazon/s1/orders/2026-03-05.txt",
            3,
            "quantity: must not be negative, got -2",
            line("111-2", quantity="-2"),
        ),
        (
            "amazon/s1/orders/2026-03-05.txt",
            5,
            "quantity: must be at least 1 on an order line, got 0 (0 is only allowed on a cancelled line)",
            line("111-4", quantity="0"),
        ),
        (
            "amazon/s2/orders/2026-03-05.txt",
            2,
            "purchase-date: 9999-01-01T00:00:00+00:00 is after the file's date 2026-03-05 + 2 days",
            line("222-1", purchased="9999-01-01T00:00:00+00:00"),
        ),
        (
            "amazon/s3/orders/2026-03-05.txt",
            3,
            "invalid UTF-8 at byte 204 (byte 59 of the line)",
            line("333-2", name="Caf\\xe9 Mug"),
        ),
    ]
    assert loaded == [
        ("s1", 2, "111-1", 1, "Mug"),
        ("s1", 4, "111-3", 0, "Mug"),  # a cancelled line with 0 units is a real report line
        ("s2", 3, "222-2", 1, "Mug"),
        ("s3", 2, "333-1", 1, "Müller"),  # not "MÃ¼ller": the file stays UTF-8
        ("s3", 4, "333-3", 1, "Straße"),
    ]


def test_events_file_with_a_bad_utf8_line_loads_the_others(fresh_db, tmp_path):
    good = (
        '{"type":"track","event":"Product Viewed","messageId":"m-%d","anonymousId":"a1",'
        '"timestamp":"2026-03-05T10:00:00Z","properties":{"name":"Müller"}}'
    )
    # 16 + 25 + 18 + 19 + 35 + 32 = 145 bytes with "ü" as 2, 146 with "\n": line 2 starts at 146
    first = (good % 1).encode()
    bad = b'{"type":"track","messageId":"m-\xff"}'  # 0xFF at 31: '{"type":"track",' 16 + '"messageId":"m-' 15
    write(tmp_path, "events/2026-03-05.jsonl", first + b"\n" + bad + b"\n" + (good % 3).encode() + b"\n")

    summary = ingest(fresh_db, SOURCES["events"], tmp_path, DAY, DAY)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (3, 2, 1)
    with psycopg.connect(fresh_db) as conn:
        quarantined = conn.execute("select _row_number, reason, raw_text from quarantine.events").fetchall()
        loaded = conn.execute(
            "select _row_number, message_id, properties->>'name' from raw.events order by _row_number"
        ).fetchall()
    assert quarantined == [
        (2, "invalid UTF-8 at byte 177 (byte 31 of the line)", '{"type":"track","messageId":"m-\\xff"}')
    ]
    assert loaded == [(1, "m-1", "Müller"), (3, "m-3", "Müller")]
