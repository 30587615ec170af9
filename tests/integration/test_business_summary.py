"""The end-of-run business summary (lib/warehouse/business.py) over hand-made mart rows: each
figure printed is the mart's, for the last complete week, the week's top SKUs by their summed
daily sales, the stockout-risk SKUs of the latest snapshot only, and the web store's lines."""

from __future__ import annotations

import psycopg

from nexus_pipelines.lib.warehouse.business import business_summary, format_business

HEADLINE = [
    "ordered_product_sales",
    "orders",
    "units_ordered",
    "average_order_value",
    "unit_session_percentage",
    "refunds_amount",
    "net_sales",
]

SETUP = """
create schema marts; create schema analytics;
create table marts.dim_store (store_id text, store_name text, currency text);
create table marts.fct_period_comparison (
    store_id text, period_grain text, period_start date, period_end date, is_complete boolean,
    {cols});
create table marts.fct_daily_sales (store_id text, sku text, order_date date, ordered_product_sales numeric);
create table marts.fct_inventory_health (
    store_id text, sku text, snapshot_date date, days_of_supply numeric, lead_time_days int, stockout_risk boolean);
create table marts.fct_sku_return_profile (store_id text, sku text, window_end date, store_return_rate_90d numeric);
create table marts.fct_funnel_steps (
    funnel_name text, step_number int, breakdown_type text, conversion_rate_from_start numeric);
create table analytics.cohort_retention (
    period_grain text, mode text, cohort_start date, period_offset int, cohort_size bigint,
    retained bigint, is_complete boolean);
create table analytics.experiment_results (
    experiment_id text, variation_id text, is_control boolean, metric text, engine text,
    lift float8, p_value float8, chance_to_win float8, error text);
""".format(
    cols=", ".join(f"{c} numeric, {c}_change_pct numeric, {c}_yoy_change_pct numeric" for c in HEADLINE)
)


def week(store, start, end, complete, values):
    cols = ["store_id", "period_grain", "period_start", "period_end", "is_complete"]
    row = [store, "week", start, end, complete]
    for c, (v, p, y) in zip(HEADLINE, values, strict=True):
        cols += [c, f"{c}_change_pct", f"{c}_yoy_change_pct"]
        row += [v, p, y]
    return (
        f"insert into marts.fct_period_comparison ({', '.join(cols)}) values ({', '.join(['%s'] * len(row))})",
        row,
    )


def test_the_summary_reads_the_last_complete_week_and_the_latest_snapshot(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(SETUP)
        conn.execute("insert into marts.dim_store values ('101', 'Trail Co', 'USD')")
        full = [
            (1000, 10, None),
            (20, -5, None),
            (25, 0, None),
            (50, 15.789, None),
            (12.5, 1, None),
            (100, None, None),
            (900, 12.04, 3),
        ]
        conn.execute(*week("101", "2026-08-10", "2026-08-16", True, full))
        # a later week that is not complete is not the one shown
        conn.execute(*week("101", "2026-08-17", "2026-08-23", False, [(1, 1, 1)] * 7))
        conn.cursor().executemany(
            "insert into marts.fct_daily_sales values ('101', %s, %s, %s)",
            [
                ("A", "2026-08-10", 300),
                ("A", "2026-08-16", 100),  # A: 400
                ("B", "2026-08-12", 350),  # B: 350
                ("C", "2026-08-11", 200),
                ("C", "2026-08-17", 900),  # C: 200 in the week
                ("D", "2026-08-13", 50),
            ],
        )
        conn.cursor().executemany(
            "insert into marts.fct_inventory_health values ('101', %s, %s, %s, 14, %s)",
            [("A", "2026-08-22", 3, True), ("B", "2026-08-23", 9.6, True), ("C", "2026-08-23", 40, False)],
        )
        conn.execute("insert into marts.fct_sku_return_profile values ('101', 'A', '2026-08-23', 4.25)")
        conn.cursor().executemany(
            "insert into marts.fct_funnel_steps values ('checkout', %s, %s, %s)",
            [(1, "all", 1.0), (2, "all", 0.5), (3, "all", 0.125), (3, "channel", 0.9)],
        )
        conn.cursor().executemany(
            "insert into analytics.cohort_retention values ('week', %s, %s, %s, %s, %s, %s)",
            [
                ("first_time", "2026-08-03", 1, 100, 30, True),
                ("first_time", "2026-08-10", 1, 300, 30, True),
                ("first_time", "2026-08-17", 1, 50, 50, False),  # not complete: left out
                ("recurring", "2026-08-03", 1, 10, 10, True),  # other mode
                ("first_time", "2026-08-03", 2, 100, 90, True),  # other offset
            ],
        )
        conn.cursor().executemany(
            "insert into analytics.experiment_results values ('exp', %s, %s, 'conversion', %s, %s, %s, %s, null)",
            [
                ("control", True, "frequentist", None, None, None),
                ("treatment", False, "frequentist", 0.0825, 0.0021, None),
                ("treatment", False, "bayesian", 0.08, None, 0.987),
            ],
        )
    text = format_business(business_summary(fresh_db))
    lines = text.splitlines()
    assert lines[0] == (
        "store 101 (Trail Co), week 2026-W33 (2026-08-10 .. 2026-08-16): "
        "value, vs week before, vs same week last year"
    )
    cells = {line[2:30].strip(): line[30:].split() for line in lines[1:8]}
    assert cells["sales"] == ["USD", "1,000.00", "▲", "+10.0%", "n/a"]
    assert cells["orders"] == ["20", "▼", "-5.0%", "n/a"]
    assert cells["units"] == ["25", "=", "+0.0%", "n/a"]
    assert cells["AOV"] == ["USD", "50.00", "▲", "+15.8%", "n/a"]
    assert cells["conversion (unit session %)"] == ["12.50%", "▲", "+1.0%", "n/a"]
    assert cells["refunds"] == ["USD", "100.00", "n/a", "n/a"]
    assert cells["net sales"] == ["USD", "900.00", "▲", "+12.0%", "▲", "+3.0%"]
    assert lines[8] == "  top SKUs of the week: A USD 400.00, B USD 350.00, C USD 200.00"
    # only the latest snapshot (2026-08-23) counts: A's risk on the 22nd is old news
    assert lines[9] == "  stockout risk on 2026-08-23: 1 SKU(s): B (10 d of supply, lead time 14 d)"
    assert lines[10] == "  return rate (units, last 90 days): 4.25%"
    assert lines[11] == "  sales data through 2026-08-17"
    assert lines[12:] == [
        "web store",
        "  funnel checkout: 12.5% of users entering it complete it",
        # (30 + 30) / (100 + 300) over the two complete first-time cohorts
        "  week-1 retention: 15.0% of new users (2 complete weekly cohorts)",
        "  A/B exp: treatment vs control, conversion +8.2%, p = 0.002, chance to win 99%",
    ]


def test_an_empty_warehouse_says_so(fresh_db):
    assert format_business(business_summary(fresh_db)) == "no marts yet: nothing to summarise"
