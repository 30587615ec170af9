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
    check_header,
    decode_bytes,
    parse_bool,
    parse_decimal,
    parse_int,
    parse_timestamp,
    read_lines,
    text_parser,
    unstorable_text,
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


def test_integer_store_ids_are_their_decimal_text(tmp_path):
    """Sellers' systems number their stores: `store_id: 101` is the store "101", quoted or not."""
    rows = parse_stores(
        tmp_path,
        "- store_id: 101\n  currency: USD\n- {store_id: '102', currency: EUR}\n- store_id: 0\n  currency: GBP\n",
    )

    assert rows == [
        ParsedRow(1, ("101", None, None, "USD", None)),
        ParsedRow(3, ("102", None, None, "EUR", None)),
        ParsedRow(4, ("0", None, None, "GBP", None)),
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
        ("- store_id: 0123\n  currency: USD\n", 1, "store 1 (83): store_id must be text (quote it in YAML)"),
        (
            "- store_id: 1_000\n  currency: USD\n",
            1,
            "store 1 (1000): store_id must be text (quote it in YAML)",
        ),
        (
            "- store_id: 101.0\n  currency: USD\n",
            1,
            "store 1 (101.0): store_id must be text (quote it in YAML)",
        ),
        ("- store_id: yes\n  currency: USD\n", 1, "store 1 (True): store_id must be text (quote it in YAML)"),
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


# ---------------------------------------------------------------- file names, errors, details


def test_windows_separators_are_folders_not_part_of_the_file_name():
    # the date is the file name's, not that of a folder written with backslashes
    assert partition_date_from_name("landing\\2026-01-01\\orders-2026-03-02.txt") == dt.date(2026, 3, 2)
    assert store_id_from_path("amazon\\us-main\\orders\\2026-11-01.txt") == "us-main"
    # three parts are enough: amazon/<store>/<file>
    assert store_id_from_path("amazon/us-main/2026-11-01.txt") == "us-main"


def test_unreadable_file_message_with_and_without_a_line():
    assert str(UnreadableFile("a/b.txt", 3, "broken")) == "a/b.txt, line 3: broken"
    assert str(UnreadableFile(Path("a/b.txt"), None, "broken")) == "a/b.txt: broken"


def test_decoding_falls_back_to_latin_1_for_bytes_cp1252_leaves_undefined():
    assert decode_bytes("café".encode()) == "café"
    assert decode_bytes(b"\xef\xbb\xbfcaf\xc3\xa9") == "café"
    assert decode_bytes(b"caf\xe9 \x80") == "café €"  # cp1252
    assert decode_bytes(b"caf\xe9 \x81") == "café \x81"  # 0x81 is undefined in cp1252


def test_read_lines_drops_only_the_final_line_ending(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"a\r\nb\n")
    assert read_lines(path) == ["a", "b"]
    path.write_bytes(b"a\nb\n\n")
    assert read_lines(path) == ["a", "b", ""]
    path.write_bytes(b"a\nb")
    assert read_lines(path) == ["a", "b"]
    path.write_bytes(b"\n")
    assert read_lines(path) == []


@pytest.mark.parametrize(
    "names, problem",
    [
        (["a", "", "b", ""], "header column(s) 2, 4 have no name"),
        (["b", "a", "b", "a", "c"], "duplicate column(s): a, b"),
        (["a"], "missing required column(s): b, c"),
    ],
)
def test_check_header_problems(names, problem):
    with pytest.raises(UnreadableFile) as info:
        check_header(Path("x/y.csv"), names, ("a", "b", "c"), 4)
    assert (info.value.path, info.value.line, info.value.problem) == ("x/y.csv", 4, problem)


def test_integer_range_is_postgresql_integer():
    assert parse_int("2147483647") == 2**31 - 1
    assert parse_int("-2147483648") == -(2**31)
    for text in ("2147483648", "-2147483649"):
        with pytest.raises(ValueError, match="out of range for an integer column"):
            parse_int(text)


def test_value_parser_messages():
    with pytest.raises(ValueError) as boolean:
        parse_bool("maybe")
    assert str(boolean.value) == "'maybe' is not a boolean (expected Yes/No, true/false or Y/N)"
    with pytest.raises(ValueError) as no_parser:
        text_parser("bytea")
    assert str(no_parser.value) == "no text parser for column type 'bytea'"


def test_unstorable_text_looks_inside_lists_and_objects():
    nul = "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    surrogate = "contains an unpaired UTF-16 surrogate, which is not valid UTF-8"
    assert unstorable_text("fine") is None
    assert unstorable_text(["fine", 3, None, "a\x00b"]) == nul
    assert unstorable_text({"k": ["x", "\ud800"]}) == surrogate
    assert unstorable_text({"\x00": 1}) == nul
    assert unstorable_text([1, 2.5, True, {"a": "b"}]) is None


# ---------------------------------------------------------------- marketing spend, details

SPEND_HEADER = "date,channel,campaign,spend,currency\n"


def spend(tmp_path: Path, content: bytes) -> list:
    return list(
        SOURCES["marketing_spend"].parser(landed(tmp_path, "marketing/spend/2026-11-01.csv", content))
    )


def test_marketing_spend_raw_text_of_rejected_rows(tmp_path):
    content = (
        (
            SPEND_HEADER + "2026-11-01,meta,x,abc,USD  \t\n"  # 2: trailing blanks are kept in raw
            '2026-11-01,meta,"two\nlines",abc,USD\n'  # 3-4
            "2026-11-01,meta,campaign X,abc,USD\n"  # 5
        ).encode()
    )
    rows = spend(tmp_path, content)
    assert [(r.line, r.raw) for r in rows] == [
        (2, "2026-11-01,meta,x,abc,USD  \t"),
        (3, '2026-11-01,meta,"two\nlines",abc,USD'),
        (5, "2026-11-01,meta,campaign X,abc,USD"),
    ]


def test_marketing_spend_with_carriage_return_line_endings(tmp_path):
    rows = spend(tmp_path, b"date,channel,campaign,spend,currency\r2026-11-01,meta,x,5,USD\r")
    assert rows == [ParsedRow(2, (dt.date(2026, 11, 1), "meta", "x", Decimal("5"), "USD"))]


def test_marketing_spend_optional_column_absent_and_short_rows(tmp_path):
    rows = spend(tmp_path, b"date,channel,spend,currency\n2026-11-01,meta,5,USD\n2026-11-01,meta\n")
    assert rows[0] == ParsedRow(2, (dt.date(2026, 11, 1), "meta", None, Decimal("5"), "USD"))
    assert rows[1].reason == "spend: required value is empty; currency: required value is empty"


def test_marketing_spend_line_with_a_nul_character(tmp_path):
    (row,) = spend(tmp_path, (SPEND_HEADER + "2026-11-01,meta,a\x00b,5,USD\n").encode())
    assert isinstance(row, Rejected)
    assert row.reason == "line contains a NUL character, which PostgreSQL cannot store"


def test_marketing_spend_unreadable_files_name_file_line_and_problem(tmp_path):
    path = str(tmp_path / "marketing/spend/2026-11-01.csv")
    with pytest.raises(UnreadableFile) as empty:
        spend(tmp_path, b"\n\n")
    assert (empty.value.path, empty.value.line, empty.value.problem) == (
        path,
        1,
        "file is empty (no header row)",
    )
    with pytest.raises(UnreadableFile) as header:
        spend(tmp_path, b"\ndate,channel,spend\n")
    assert (header.value.path, header.value.line) == (path, 2)
    assert header.value.problem == "missing required column(s): currency"
    # an unterminated quote swallows the rest of the file into one field, past csv's limit
    content = (
        SPEND_HEADER + "2026-11-01,meta,x,5,USD\n" + '2026-11-01,meta,"' + "x" * 140_000 + "\n"
    ).encode()
    with pytest.raises(UnreadableFile) as broken:
        spend(tmp_path, content)
    assert (broken.value.path, broken.value.line) == (path, 3)
    assert broken.value.problem == "invalid CSV: field larger than field limit (131072)"


# ---------------------------------------------------------------- stores.yaml, details


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("", 1, "file is empty: expected a list of stores"),
        ("store_id: us\ncurrency: USD\n", 1, "expected a list of stores (or a 'stores:' list)"),
        (
            "- store_id: us\n  currency: [USD\n",
            3,
            "invalid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "- store_id: us\x07\n",
            None,
            "invalid YAML: unacceptable character #x0007: special characters are not allowed\n"
            '  in "<unicode string>", position 14',
        ),
        ("- just a string\n", 1, "store 1: expected a mapping of store fields"),
        ("- store_id: us\n", 1, "store 1 ('us'): missing currency"),
        (
            "- store_id: us\n  currency: 5\n",
            1,
            "store 1 ('us'): currency must be text (quote it in YAML), got 5",
        ),
        (
            "- {store_id: us, currency: usd, timezone: Nowhere}\n",
            1,
            "store 1 ('us'): timezone: 'Nowhere' is not an IANA time zone name",
        ),
        (
            "- {store_id: us, currency: USD}\n- {store_id: us, currency: USD}\n",
            2,
            "store 2: store_id 'us' already used by store 1",
        ),
    ],
)
def test_invalid_stores_file_exact_problems(tmp_path, text, line, problem):
    with pytest.raises(UnreadableFile) as info:
        parse_stores(tmp_path, text)
    assert (info.value.path, info.value.line, info.value.problem) == (
        str(tmp_path / "stores.yaml"),
        line,
        problem,
    )
