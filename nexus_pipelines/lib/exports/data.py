"""The tables of one export, read from the marts and the analytics tables for a store and a period.

Every figure comes from a mart (nothing is recomputed from raw data), so an export shows what a BI
tool shows. Amazon tables are the store's; the web shop's tables (funnel, retention, attribution,
LTV segments) come from the tracked website and are the same in every store's export, in the web
shop's currency. A table that does not exist yet (a warehouse built only in part) gives an empty
table with a note rather than failing the export. Only bound parameters reach the SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from .model import Column, ExportBundle, ExportTable, Period

TREND_MIN_DAYS = 28
RETENTION_COHORTS = 12  # weekly cohorts up to the period's end

# (metric = column of fct_period_comparison, label, unit): the rows of store_performance
PERFORMANCE: tuple[tuple[str, str, str], ...] = (
    ("ordered_product_sales", "Sales", "money"),
    ("orders", "Orders", "count"),
    ("units_ordered", "Units", "count"),
    ("average_order_value", "AOV", "money"),
    ("sessions", "Sessions", "count"),
    ("unit_session_percentage", "Conversion (unit session %)", "percent"),
    ("refunds_amount", "Refunds", "money"),
    ("units_refunded", "Units refunded", "count"),
    ("net_sales", "Net sales", "money"),
)
TABLES = (
    "store_performance",
    "sales_trend",
    "sales_by_sku",
    "inventory_health",
    "returns_by_reason",
    "sku_return_profile",
    "funnel",
    "retention",
    "attribution",
    "ltv_segments",
)


class UnknownStore(LookupError):
    pass


def _c(spec: str) -> tuple[Column, ...]:
    """Columns from "name:kind, name:kind"."""
    out = []
    for item in spec.split(","):
        name, kind = item.strip().split(":")
        out.append(Column(name, kind))
    return tuple(out)


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]  # type: ignore[index]


def _rows(conn: psycopg.Connection, query: Any, params: dict[str, Any]) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def stores(conn: psycopg.Connection) -> list[tuple[str, str | None, str | None]]:
    """(store_id, name, currency) of every store with sales data or a configuration."""
    if not _exists(conn, "marts.dim_store"):
        return []
    return [
        tuple(r)
        for r in conn.execute("select store_id, store_name, currency from marts.dim_store order by 1")
    ]


def data_span(conn: psycopg.Connection, store_id: str) -> tuple[dt.date, dt.date] | None:
    """The store's first and last day with sales data (None: none yet)."""
    if not _exists(conn, "marts.fct_daily_store_performance"):
        return None
    row = conn.execute(
        "select min(date_day), max(date_day) from marts.fct_daily_store_performance where store_id = %s",
        (store_id,),
    ).fetchone()
    return (row[0], row[1]) if row and row[0] else None


def data_through(conn: psycopg.Connection, store_id: str) -> dt.date | None:
    span = data_span(conn, store_id)
    return span[1] if span else None


def _store_performance(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "metric:text, label:text, unit:text, value:number, previous:number, change_pct:percent, "
        "last_year:number, yoy_change_pct:percent"
    )
    table = ExportTable("store_performance", "Store performance", columns, [])
    if not _exists(conn, "marts.fct_period_comparison"):
        return table
    found = conn.execute(
        "select * from marts.fct_period_comparison "
        "where store_id = %s and period_grain = %s and period_start = %s",
        (store, period.grain, period.start),
    )
    names = [d.name for d in found.description or ()]
    row = found.fetchone()
    if row is None:
        return table
    values = dict(zip(names, row, strict=True))
    rows = [
        (
            metric,
            label,
            unit,
            values[metric],
            values[f"{metric}_previous"],
            values[f"{metric}_change_pct"],
            values[f"{metric}_last_year"],
            values[f"{metric}_yoy_change_pct"],
        )
        for metric, label, unit in PERFORMANCE
    ]
    note = (
        ""
        if values["is_complete"]
        else f"incomplete period: {values['days_covered']} of {values['days_in_period']} days"
    )
    return ExportTable(table.name, table.title, columns, rows, note=note)


