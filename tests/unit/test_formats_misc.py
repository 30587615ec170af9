"""Registry, file-name helpers, marketing spend CSV, stores.yaml and the shared value parsers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from nexus_pipelines.lib.formats import (
    SOURCES,
    ParseContext,
    ParsedRow,
    Rejected,
    UnreadableFile,
    columns,
    partition_date_from_name,
    store_id_from_path,
)
from nexus_pipelines.lib.formats.common import (
    parse_bool,
    parse_decimal,
    parse_int,
    parse_timestamp,
    text_parser,
)


def landed(tmp_path: Path, relative: str, content: bytes) -> ParseContext:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return ParseContext(path, relative, dt.date(2026, 11, 1))


# ---------------------------------------------------------------- registry


def test_registry_names_globs_and_columns():
    expected = {
        "amazon_orders": ("amazon/*/orders/*.txt", columns.AMAZON_ORDERS, True),
        "amazon_sales_traffic_by_date": (
            "amazon/*/sales_traffic/*.json",
            columns.SALES_TRAFFIC_BY_DATE,
            True,
        ),
        "amazon_sales_traffic_by_asin": (
            "amazon/*/sales_traffic/*.json",
            columns.SALES_TRAFFIC_BY_ASIN,
            True,
        ),
        "amazon_inventory": ("amazon/*/inventory/*.txt", columns.AMAZON_INVENTORY, True),
        "amazon_returns": ("amazon/*/returns/*.txt", columns.AMAZON_RETURNS, True),
        "events": ("events/*.jsonl*", columns.EVENTS, True),
        "marketing_spend": ("marketing/spend/*.csv", columns.MARKETING_SPEND, True),
        "stores": ("stores.yaml", columns.STORES, False),
    }
    assert {
        name: (spec.landing_glob, spec.columns, spec.partitioned) for name, spec in SOURCES.items()
    } == expected
    for name, spec in SOURCES.items():
        assert spec.name == name


def test_events_glob_matches_plain_and_gzip_files(tmp_path):
    for name in ("2026-11-01.jsonl", "2026-11-02.jsonl.gz", "notes.txt"):
        landed(tmp_path, f"events/{name}", b"")
    matched = sorted(p.name for p in tmp_path.glob(SOURCES["events"].landing_glob))
    assert matched == ["2026-11-01.jsonl", "2026-11-02.jsonl.gz"]


@pytest.mark.parametrize(
    "path, expected",
    [
        ("amazon/us-main/orders/2026-11-01.txt", dt.date(2026, 11, 1)),
        ("events/2026-02-28.jsonl.gz", dt.date(2026, 2, 28)),
        (Path("/landing/marketing/spend/2024-02-29.csv"), dt.date(2024, 2, 29)),
        ("amazon\\us-main\\returns\\2026-12-31.txt", dt.date(2026, 12, 31)),
    ],
)
def test_partition_date_from_name(path, expected):
    assert partition_date_from_name(path) == expected


@pytest.mark.parametrize(
    "path, message",
    [
        ("events/today.jsonl", "has no YYYY-MM-DD partition date"),
        ("events/2026-02-30.jsonl", "'2026-02-30' in the file name is not a valid date"),
        ("2026-11-01/events.jsonl", "has no YYYY-MM-DD partition date"),  # folder, not file name
        ("events/12026-11-01.jsonl", "has no YYYY-MM-DD partition date"),
    ],
)
def test_partition_date_from_name_rejects_names_without_a_date(path, message):
    with pytest.raises(ValueError, match=message):
        partition_date_from_name(path)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("amazon/us-main/orders/2026-11-01.txt", "us-main"),
        ("amazon/de_2/inventory/2026-11-01.txt", "de_2"),
        ("events/2026-11-01.jsonl", None),
        ("stores.yaml", None),
        ("amazon/2026-11-01.txt", None),
    ],
)
def test_store_id_from_path(path, expected):
    assert store_id_from_path(path) == expected


# ---------------------------------------------------------------- marketing spend


def test_marketing_spend_by_header_name_with_bom_quotes_and_bad_rows(tmp_path):
    text = (
        "Currency,SPEND, Date ,channel,campaign,notes\r\n"  # 1: any order and case, extra column
        'usd,120.50,2026-11-01,google_ads,"Fall, mugs",x\r\n'  # 2
        "EUR,80,2026-11-01,meta,,\r\n"  # 3: campaign empty
        "\r\n"  # 4: blank
        'USD,12.5,2026-11-01,tiktok,"two\r\nlines",\r\n'  # 5-6: a quoted line break
        "USD,abc,2026-11-32,google_ads,x,\r\n"  # 7: two bad values
        "USD,10,2026-11-01,,x,\r\n"  # 8: channel missing
        "Dollars,10,2026-11-01,meta,x,\r\n"  # 9
        "USD,10,2026-11-01,meta,x,,surplus\r\n"  # 10: a non-empty field beyond the header
    )
    ctx = landed(tmp_path, "marketing/spend/2026-11-01.csv", b"\xef\xbb\xbf" + text.encode())

    results = list(SOURCES["marketing_spend"].parser(ctx))

    assert [(type(r).__name__, r.line) for r in results] == [
        ("ParsedRow", 2),
        ("ParsedRow", 3),
        ("ParsedRow", 5),
        ("Rejected", 7),
        ("Rejected", 8),
        ("Rejected", 9),
        ("Rejected", 10),
    ]
    assert results[0].values == (dt.date(2026, 11, 1), "google_ads", "Fall, mugs", Decimal("120.50"), "USD")
    assert results[1].values == (dt.date(2026, 11, 1), "meta", None, Decimal("80"), "EUR")
    assert results[2].values[2] == "two\r\nlines"
    assert results[3].reason == (
        "date: '2026-11-32' is not an ISO-8601 date (YYYY-MM-DD); spend: 'abc' is not a decimal number"
    )
    assert results[3].raw == "USD,abc,2026-11-32,google_ads,x,"
    assert results[4].reason == "channel: required value is empty"
    assert results[5].reason == "currency: 'Dollars' is not a three-letter currency code"
    assert results[6].reason == "7 fields but the header has 6 columns"


def test_marketing_spend_header_with_trailing_separator(tmp_path):
    content = b"date,channel,campaign,spend,currency,\n2026-11-01,meta,x,5,USD,\n"
    ctx = landed(tmp_path, "marketing/spend/2026-11-01.csv", content)

    (row,) = SOURCES["marketing_spend"].parser(ctx)

    assert row == ParsedRow(2, (dt.date(2026, 11, 1), "meta", "x", Decimal("5"), "USD"))


def test_marketing_spend_missing_currency_column_is_unreadable(tmp_path):
    content = b"date,channel,campaign,spend\n2026-11-01,x,y,1\n"
    ctx = landed(tmp_path, "marketing/spend/2026-11-01.csv", content)

    with pytest.raises(UnreadableFile, match=r"missing required column\(s\): currency") as info:
        list(SOURCES["marketing_spend"].parser(ctx))
    assert info.value.line == 1


def test_marketing_spend_empty_file_is_unreadable(tmp_path):
    ctx = landed(tmp_path, "marketing/spend/2026-11-01.csv", b"\n\n")

    with pytest.raises(UnreadableFile, match="no header row"):
        list(SOURCES["marketing_spend"].parser(ctx))


# ---------------------------------------------------------------- stores.yaml


def parse_stores(tmp_path: Path, text: str) -> list:
    return list(SOURCES["stores"].parser(landed(tmp_path, "stores.yaml", text.encode())))


def test_stores_as_a_list(tmp_path):
    rows = parse_stores(
        tmp_path,
        "# my stores\n"
        "- store_id: us-main\n"
        "  name: Mugs US\n"
        "  marketplace: ATVPDKIKX0DER\n"
        "  currency: usd\n"
        "  timezone: America/Los_Angeles\n"
        "- {store_id: de, currency: EUR}\n",
    )

    assert rows == [
        ParsedRow(2, ("us-main", "Mugs US", "ATVPDKIKX0DER", "USD", "America/Los_Angeles")),
        ParsedRow(7, ("de", None, None, "EUR", None)),
    ]


def test_stores_under_a_stores_key(tmp_path):
    rows = parse_stores(
        tmp_path, "stores:\n  - store_id: uk\n    currency: GBP\n    timezone: Europe/London\n"
    )

    assert rows == [ParsedRow(2, ("uk", None, None, "GBP", "Europe/London"))]


@pytest.mark.parametrize(
    "text, line, message",
    [
        (
            "- store_id: us\n  currency: USD\n- store_id: de\n  name: DE\n",
            3,
            "store 2 ('de'): missing currency",
        ),
        ("- name: nameless\n  currency: USD\n", 1, "store 1: missing store_id"),
        (
            "- store_id: us\n  currency: USD\n  timezone: Mars/Olympus\n",
            1,
            "store 1 ('us'): timezone: 'Mars/Olympus' is not an IANA time zone name",
        ),
        ("- store_id: '  '\n  currency: USD\n", 1, "store 1: missing store_id"),
        (
            "- store_id: us\n  currency: dollars\n",
            1,
            "store 1 ('us'): currency: 'dollars' is not a three-letter currency code",
        ),
        ("- store_id: 123\n  currency: USD\n", 1, "store 1 (123): store_id must be text (quote it in YAML)"),
        (
            "- store_id: us\n  currency: USD\n- store_id: us\n  currency: EUR\n",
            3,
            "store 2: store_id 'us' already used by store 1",
        ),
        ("- just a string\n", 1, "store 1: expected a mapping of store fields"),
        ("store_id: us\ncurrency: USD\n", 1, "expected a list of stores"),
        ("- store_id: us\n  currency: [USD\n", 3, "invalid YAML"),
        ("", 1, "file is empty"),
    ],
)
def test_invalid_stores_file_names_the_entry(tmp_path, text, line, message):
    with pytest.raises(UnreadableFile) as info:
        parse_stores(tmp_path, text)

    assert message in info.value.problem
    assert info.value.line == line


# ---------------------------------------------------------------- value parsers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Yes", True),
        ("no", False),
        ("Y", True),
        ("n", False),
        ("TRUE", True),
        ("false", False),
    ],
)
def test_parse_bool(text, expected):
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["1", "0", "maybe", ""])
def test_parse_bool_rejects_other_words(text):
    with pytest.raises(ValueError, match="is not a boolean"):
        parse_bool(text)


def test_parse_numbers():
    assert parse_int("-12") == -12
    assert parse_int("+7") == 7
    assert parse_decimal("1.2300") == Decimal("1.2300")
    assert text_parser("numeric(9,4)")("99999.9999") == Decimal("99999.9999")
    for bad in ("1.0", "1_000", "1e3", "٣"):
        with pytest.raises(ValueError, match="is not an integer"):
            parse_int(bad)
    for bad in ("Infinity", "1_0.5", "12,50", ""):
        with pytest.raises(ValueError, match="is not a decimal number"):
            parse_decimal(bad)
    with pytest.raises(ValueError, match="too large for numeric"):
        text_parser("numeric(9,4)")("100000")
    with pytest.raises(ValueError, match="out of range"):
        parse_int("2147483648")


def test_parse_timestamp_always_timezone_aware():
    expected = dt.datetime(2026, 11, 1, 20, 45, 10, tzinfo=dt.UTC)
    assert parse_timestamp("2026-11-01T13:45:10-07:00") == expected
    assert parse_timestamp("2026-11-01T13:45:10Z").utcoffset() == dt.timedelta(0)
    assert parse_timestamp("2026-11-01").tzinfo is dt.UTC
    with pytest.raises(ValueError, match="'2026-11-01 1pm' is not an ISO-8601 timestamp"):
        parse_timestamp("2026-11-01 1pm")


def test_every_column_type_has_a_text_parser():
    for spec in SOURCES.values():
        for column in spec.columns:
            if column.pg_type != "jsonb":
                assert callable(text_parser(column.pg_type))


def test_rejected_and_rows_keep_their_physical_line(tmp_path):
    text = "date,channel,campaign,spend,currency\n\n\n2026-11-01,meta,x,bad,USD\n"
    ctx = landed(tmp_path, "marketing/spend/2026-11-01.csv", text.encode())
    (rejected,) = SOURCES["marketing_spend"].parser(ctx)
    assert rejected == Rejected(4, "2026-11-01,meta,x,bad,USD", "spend: 'bad' is not a decimal number")
