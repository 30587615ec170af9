"""The warehouse summary of `nexus run` (lib/warehouse/summary.py) over tables with known rows."""

from __future__ import annotations

import psycopg

from nexus_pipelines.lib.warehouse.summary import TableSummary, format_summary, summarize

SETUP = """
create schema raw;
create schema marts;
create schema ops;
create schema staging;
create schema elsewhere;
-- a date column and an earlier timestamp column: the date column wins
create table raw.amazon_orders (
    order_id text, purchased_at timestamptz, purchase_date date, _loaded_at timestamptz
);
insert into raw.amazon_orders values
    ('a', '2026-01-01 12:00+00', '2026-03-02', now()),
    ('b', '2026-01-01 12:00+00', '2026-03-01', now()),
    ('c', '2026-01-01 12:00+00', '2026-03-05', now());
-- only a timestamp (with and without time zone): the first one by position
create table raw.events (received timestamp, event_time timestamptz, name text);
insert into raw.events values
    ('2026-04-10 08:00', '2026-04-01 12:00+00', 'x'),
    ('2026-04-11 08:00', '2026-04-03 12:00+00', 'y');
-- no date column but a bookkeeping one starting with an underscore: counted, no range
create table raw.stores (store_id text, _loaded_at timestamptz);
insert into raw.stores values ('us', now()), ('de', now());
-- empty: zero rows and no range
create table marts.fct_daily_sales (sale_date date, units int);
-- a view is listed, never counted: this one would fail if it were queried
create view marts.v_broken as select 1 / 0 as boom;
create table ops.load_manifest (file_path text, loaded_on date);
insert into ops.load_manifest values ('f1', '2025-12-31'), ('f2', '2026-01-02'), ('f3', null);
create view staging.stg_orders as select * from raw.amazon_orders;
-- schemas outside the summary's list are left out
create table elsewhere.t (d date);
insert into elsewhere.t values ('2020-01-01');
create table public.t (d date);
"""

EXPECTED = [
    TableSummary("raw", "amazon_orders", "table", 3, "2026-03-01", "2026-03-05"),
    TableSummary("raw", "events", "table", 2, "2026-04-10", "2026-04-11"),
    TableSummary("raw", "stores", "table", 2, None, None),
    TableSummary("staging", "stg_orders", "view", None, None, None),
    TableSummary("marts", "fct_daily_sales", "table", 0, None, None),
    TableSummary("marts", "v_broken", "view", None, None, None),
    TableSummary("ops", "load_manifest", "table", 3, "2025-12-31", "2026-01-02"),
]


def build(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(SETUP)


def test_summarize_counts_tables_and_reads_their_date_range(fresh_db):
    build(fresh_db)
    # the order of SCHEMAS (raw before staging before marts before ops), then by name
    assert summarize(fresh_db) == EXPECTED


def test_summarize_only_the_schemas_asked_for_in_their_order(fresh_db):
    build(fresh_db)
    assert [(t.schema, t.name) for t in summarize(fresh_db, ("ops", "elsewhere"))] == [
        ("ops", "load_manifest"),
        ("elsewhere", "t"),
    ]
    assert summarize(fresh_db, ("elsewhere",)) == [
        TableSummary("elsewhere", "t", "table", 1, "2020-01-01", "2020-01-01")
    ]


def test_summarize_an_empty_database(fresh_db):
    assert summarize(fresh_db) == []
    assert format_summary([]) == ""


def test_timestamps_are_cut_to_the_day_in_utc(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()[0]
        conn.execute(f"alter database \"{name}\" set timezone = 'UTC'")
        conn.execute("create schema raw; create table raw.t (at timestamptz)")
        conn.execute("insert into raw.t values ('2026-03-01 23:59:59+00'), ('2026-03-02 00:00:00+00')")
    assert summarize(fresh_db) == [TableSummary("raw", "t", "table", 2, "2026-03-01", "2026-03-02")]


def test_quoted_names_are_safe(fresh_db):
    with psycopg.connect(fresh_db) as conn:
        conn.execute('create schema marts; create table marts."Odd Name" ("Sale Day" date)')
        conn.execute("""insert into marts."Odd Name" values ('2026-05-05'), ('2026-05-07')""")
    assert summarize(fresh_db) == [TableSummary("marts", "Odd Name", "table", 2, "2026-05-05", "2026-05-07")]


def test_format_summary_text():
    text = format_summary(EXPECTED)
    assert text == (
        "raw\n"
        "  amazon_orders                              table            3 rows  2026-03-01 .. 2026-03-05\n"
        "  events                                     table            2 rows  2026-04-10 .. 2026-04-11\n"
        "  stores                                     table            2 rows  \n"
        "\n"
        "staging\n"
        "  stg_orders                                 view      (not counted)  \n"
        "\n"
        "marts\n"
        "  fct_daily_sales                            table            0 rows  \n"
        "  v_broken                                   view      (not counted)  \n"
        "\n"
        "ops\n"
        "  load_manifest                              table            3 rows  2025-12-31 .. 2026-01-02"
    )


def test_format_summary_groups_thousands_and_keeps_long_names_whole():
    name = "int_amazon__order_items_with_returns_and_refunds_daily"  # longer than the column
    text = format_summary(
        [
            TableSummary("marts", "fct_big", "table", 12_345_678, "2026-01-01", "2026-06-30"),
            TableSummary("marts", name, "table", 7, None, None),
        ]
    )
    assert text.splitlines() == [
        "marts",
        "  fct_big                                    table   12,345,678 rows  2026-01-01 .. 2026-06-30",
        f"  {name} table            7 rows  ",
    ]