def _sales_trend(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "date_day:date, ordered_product_sales:money, units_ordered:integer, orders:integer, "
        "sessions:integer, unit_session_percentage:percent, refunds_amount:money, net_sales:money"
    )
    start = min(period.start, period.end - dt.timedelta(days=TREND_MIN_DAYS - 1))
    note = "" if start == period.start else f"the {TREND_MIN_DAYS} days up to {period.end.isoformat()}"
    rows = []
    if _exists(conn, "marts.fct_daily_store_performance"):
        rows = _rows(
            conn,
            """
            select date_day, ordered_product_sales, units_ordered, orders, sessions,
                   unit_session_percentage, refunds_amount, net_sales
            from marts.fct_daily_store_performance
            where store_id = %(store)s and date_day between %(start)s and %(end)s
            order by date_day
            """,
            {"store": store, "start": start, "end": period.end},
        )
    return ExportTable("sales_trend", "Sales trend", columns, rows, note=note)


def _sales_by_sku(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "sku:text, asin:text, product_name:text, ordered_product_sales:money, units_ordered:integer, "
        "orders:integer, share_of_sales:rate"
    )
    rows = []
    if _exists(conn, "marts.fct_daily_sales"):
        has_names = _exists(conn, "marts.dim_product")
        names = sql.SQL("p.product_name" if has_names else "null::text")
        join = sql.SQL(
            "left join marts.dim_product as p on p.store_id = s.store_id and p.sku = s.sku"
            if has_names
            else ""
        )
        rows = _rows(
            conn,
            sql.SQL("""
            with s as (
                select store_id, sku, max(asin) as asin, sum(ordered_product_sales) as sales,
                       sum(units_ordered)::bigint as units, sum(orders)::bigint as orders
                from marts.fct_daily_sales
                where store_id = %(store)s and order_date between %(start)s and %(end)s
                group by store_id, sku
            )
            select s.sku, s.asin, {names}, s.sales, s.units, s.orders,
                   round(s.sales / nullif(sum(s.sales) over (), 0), 4)
            from s {join}
            order by s.sales desc, s.sku
            """).format(names=names, join=join),
            {"store": store, "start": period.start, "end": period.end},
        )
    return ExportTable("sales_by_sku", "Sales by SKU", columns, rows)


def _inventory_health(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "snapshot_date:date, sku:text, asin:text, fulfillable_quantity:integer, inbound_quantity:integer, "
        "units_sold_t30:integer, days_of_supply:number, lead_time_days:integer, reorder_point:integer, "
        "suggested_reorder_qty:integer, stockout_risk:boolean"
    )
    rows: list[tuple] = []
    note = ""
    if _exists(conn, "marts.fct_inventory_health"):
        # the newest snapshot on or before the period's end, else the newest there is
        rows = _rows(
            conn,
            """
            with pick as (
                select coalesce(
                    max(snapshot_date) filter (where snapshot_date <= %(end)s), max(snapshot_date)
                ) as snapshot_date
                from marts.fct_inventory_health
                where store_id = %(store)s
            )
            select h.snapshot_date, h.sku, h.asin, h.fulfillable_quantity, h.inbound_quantity,
                   h.units_sold_t30::bigint, h.days_of_supply, h.lead_time_days, h.reorder_point,
                   h.suggested_reorder_qty, h.stockout_risk
            from marts.fct_inventory_health as h
            inner join pick on pick.snapshot_date = h.snapshot_date
            where h.store_id = %(store)s
            order by h.stockout_risk desc, h.days_of_supply asc nulls last, h.sku
            """,
            {"store": store, "end": period.end},
        )
        if rows:
            note = f"inventory snapshot of {rows[0][0].isoformat()}"
    return ExportTable("inventory_health", "Inventory health", columns, rows, note=note)


