"""Sales metrics over any date range, and the comparison of a range with the range before it and
with the same dates a year earlier.

The sums come from ``marts.fct_daily_store_performance`` (with a sku or asin filter: from
``marts.fct_daily_sales`` and ``marts.fct_returns``), over the days of the range that lie in the
store's span of data (its first to its last day in fct_daily_store_performance); a day of the span
without a row counts as zero sales. Ratios are recomputed from the sums exactly as
``marts.fct_period_comparison`` does (dbt_project/models/marts/business/fct_period_comparison.sql):
the average order value is sales / orders, the unit session percentage counts the units of the
days that have traffic only, the Buy Box percentage is weighted by page views, and so on. A range
with no day in the span has no values (None), like a period of the mart outside the span.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from .models import DataValidationError, rounded

HEADLINE = (
    "ordered_product_sales",
    "units_ordered",
    "orders",
    "order_items",
    "average_order_value",
    "average_selling_price",
    "sessions",
    "page_views",
    "unit_session_percentage",
    "order_item_session_percentage",
    "buy_box_percentage",
    "units_refunded",
    "refund_rate",
    "refunds_amount",
    "item_promotion_discount",
    "net_sales",
)
# the Sales and Traffic report's metrics exist per store only, not per SKU
TRAFFIC = frozenset(
    {
        "sessions",
        "page_views",
        "unit_session_percentage",
        "order_item_session_percentage",
        "buy_box_percentage",
    }
)
INTEGER = frozenset({"units_ordered", "orders", "order_items", "sessions", "page_views", "units_refunded"})
GRAINS = ("day", "week", "month")

_BUCKETS = {
    "total": sql.SQL("null::date"),
    "day": sql.SQL("d.date_day"),
    "week": sql.SQL("date_trunc('week', d.date_day)::date"),
    "month": sql.SQL("date_trunc('month', d.date_day)::date"),
}
_SUMS = (
    "ordered_product_sales",
    "units_ordered",
    "orders",
    "order_items",
    "sessions",
    "page_views",
    "traffic_units_ordered",
    "traffic_order_items",
    "buy_box_page_views",
    "average_buy_box_percentage",
    "units_refunded",
    "refunds_amount",
    "item_promotion_discount",
    "net_sales",
)

_STORE_SQL = """
with days as (
    select g::date as date_day from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as g
)
select {bucket} as bucket, min(d.date_day) as first_day, max(d.date_day) as last_day,
    coalesce(sum(p.ordered_product_sales), 0) as ordered_product_sales,
    coalesce(sum(p.units_ordered), 0) as units_ordered,
    coalesce(sum(p.orders), 0) as orders,
    coalesce(sum(p.order_items), 0) as order_items,
    sum(p.sessions) as sessions,
    sum(p.page_views) as page_views,
    sum(case when p.sessions is not null then p.units_ordered end) as traffic_units_ordered,
    sum(case when p.sessions is not null then p.order_items end) as traffic_order_items,
    sum(p.buy_box_percentage * p.page_views) as buy_box_page_views,
    avg(p.buy_box_percentage) as average_buy_box_percentage,
    coalesce(sum(p.units_refunded), 0) as units_refunded,
    coalesce(sum(p.refunds_amount), 0) as refunds_amount,
    coalesce(sum(p.item_promotion_discount), 0) as item_promotion_discount,
    coalesce(sum(p.net_sales), 0) as net_sales
from days as d
left join marts.fct_daily_store_performance as p
    on p.store_id = %(store)s and p.date_day = d.date_day {market}
