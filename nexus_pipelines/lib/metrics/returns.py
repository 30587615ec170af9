"""Returns over a date range: rates, reasons and dispositions, from ``marts.fct_returns`` and the
units ordered of ``marts.fct_daily_sales``.

Two rates, as the two views of ``marts.fct_return_rates``: ``return_rate`` puts the units returned
during the range (by return date) over the units ordered during it; ``cohort_return_rate`` puts
the units returned at any date of the order lines purchased during the range over the same units
ordered (recent ranges rise as returns arrive). Reasons and dispositions are those of the returns
dated in the range.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from .business import sku_filter
from .catalog import RETURNS
from .common import convert, dict_rows
from .models import rounded

TOTALS = (
    "units_ordered",
    "return_lines",
    "units_returned",
    "return_rate",
    "cohort_units_returned",
    "cohort_return_rate",
    "resellable_share",
    "refunds_amount",
)
BREAKDOWN = ("return_lines", "units_returned", "share_of_returns", "resellable_share", "refunds_amount")

_TOTALS_SQL = """
with sold as (
    select coalesce(sum(s.units_ordered), 0) as units_ordered
    from marts.fct_daily_sales as s
    where s.store_id = %(store)s and s.order_date between %(start)s and %(end)s {sales_filter}
),
returned as (
    select count(*) as return_lines, coalesce(sum(r.quantity), 0) as units_returned,
        coalesce(sum(r.quantity) filter (where r.detailed_disposition = 'SELLABLE'), 0) as units_resellable,
        coalesce(sum(r.refund_amount), 0) as refunds_amount
    from marts.fct_returns as r
    where r.store_id = %(store)s and r.return_date between %(start)s and %(end)s {returns_filter}
),
cohort as (
    select coalesce(sum(r.quantity), 0) as cohort_units_returned
    from marts.fct_returns as r
    where r.store_id = %(store)s and r.order_date between %(start)s and %(end)s {returns_filter}
)
select * from sold, returned, cohort
"""

_BREAKDOWN_SQL = """
select coalesce({column}, 'UNKNOWN') as {key}, count(*) as return_lines,
    sum(r.quantity) as units_returned,
    coalesce(sum(r.quantity) filter (where r.detailed_disposition = 'SELLABLE'), 0) as units_resellable,
    coalesce(sum(r.refund_amount), 0) as refunds_amount
from marts.fct_returns as r
where r.store_id = %(store)s and r.return_date between %(start)s and %(end)s {returns_filter}
group by 1
order by 3 desc, 1
"""


def _pct(part: Any, whole: Any) -> Decimal | None:
    if part is None or not whole:
        return None
    return rounded(Decimal(part) * 100 / Decimal(whole), 2)


def returns(
    conn: psycopg.Connection,
    store: str,
    start: dt.date,
    end: dt.date,
    filters: dict[str, list[str]],
    selected: list[str],
) -> dict[str, Any]:
    params = {"store": store, "start": start, "end": end, **filters}
    fmt = {"sales_filter": sku_filter("s", filters), "returns_filter": sku_filter("r", filters)}
    t = dict_rows(conn.execute(sql.SQL(_TOTALS_SQL).format(**fmt), params))[0]
    t["return_rate"] = _pct(t["units_returned"], t["units_ordered"])
    t["cohort_return_rate"] = _pct(t["cohort_units_returned"], t["units_ordered"])
    t["resellable_share"] = _pct(t["units_resellable"], t["units_returned"])
    out: dict[str, Any] = {"totals": convert(RETURNS, t, (), [m for m in selected if m in TOTALS])}
    row_metrics = [m for m in selected if m in BREAKDOWN]
    if not row_metrics:
        return out
    for name, column in (("reasons", "reason"), ("dispositions", "detailed_disposition")):
        query = sql.SQL(_BREAKDOWN_SQL).format(
            column=sql.Identifier("r", column),
            key=sql.Identifier(column),
            returns_filter=fmt["returns_filter"],
        )
        rows = dict_rows(conn.execute(query, params))
        for r in rows:
            r["share_of_returns"] = _pct(r["units_returned"], t["units_returned"])
            r["resellable_share"] = _pct(r["units_resellable"], r["units_returned"])
        out[name] = [convert(RETURNS, r, (column,), row_metrics) for r in rows]
    return out