def _returns_by_reason(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "reason:text, detailed_disposition:text, return_lines:integer, units_returned:integer, "
        "share_of_units:rate"
    )
    rows = []
    if _exists(conn, "marts.fct_returns"):
        rows = _rows(
            conn,
            """
            select coalesce(reason, 'UNKNOWN'), coalesce(detailed_disposition, 'UNKNOWN'),
                   count(*), sum(quantity)::bigint,
                   round(sum(quantity)::numeric / nullif(sum(sum(quantity)) over (), 0), 4)
            from marts.fct_returns
            where store_id = %(store)s and return_date between %(start)s and %(end)s
            group by 1, 2
            order by 4 desc, 1, 2
            """,
            {"store": store, "start": period.start, "end": period.end},
        )
    return ExportTable("returns_by_reason", "Returns by reason and disposition", columns, rows)


def _sku_return_profile(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "sku:text, units_sold_90d:integer, units_returned_90d:integer, return_rate_90d:percent, "
        "is_high_return:boolean, resellable_share:percent, days_to_return_median:number"
    )
    rows: list[tuple] = []
    note = ""
    if _exists(conn, "marts.fct_sku_return_profile"):
        found = _rows(
            conn,
            """
            select sku, units_sold_90d::bigint, units_returned_90d::bigint, return_rate_90d, is_high_return,
                   resellable_share, days_to_return_median, window_start, window_end
            from marts.fct_sku_return_profile
            where store_id = %(store)s
            order by return_rate_90d desc nulls last, sku
            """,
            {"store": store},
        )
        rows = [r[:7] for r in found]
        if found:
            note = f"the 90 days {found[0][7].isoformat()} .. {found[0][8].isoformat()}"
    return ExportTable("sku_return_profile", "SKU return profile", columns, rows, note=note)


def _web_currency(conn) -> str | None:
    if not _exists(conn, "marts.fct_orders_web"):
        return None
    row = conn.execute(
        "select currency from marts.fct_orders_web where currency is not null "
        "group by currency order by count(*) desc, currency limit 1"
    ).fetchone()
    return row[0] if row else None


def _funnel(conn, store, period: Period) -> ExportTable:
    columns = _c(
        "funnel_name:text, step_number:integer, step_name:text, users_entering_step:integer, "
        "users_converted:integer, conversion_rate_from_start:rate, conversion_rate_from_previous:rate"
    )
    rows = []
    if _exists(conn, "marts.fct_funnel_steps"):
        rows = _rows(
            conn,
            """
            select funnel_name, step_number, step_name, users_entering_step, users_converted,
                   conversion_rate_from_start, conversion_rate_from_previous
            from marts.fct_funnel_steps
            where breakdown_type = 'all'
            order by funnel_name, step_number
            """,
            {},
        )
    return ExportTable("funnel", "Funnel", columns, rows, note="web shop, all tracked history")


def _retention(conn, schema: str, period: Period) -> ExportTable:
    columns = _c(
        "cohort_start:date, period_offset:integer, cohort_size:integer, retained:integer, retention_rate:rate"
    )
    rows = []
    relation = f"{schema}.cohort_retention"
    if _exists(conn, relation):
        first = (
            period.end - dt.timedelta(days=period.end.weekday()) - dt.timedelta(weeks=RETENTION_COHORTS - 1)
        )
        rows = _rows(
            conn,
            sql.SQL("""
            select cohort_start, period_offset, cohort_size, retained, retention_rate
            from {schema}.cohort_retention
            where period_grain = 'week' and mode = 'first_time'
              and cohort_start between %(first)s and %(end)s and period_start <= %(end)s
            order by cohort_start, period_offset
            """).format(schema=sql.Identifier(schema)),
            {"first": first, "end": period.end},
        )
    return ExportTable(
        "retention",
        "Weekly retention",
        columns,
        rows,
        note=f"web shop, first-activity weekly cohorts, the {RETENTION_COHORTS} weeks up to the period's end",
    )