group by 1
order by 1
"""

_SKU_SQL = """
with days as (
    select g::date as date_day from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as g
),
sales as (
    select s.order_date as date_day, sum(s.ordered_product_sales) as ordered_product_sales,
        sum(s.units_ordered) as units_ordered, sum(s.orders) as orders, sum(s.order_items) as order_items,
        sum(coalesce(s.item_promotion_discount, 0)) as item_promotion_discount
    from marts.fct_daily_sales as s
    where s.store_id = %(store)s and s.order_date between %(first)s and %(last)s {sales_filter}
    group by s.order_date
),
refunds as (
    select s.return_date as date_day, sum(s.quantity) as units_refunded,
        sum(coalesce(s.refund_amount, 0)) as refunds_amount
    from marts.fct_returns as s
    where s.store_id = %(store)s and s.return_date between %(first)s and %(last)s {returns_filter}
    group by s.return_date
)
select {bucket} as bucket, min(d.date_day) as first_day, max(d.date_day) as last_day,
    coalesce(sum(sa.ordered_product_sales), 0) as ordered_product_sales,
    coalesce(sum(sa.units_ordered), 0) as units_ordered,
    coalesce(sum(sa.orders), 0) as orders,
    coalesce(sum(sa.order_items), 0) as order_items,
    null::bigint as sessions, null::bigint as page_views,
    null::bigint as traffic_units_ordered, null::bigint as traffic_order_items,
    null::numeric as buy_box_page_views, null::numeric as average_buy_box_percentage,
    coalesce(sum(r.units_refunded), 0) as units_refunded,
    coalesce(sum(r.refunds_amount), 0) as refunds_amount,
    coalesce(sum(sa.item_promotion_discount), 0) as item_promotion_discount,
    coalesce(sum(sa.ordered_product_sales), 0) - coalesce(sum(sa.item_promotion_discount), 0)
        - coalesce(sum(r.refunds_amount), 0) as net_sales
from days as d
left join sales as sa on sa.date_day = d.date_day
left join refunds as r on r.date_day = d.date_day
group by 1
order by 1
"""


def market_filter(alias: str) -> sql.Composable:
    """The rows of a store in one of the filter's marketplaces (dim_store.marketplace)."""
    return sql.SQL(
        "and exists (select 1 from marts.dim_store as m where m.store_id = {a}.store_id "
        "and m.marketplace = any(%(marketplace)s))"
    ).format(a=sql.Identifier(alias))


def sku_filter(alias: str, filters: dict[str, list[str]]) -> sql.Composable:
    """sku / asin / marketplace predicates on a SKU-level table aliased ``alias``."""
    parts: list[sql.Composable] = []
    a = sql.Identifier(alias)
    if "sku" in filters:
        parts.append(sql.SQL("and {a}.sku = any(%(sku)s)").format(a=a))
    if "asin" in filters:
        parts.append(sql.SQL("and {a}.asin = any(%(asin)s)").format(a=a))
    if "marketplace" in filters:
        parts.append(market_filter(alias))
    return sql.SQL(" ").join(parts)


def sku_level(filters: dict[str, list[str]]) -> bool:
    return "sku" in filters or "asin" in filters


def check_sku_metrics(selected: list[str], filters: dict[str, list[str]], explicit: bool) -> list[str]:
    """Without traffic metrics under a sku/asin filter: left out when every metric was asked for,
    DataValidationError naming the filter when they were asked for by name."""
    if not sku_level(filters):
        return selected
    traffic = [m for m in selected if m in TRAFFIC]
    if traffic and explicit:
        key = "sku" if "sku" in filters else "asin"
        raise DataValidationError(
            f"filter {key} cannot be applied to {', '.join(traffic)}: the Sales and Traffic report "
            "is per store, not per SKU",
            field=key,
        )
    return [m for m in selected if m not in TRAFFIC]


@dataclass(frozen=True)
class Bucket:
    start: dt.date | None  # None: the whole range
    first_day: dt.date
    last_day: dt.date
    values: dict[str, Decimal | int | None]


def daily_sums(
    conn: psycopg.Connection,
    store: str,
    first: dt.date,
    last: dt.date,
    filters: dict[str, list[str]],
    grain: str = "total",
) -> list[Bucket]:
    """The headline metrics of each ``grain`` bucket (``total``: one) of the days first .. last."""
    params: dict[str, Any] = {"store": store, "first": first, "last": last, **filters}
    if sku_level(filters):
        query = sql.SQL(_SKU_SQL).format(
            bucket=_BUCKETS[grain],
            sales_filter=sku_filter("s", filters),
            returns_filter=sku_filter("s", filters),
        )
    else:
        market = market_filter("p") if "marketplace" in filters else sql.SQL("")
        query = sql.SQL(_STORE_SQL).format(bucket=_BUCKETS[grain], market=market)
    cursor = conn.execute(query, params)
    names = [c.name for c in cursor.description or ()]
    out = []
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        out.append(Bucket(record["bucket"], record["first_day"], record["last_day"], headline(record)))
    return out


