"""Bad values at the door: file encodings, impossible quantities and impossible dates.

Byte offsets are counted by hand in the comments next to each expectation.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from nexus_pipelines.lib.formats import SOURCES, ParseContext, ParsedRow, Rejected, UnreadableFile
from nexus_pipelines.lib.formats.common import (
    EARLIEST_PLAUSIBLE_DATE,
    MAX_DAYS_AFTER_FILE_DATE,
    BadLine,
    InvalidUtf8,
    check_plausible_date,
    decode_bytes,
    read_lines,
)
from tests.unit.test_formats_sales_traffic import report

UTC = dt.UTC
FILE_DATE = dt.date(2026, 3, 5)
BOM = b"\xef\xbb\xbf"

# 15+1 + 13+1 + 12+1 + 3+1 + 8+1 + 12 = 68 bytes, 69 with its "\n"
HEADER = "amazon-order-id\tpurchase-date\torder-status\tsku\tquantity\tproduct-name"


def order(
    order_id: str, name: str, *, purchased: str = "2026-03-05T10:00:00+00:00", quantity: str = "1"
) -> str:
    return f"{order_id}\t{purchased}\tShipped\tSKU-1\t{quantity}\t{name}"


def landed(tmp_path: Path, relative: str, content: bytes) -> ParseContext:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return ParseContext(path, relative, FILE_DATE, store_id="us-main", default_currency="USD")


def parse(source: str, ctx: ParseContext) -> list:
    return list(SOURCES[source].parser(ctx))


def column(source: str, row: ParsedRow, name: str):
    assert isinstance(row, ParsedRow), row
    return row.values[SOURCES[source].column_names.index(name)]


# ---------------------------------------------------------------- decoding rules


def test_decode_rules_utf8_with_and_without_bom_and_pure_cp1252():
    assert decode_bytes("Müller".encode()) == "Müller"
    assert decode_bytes(BOM + "Müller".encode()) == "Müller"
    # no valid multi-byte sequence anywhere: cp1252, Latin-1 for the undefined 0x81 only
    assert decode_bytes(b"M\xfcller \x80 \x81") == "Müller € \x81"
    assert decode_bytes(b"") == ""


def test_utf8_document_with_a_bad_byte_is_not_read_as_cp1252():
    # "Müller" proves UTF-8; 0xFC on line 2 is at byte 8 ("Müller\n" is 7 + 1) plus 1 ("M")
    with pytest.raises(InvalidUtf8) as info:
        decode_bytes("Müller\n".encode() + b"M\xfcller")
    assert (info.value.offset, info.value.line, info.value.line_offset) == (9, 2, 1)
    assert info.value.reason == "invalid UTF-8 at byte 9 (byte 1 of the line)"
    # a BOM alone makes a file UTF-8; the BOM's 3 bytes count: 3 + "ab" = 5
    with pytest.raises(InvalidUtf8) as bom:
        decode_bytes(BOM + b"ab\xe9")
    assert bom.value.offset == 5


def test_read_lines_marks_only_the_bad_line(tmp_path):
    path = tmp_path / "f.txt"
    # line 1 "Müller\r\n" is bytes 0-8 (ü is 2 bytes); line 2 starts at 9, "x " then 0xE9 at 11
    path.write_bytes("Müller\r\n".encode() + b"x \xe9t\r\n" + b"ok\n")
    first, bad, last = read_lines(path)
    assert (first, last) == ("Müller", "ok")
    assert bad == BadLine("x \\xe9t", 11, 2, "invalid UTF-8 at byte 11 (byte 2 of the line)")


def test_utf8_orders_file_with_one_bad_line_rejects_that_line_only(tmp_path):
    lines = [
        HEADER.encode(),  # line 1: bytes 0-68
        order("A-1", "Müller").encode(),  # line 2: starts at 69, 4+26+8+6+2+7 = 53 bytes + "\n"
        order("A-2", "M\xfcller").encode("latin-1"),  # line 3: starts at 69 + 54 = 123
        order("A-3", "Straße").encode(),  # line 4
    ]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", b"\n".join(lines) + b"\n")

    good, bad, other = parse("amazon_orders", ctx)

    assert (good.line, column("amazon_orders", good, "product_name")) == (2, "Müller")
    assert (other.line, column("amazon_orders", other, "product_name")) == (4, "Straße")
    # 0xFC follows "A-2\t" + the 25-character timestamp + "\t" + "Shipped\t" + "SKU-1\t" + "1\t" + "M":
    # 4 + 26 + 8 + 6 + 2 + 1 = 47 bytes into line 3, so byte 123 + 47 = 170 of the file
    assert bad == Rejected(
        3,
        "A-2\t2026-03-05T10:00:00+00:00\tShipped\tSKU-1\t1\tM\\xfcller",
        "invalid UTF-8 at byte 170 (byte 47 of the line)",
    )


def test_bad_line_offsets_count_the_bom_and_carriage_returns(tmp_path):
    lines = [HEADER.encode(), order("A-1", "Müller").encode(), order("A-2", "M\xfcller").encode("latin-1")]
    content = BOM + b"\r\n".join(lines) + b"\r\n"
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", content)

    _, bad = parse("amazon_orders", ctx)

    # BOM 3 + header 68 + "\r\n" 2 = 73; line 2 53 + 2 = 55: line 3 starts at 128, 0xFC at 128 + 47
    assert (bad.line, bad.reason) == (3, "invalid UTF-8 at byte 175 (byte 47 of the line)")
    assert not bad.raw.endswith("\r")


def test_pure_cp1252_orders_file_is_read_as_cp1252(tmp_path):
    text = "\n".join([HEADER, order("A-1", "Müller"), order("A-2", "Crème – 5 €")]) + "\n"
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", text.encode("cp1252"))

    first, second = parse("amazon_orders", ctx)

    assert column("amazon_orders", first, "product_name") == "Müller"
    assert column("amazon_orders", second, "product_name") == "Crème – 5 €"


def test_header_line_with_bad_utf8_makes_the_flat_file_unreadable(tmp_path):
    # line 1 blank ("\n", byte 0); the header is line 2 from byte 1: "amazon-order-id\tp" is 17, 0xFC at 18
    header = HEADER.replace("purchase", "p\xfcrchase").encode("latin-1")
    content = b"\n" + header + b"\n" + order("A-1", "Müller").encode() + b"\n"
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", content)

    with pytest.raises(UnreadableFile) as info:
        parse("amazon_orders", ctx)

    assert info.value.line == 2
    assert info.value.problem == "header row: invalid UTF-8 at byte 18 (byte 17 of the line)"


def test_returns_and_inventory_reject_bad_utf8_lines_too(tmp_path):
    header = "return-date\torder-id\tsku\tquantity\tproduct-name"  # 11+1 + 8+1 + 3+1 + 8+1 + 12 = 46
    good = "2026-03-04T10:00:00+00:00\t111-1\tSKU-1\t1\tMüller"  # 26 + 6 + 6 + 2 + 7 = 47 bytes
    bad = "2026-03-04T10:00:00+00:00\t111-2\tSKU-1\t1\tM\xfcller"
    content = header.encode() + b"\n" + good.encode() + b"\n" + bad.encode("latin-1") + b"\n"
    ctx = landed(tmp_path, "amazon/us-main/returns/2026-03-05.txt", content)

    row, rejected = parse("amazon_returns", ctx)

    assert column("amazon_returns", row, "product_name") == "Müller"
    # line 3 starts at 47 + 48 = 95; 0xFC is 41 bytes in (26 + 6 + 6 + 2 + "M")
    assert (rejected.line, rejected.reason) == (3, "invalid UTF-8 at byte 136 (byte 41 of the line)")


def test_marketing_csv_bad_line_rejects_its_record_and_keeps_line_numbers(tmp_path):
    content = (
        b"date,channel,campaign,spend,currency\n"  # line 1: bytes 0-36 (36 + "\n")
        + "2026-03-05,meta,Müller,5,USD\n".encode()  # line 2: from 37, 11 + 5 + 8 + 2 + 3 + 1 = 30
        + b'2026-03-05,meta,"two\n'  # line 3: from 67, 21 bytes; a quoted campaign spanning lines
        + b'lines \xe9",6,USD\n'  # line 4: from 88, 0xE9 at 88 + 6 = 94; 15 bytes
        + b"2026-03-05,google,x,7,USD\n"  # line 5: from 103, 26 bytes
        + b"2026-03-05,meta,caf\xe9,8,USD\r"  # line 6: from 129, 0xE9 at 129 + 19 = 148; a lone CR
        + b"2026-03-05,meta,y,9,USD\n"  # line 7
    )
    ctx = landed(tmp_path, "marketing/spend/2026-03-05.csv", content)

    results = parse("marketing_spend", ctx)

    assert [(type(r).__name__, r.line) for r in results] == [
        ("ParsedRow", 2),
        ("Rejected", 3),
        ("ParsedRow", 5),
        ("Rejected", 6),
        ("ParsedRow", 7),
    ]
    assert results[0].values[2] == "Müller"
    assert results[1].reason == "invalid UTF-8 at byte 94 (byte 6 of the line)"
    assert results[1].raw == '2026-03-05,meta,"two\nlines \\xe9",6,USD'
    assert results[3].reason == "invalid UTF-8 at byte 148 (byte 19 of the line)"
    assert results[3].raw == "2026-03-05,meta,caf\\xe9,8,USD"


def test_marketing_csv_header_with_bad_utf8_is_unreadable(tmp_path):
    content = b"date,ch\xe4nnel,spend,currency\n" + "2026-03-05,Müller,5,USD\n".encode()
    ctx = landed(tmp_path, "marketing/spend/2026-03-05.csv", content)

    with pytest.raises(UnreadableFile) as info:
        parse("marketing_spend", ctx)

    assert (info.value.line, info.value.problem) == (
        1,
        "header row: invalid UTF-8 at byte 7 (byte 7 of the line)",
    )


def test_pure_cp1252_marketing_csv_is_read_as_cp1252(tmp_path):
    content = "date,channel,campaign,spend,currency\n2026-03-05,meta,Müller,5,USD\n".encode("cp1252")
    (row,) = parse("marketing_spend", landed(tmp_path, "marketing/spend/2026-03-05.csv", content))
    assert row.values[2] == "Müller"


EVENT = {
    "messageId": "m-1",
    "type": "track",
    "event": "Viewed",
    "anonymousId": "a",
    "timestamp": "2026-03-05T10:00:00Z",
}


@pytest.mark.parametrize("compress", [False, True])
def test_events_bad_utf8_line_is_rejected_with_its_byte_in_the_file(tmp_path, compress):
    first = b'{"a":1}'  # 7 bytes: rejected for its own reasons
    # 19 + 15 + 18 + 35 + 32 = 119 bytes (ü is 2)
    good = (
        '{"messageId":"m-2","type":"track","anonymousId":"a","timestamp":"2026-03-05T10:00:00Z",'
        '"properties":{"name":"Müller"}}'
    ).encode()
    bad = b'{"messageId":"m-\xff"}'  # 0xFF at 16 ('{"messageId":"m-' is 16)
    data = BOM + first + b"\r\n" + good + b"\n" + bad + b"\n"
    name = "2026-03-05.jsonl" + (".gz" if compress else "")
    ctx = landed(tmp_path, f"events/{name}", gzip.compress(data) if compress else data)

    line1, row, rejected = parse("events", ctx)

    assert line1.reason == "messageId: missing"
    assert (row.line, column("events", row, "properties")) == (2, {"name": "Müller"})
    # line 3 starts after the BOM (3), line 1 (7 + 2) and line 2 (119 + 1): at 132, 0xFF at 148
    assert rejected == Rejected(
        3, '{"messageId":"m-\\xff"}', "invalid UTF-8 at byte 148 (byte 16 of the line)"
    )


def test_events_bad_byte_on_the_first_line_counts_the_bom(tmp_path):
    ctx = landed(tmp_path, "events/2026-03-05.jsonl", BOM + b'{"x":"\xe9"}\n')
    (rejected,) = parse("events", ctx)
    # the BOM (3) then '{"x":"' (6): the line's byte 9, also the file's
    assert rejected.reason == "invalid UTF-8 at byte 9 (byte 9 of the line)"


def test_json_document_with_a_bad_byte_is_unreadable(tmp_path):
    # BOM 3 + '{\n' 2: line 2 starts at byte 5; '  "sku": "M' is 11 bytes, 0xFC at 16
    content = BOM + b'{\n  "sku": "M\xfcller"\n}\n'
    ctx = landed(tmp_path, "amazon/us-main/sales_traffic/2026-03-05.json", content)

    for source in ("amazon_sales_traffic_by_date", "amazon_sales_traffic_by_asin"):
        with pytest.raises(UnreadableFile) as info:
            parse(source, ctx)
        assert (info.value.line, info.value.problem) == (2, "invalid UTF-8 at byte 16 (byte 11 of the line)")


def test_json_document_in_cp1252_is_read_as_cp1252(tmp_path):
    document = report()
    document["salesAndTrafficByAsin"][0]["sku"] = "MÜLLER-1"
    ctx = landed(
        tmp_path,
        "amazon/us-main/sales_traffic/2026-11-02.json",
        json.dumps(document, ensure_ascii=False).encode("cp1252"),
    )
    ctx = ParseContext(ctx.path, ctx.relative_path, dt.date(2026, 11, 2), "us-main", "USD")

    first, _ = parse("amazon_sales_traffic_by_asin", ctx)

    assert column("amazon_sales_traffic_by_asin", first, "sku") == "MÜLLER-1"


def test_stores_yaml_with_a_bad_byte_is_unreadable(tmp_path):
    # line 1 "- store_id: de\n" is 15 bytes, line 2 "  name: M\xfcnchen" has 0xFC at 9: byte 24
    content = b"- store_id: de\n  name: M\xfcnchen\n  currency: EUR\n- {store_id: at, name: Wien \xc3\xb6, currency: EUR}\n"
    with pytest.raises(UnreadableFile) as info:
        parse("stores", landed(tmp_path, "stores.yaml", content))
    assert (info.value.line, info.value.problem) == (2, "invalid UTF-8 at byte 24 (byte 9 of the line)")


def test_stores_yaml_in_cp1252_is_read_as_cp1252(tmp_path):
    content = "- {store_id: de, name: München, currency: EUR}\n".encode("cp1252")
    (row,) = parse("stores", landed(tmp_path, "stores.yaml", content))
    assert row.values[:2] == ("de", "München")


# ---------------------------------------------------------------- quantities


def test_order_line_quantity_must_be_at_least_one_unless_cancelled(tmp_path):
    header = "amazon-order-id\tpurchase-date\torder-status\titem-status\tsku\tquantity"
    at = "2026-03-05T10:00:00+00:00"
    lines = [
        header,
        f"A-1\t{at}\tShipped\tShipped\tSKU-1\t1",  # 2: fine
        f"A-2\t{at}\tShipped\tShipped\tSKU-1\t0",  # 3: zero on a sold line
        f"A-3\t{at}\tShipped\tShipped\tSKU-1\t-2",  # 4: negative
        f"A-4\t{at}\tCancelled\tCancelled\tSKU-1\t0",  # 5: a cancelled order carries 0
        f"A-5\t{at}\tShipped\tCancelled\tSKU-1\t0",  # 6: a cancelled item of a shipped order
        f"A-6\t{at}\tcancelled\t\tSKU-1\t0",  # 7: any case, as staging compares it
        f"A-7\t{at}\tCancelled\tCancelled\tSKU-1\t-1",  # 8: negative even when cancelled
        f"A-8\t{at}\tPending\tUnshipped\tSKU-1\t0",  # 9
    ]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", "\n".join(lines).encode())

    results = {r.line: r for r in parse("amazon_orders", ctx)}

    assert sorted(n for n, r in results.items() if isinstance(r, ParsedRow)) == [2, 5, 6, 7]
    assert [column("amazon_orders", results[n], "quantity") for n in (2, 5, 6, 7)] == [1, 0, 0, 0]
    zero = "quantity: must be at least 1 on an order line, got 0 (0 is only allowed on a cancelled line)"
    assert results[3].reason == zero
    assert results[9].reason == zero
    assert results[4].reason == "quantity: must not be negative, got -2"
    assert results[8].reason == "quantity: must not be negative, got -1"


def test_order_quantity_zero_without_an_item_status_column(tmp_path):
    lines = [HEADER, order("A-1", "x", quantity="0")]
    (rejected,) = parse(
        "amazon_orders", landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", "\n".join(lines).encode())
    )
    assert rejected.reason.startswith("quantity: must be at least 1 on an order line, got 0")


# ---------------------------------------------------------------- dates


def test_plausible_date_bounds():
    assert (dt.date(1995, 1, 1), 2) == (EARLIEST_PLAUSIBLE_DATE, MAX_DAYS_AFTER_FILE_DATE)
    for ok in (
        dt.date(1995, 1, 1),
        dt.date(2026, 3, 7),
        dt.datetime(1995, 1, 1, tzinfo=UTC),
        dt.datetime(2026, 3, 7, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2026, 3, 7, 18, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # 23:59 UTC
        dt.datetime(1995, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),  # 06:00 UTC
    ):
        assert check_plausible_date(ok, FILE_DATE) is ok
    cases = [
        (dt.date(1994, 12, 31), "1994-12-31 is before 1995-01-01"),
        (dt.date(2026, 3, 8), "2026-03-08 is after the file's date 2026-03-05 + 2 days"),
        (
            dt.datetime(2026, 3, 8, tzinfo=UTC),
            "2026-03-08T00:00:00+00:00 is after the file's date 2026-03-05 + 2 days",
        ),
        (
            dt.datetime(2026, 3, 7, 20, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2026-03-07T20:00:00-05:00 (2026-03-08 in UTC) is after the file's date 2026-03-05 + 2 days",
        ),
        (
            dt.datetime(1995, 1, 1, 3, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            "1995-01-01T03:00:00+05:00 (1994-12-31 in UTC) is before 1995-01-01",
        ),
        (
            dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "9999-12-31T23:00:00-05:00 is after the file's date 2026-03-05 + 2 days",
        ),
    ]
    for value, message in cases:
        with pytest.raises(ValueError) as info:
            check_plausible_date(value, FILE_DATE)
        assert str(info.value) == message
    # a file dated at the very end of the calendar has no upper limit (no overflow)
    assert check_plausible_date(dt.date(9999, 12, 31), dt.date(9999, 12, 30)) == dt.date(9999, 12, 31)


def test_orders_impossible_purchase_and_update_dates(tmp_path):
    header = "amazon-order-id\tpurchase-date\tlast-updated-date\torder-status\tsku\tquantity"
    lines = [
        header,
        "A-1\t2020-01-01T10:00:00+00:00\t2026-03-07T23:00:00+00:00\tShipped\tSKU-1\t1",  # 2: old, edge
        "A-2\t9999-01-01T00:00:00+00:00\t2026-03-05T10:00:00+00:00\tShipped\tSKU-1\t1",  # 3
        "A-3\t2026-03-05T10:00:00+00:00\t1970-01-01T00:00:00+00:00\tShipped\tSKU-1\t1",  # 4
        "A-4\t2026-03-05\t2026-03-08\tShipped\tSKU-1\t1",  # 5: a plain date is midnight UTC
    ]
    ctx = landed(tmp_path, "amazon/us-main/orders/2026-03-05.txt", "\n".join(lines).encode())

    good, future, epoch, next_day = parse("amazon_orders", ctx)

    assert column("amazon_orders", good, "purchase_date") == dt.datetime(2020, 1, 1, 10, tzinfo=UTC)
    assert (
        future.reason
        == "purchase-date: 9999-01-01T00:00:00+00:00 is after the file's date 2026-03-05 + 2 days"
    )
    assert epoch.reason == "last-updated-date: 1970-01-01T00:00:00+00:00 is before 1995-01-01"
    assert (
        next_day.reason
        == "last-updated-date: 2026-03-08T00:00:00+00:00 is after the file's date 2026-03-05 + 2 days"
    )


def test_returns_impossible_return_date(tmp_path):
    header = "return-date\torder-id\tsku\tquantity"
    lines = [header, "2026-03-07T12:00:00Z\tO-1\tSKU-1\t1", "2027-03-05T12:00:00Z\tO-2\tSKU-1\t1"]
    ctx = landed(tmp_path, "amazon/us-main/returns/2026-03-05.txt", "\n".join(lines).encode())

    good, bad = parse("amazon_returns", ctx)

    assert column("amazon_returns", good, "return_date") == dt.datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert bad.reason == "return-date: 2027-03-05T12:00:00+00:00 is after the file's date 2026-03-05 + 2 days"


def test_events_impossible_timestamps_and_old_resends(tmp_path):
    lines = [
        {**EVENT, "messageId": "old", "timestamp": "2025-01-01T00:00:00Z"},  # 1: a late re-send: fine
        {**EVENT, "timestamp": "9999-01-01T00:00:00Z"},  # 2
        {**EVENT, "receivedAt": "1994-12-31T23:59:59Z"},  # 3
        {**EVENT, "sentAt": "1970-01-01T00:00:00+00:00"},  # 4: a device clock reset: kept
        {**EVENT, "timestamp": "2026-03-07T23:59:59", "sentAt": "2026-03-07T23:59:59Z"},  # 5: edge, no offset
    ]
    ctx = landed(tmp_path, "events/2026-03-05.jsonl", "".join(json.dumps(e) + "\n" for e in lines).encode())

    old, future, received, sent, edge = parse("events", ctx)

    assert column("events", old, "event_timestamp") == dt.datetime(2025, 1, 1, tzinfo=UTC)
    assert (
        future.reason == "timestamp: 9999-01-01T00:00:00+00:00 is after the file's date 2026-03-05 + 2 days"
    )
    assert received.reason == "receivedAt: 1994-12-31T23:59:59+00:00 is before 1995-01-01"
    assert column("events", sent, "sent_at") == dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert column("events", edge, "event_timestamp") == dt.datetime(2026, 3, 7, 23, 59, 59, tzinfo=UTC)


def test_marketing_impossible_spend_date(tmp_path):
    content = (
        b"date,channel,campaign,spend,currency\n"
        b"2026-03-07,meta,x,5,USD\n"
        b"2026-03-08,meta,x,5,USD\n"
        b"1994-12-31,meta,x,abc,USD\n"
    )
    good, late, early = parse("marketing_spend", landed(tmp_path, "marketing/spend/2026-03-05.csv", content))

    assert good.values[0] == dt.date(2026, 3, 7)
    assert (late.line, late.reason) == (3, "date: 2026-03-08 is after the file's date 2026-03-05 + 2 days")
    assert early.reason == "date: 1994-12-31 is before 1995-01-01; spend: 'abc' is not a decimal number"


def test_sales_traffic_impossible_report_dates(tmp_path):
    document = report()  # file date 2026-11-02, entries of 2026-11-01 and 2026-11-02
    document["salesAndTrafficByDate"][0]["date"] = "2026-11-04"  # two days after: fine
    document["salesAndTrafficByDate"][1]["date"] = "2026-11-05"
    path = tmp_path / "amazon/us-main/sales_traffic/2026-11-02.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    ctx = ParseContext(path, "amazon/us-main/sales_traffic/2026-11-02.json", dt.date(2026, 11, 2), "us-main")

    first, second = parse("amazon_sales_traffic_by_date", ctx)

    assert column("amazon_sales_traffic_by_date", first, "report_date") == dt.date(2026, 11, 4)
    assert (second.line, second.reason) == (
        2,
        "date: 2026-11-05 is after the file's date 2026-11-02 + 2 days",
    )
    assert json.loads(second.raw)["date"] == "2026-11-05"

    document["reportSpecification"]["dataStartTime"] = "1994-06-01"
    path.write_text(json.dumps(document))
    by_asin = parse("amazon_sales_traffic_by_asin", ctx)
    assert [(r.line, r.reason) for r in by_asin] == [
        (1, "reportSpecification.dataStartTime: 1994-06-01 is before 1995-01-01"),
        (2, "reportSpecification.dataStartTime: 1994-06-01 is before 1995-01-01"),
    ]