def _attribution(conn, schema: str, period: Period) -> ExportTable:
    columns = _c("model:text, channel:text, conversions:number, revenue:money, spend:money, roas:number")
    rows = []
    if _exists(conn, f"{schema}.channel_attribution_daily"):
        rows = _rows(
            conn,
            sql.SQL("""
            select model, channel, round(sum(conversions)::numeric, 4), round(sum(revenue)::numeric, 2),
                   round(sum(spend)::numeric, 2),
                   round((sum(revenue) / nullif(sum(spend), 0))::numeric, 4)
            from {schema}.channel_attribution_daily
            where day between %(start)s and %(end)s
            group by model, channel
            order by model, sum(revenue) desc, channel
            """).format(schema=sql.Identifier(schema)),
            {"start": period.start, "end": period.end},
        )
    return ExportTable("attribution", "Attribution by channel and model", columns, rows, note="web shop")


def _ltv_segments(conn, schema: str, period: Period) -> ExportTable:
    columns = _c(
        "churn_risk:text, customers:integer, average_clv_12m:money, total_clv_12m:money, average_p_alive:rate"
    )
    rows = []
    if _exists(conn, f"{schema}.customer_ltv"):
        rows = _rows(
            conn,
            sql.SQL("""
            select churn_risk, count(*), round(avg(clv_12m)::numeric, 2), round(sum(clv_12m)::numeric, 2),
                   round(avg(p_alive)::numeric, 4)
            from {schema}.customer_ltv
            group by churn_risk
            order by case churn_risk when 'active' then 0 when 'at_risk' then 1 else 2 end, churn_risk
            """).format(schema=sql.Identifier(schema)),
            {},
        )
    return ExportTable("ltv_segments", "Customer LTV segments", columns, rows, note="web shop, latest fit")


def bundle(
    url: str,
    store_id: str,
    period: Period,
    *,
    analytics_schema: str = "analytics",
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportBundle:
    """Every table of the export of ``store_id`` for ``period``; ``UnknownStore`` for a store the
    warehouse does not know."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.read_only = True
        known = {s[0]: s for s in stores(conn)}
        if store_id not in known:
            raise UnknownStore(
                f"unknown store {store_id!r}: the warehouse knows {', '.join(sorted(known)) or 'no store yet'}"
            )
        _, name, currency = known[store_id]
        web_currency = _web_currency(conn)
        builders: list[tuple[str, Callable[[], ExportTable]]] = [
            ("store_performance", lambda: _store_performance(conn, store_id, period)),
            ("sales_trend", lambda: _sales_trend(conn, store_id, period)),
            ("sales_by_sku", lambda: _sales_by_sku(conn, store_id, period)),
            ("inventory_health", lambda: _inventory_health(conn, store_id, period)),
            ("returns_by_reason", lambda: _returns_by_reason(conn, store_id, period)),
            ("sku_return_profile", lambda: _sku_return_profile(conn, store_id, period)),
            ("funnel", lambda: _funnel(conn, store_id, period)),
            ("retention", lambda: _retention(conn, analytics_schema, period)),
            ("attribution", lambda: _attribution(conn, analytics_schema, period)),
            ("ltv_segments", lambda: _ltv_segments(conn, analytics_schema, period)),
        ]
        tables = []
        for table_name, build in builders:
            table = build()
            if table_name in ("funnel", "retention", "attribution", "ltv_segments"):
                table = ExportTable(
                    table.name, table.title, table.columns, table.rows, table.note, currency=web_currency
                )
            tables.append(table)
            if progress:
                progress(table_name)
        return ExportBundle(
            store_id=store_id,
            store_name=name,
            currency=currency,
            period=period,
            generated_at=now or dt.datetime.now(dt.UTC),
            data_through=data_through(conn, store_id),
            tables=tables,
        )