def _ratio(numerator: Any, denominator: Any, scale: int = 2) -> Decimal | None:
    """numerator / denominator rounded, None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or Decimal(denominator) == 0:
        return None
    return rounded(Decimal(numerator) / Decimal(denominator), scale)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def headline(s: dict[str, Any]) -> dict[str, Decimal | int | None]:
    """The 16 headline metrics from a bucket's sums, as fct_period_comparison computes them."""
    sales, units, orders = s["ordered_product_sales"], s["units_ordered"], s["orders"]
    sessions = s["sessions"]
    buy_box = (
        Decimal(s["buy_box_page_views"]) / Decimal(s["page_views"])
        if s["buy_box_page_views"] is not None and s["page_views"]
        else s["average_buy_box_percentage"]
    )
    units_refunded = s["units_refunded"]
    return {
        "ordered_product_sales": rounded(sales, 2),
        "units_ordered": _int(units),
        "orders": _int(orders),
        "order_items": _int(s["order_items"]),
        "average_order_value": _ratio(sales, orders),
        "average_selling_price": _ratio(sales, units),
        "sessions": _int(sessions),
        "page_views": _int(s["page_views"]),
        "unit_session_percentage": _ratio(
            None if s["traffic_units_ordered"] is None else s["traffic_units_ordered"] * 100, sessions
        ),
        "order_item_session_percentage": _ratio(
            None if s["traffic_order_items"] is None else s["traffic_order_items"] * 100, sessions
        ),
        "buy_box_percentage": rounded(buy_box, 2),
        "units_refunded": _int(units_refunded),
        "refund_rate": _ratio(None if units_refunded is None else units_refunded * 100, units),
        "refunds_amount": rounded(s["refunds_amount"], 2),
        "item_promotion_discount": rounded(s["item_promotion_discount"], 2),
        "net_sales": rounded(s["net_sales"], 2),
    }


def clip(start: dt.date, end: dt.date, span: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date] | None:
    """The days of start .. end inside the store's span (None: no day)."""
    first, last = max(start, span[0]), min(end, span[1])
    return (first, last) if first <= last else None


def range_totals(
    conn: psycopg.Connection,
    store: str,
    start: dt.date,
    end: dt.date,
    span: tuple[dt.date, dt.date],
    filters: dict[str, list[str]],
) -> dict[str, Decimal | int | None]:
    """The headline metrics of start .. end (every value None when no day is in the span)."""
    days = clip(start, end, span)
    if days is None:
        return dict.fromkeys(HEADLINE)
    buckets = daily_sums(conn, store, days[0], days[1], filters)
    return buckets[0].values if buckets else dict.fromkeys(HEADLINE)


def change(value: Any, base: Any, name: str) -> tuple[Decimal | int | None, Decimal | None]:
    """(value − base, (value − base) / |base| × 100 rounded to 2), None where base is None or 0."""
    if value is None or base is None:
        return None, None
    diff = value - base
    pct = None if base == 0 else rounded(Decimal(diff) * 100 / abs(Decimal(base)), 2)
    return (int(diff) if name in INTEGER else diff), pct


def previous_range(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The N days before start, N being the length of start .. end."""
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


def comparison(
    current: dict[str, Any], previous: dict[str, Any], last_year: dict[str, Any], selected: list[str]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in selected:
        value, prev, ly = current[name], previous[name], last_year[name]
        diff, pct = change(value, prev, name)
        yoy, yoy_pct = change(value, ly, name)
        out[name] = {
            "value": value,
            "previous": prev,
            "change": diff,
            "change_pct": pct,
            "last_year": ly,
            "yoy_change": yoy,
            "yoy_change_pct": yoy_pct,
        }
    return out
