"""Inventory health and the SKUs at risk of a stockout, from ``marts.fct_inventory_health``.

The mart holds one row per SKU as of the SKU's latest snapshot, so these endpoints describe the
current state whatever the date range (which is still checked against the store's data). Totals
add up the additive metrics of the SKUs listed; the days of supply are recomputed from the sums
(Σ fulfillable / (Σ units sold in 30 days / 30)), never averaged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from .business import sku_filter
from .catalog import INVENTORY, metrics_of
from .common import convert, dict_rows
from .models import json_value, rounded

KEYS = ("sku", "asin", "snapshot_date")
ADDITIVE = frozenset(
    {
        "fulfillable_quantity",
        "reserved_quantity",
        "unsellable_quantity",
        "inbound_quantity",
        "on_hand_quantity",
        "units_sold_t7",
        "units_sold_t30",
        "units_sold_t90",
        "average_daily_units_t30",
        "excess_units",
        "aged_0_90_units",
        "aged_91_180_units",
        "aged_181_270_units",
        "aged_271_365_units",
        "aged_365_plus_units",
        "suggested_reorder_qty",
    }
)
# what stock-at-risk shows when no metric is named
AT_RISK_DEFAULT = (
    "fulfillable_quantity",
    "inbound_quantity",
    "units_sold_t30",
    "average_daily_units_t30",
    "days_of_supply",
    "lead_time_days",
    "reorder_point",
    "suggested_reorder_qty",
)


def _rows(
    conn: psycopg.Connection, store: str, filters: dict[str, list[str]], *, at_risk: bool
) -> list[dict[str, Any]]:
    columns = sql.SQL(", ").join(sql.Identifier("h", name) for name in metrics_of(INVENTORY))
    where = sql.SQL("and h.stockout_risk") if at_risk else sql.SQL("")
    order = sql.SQL("h.days_of_supply asc nulls first, h.sku") if at_risk else sql.SQL("h.sku")
    query = sql.SQL(
        """
        select h.sku, h.asin, h.snapshot_date, {columns}
        from marts.fct_inventory_health as h
        where h.store_id = %(store)s {filters} {where}
        order by {order}
        """
    ).format(columns=columns, filters=sku_filter("h", filters), where=where, order=order)
    return dict_rows(conn.execute(query, {"store": store, **filters}))


def _totals(rows: list[dict[str, Any]], selected: list[str]) -> dict[str, Any]:
    units = metrics_of(INVENTORY)
    totals: dict[str, Any] = {"skus": len(rows)}
    if "stockout_risk" in selected:
        totals["skus_at_risk"] = sum(1 for r in rows if r["stockout_risk"])
    for name in selected:
        if name in ADDITIVE:
            values = [Decimal(r[name]) for r in rows if r[name] is not None]
            total = sum(values, Decimal(0)) if values or not rows else None  # no SKU: 0
            totals[name] = json_value(total, units[name].unit)
    if "days_of_supply" in selected:
        fulfillable = sum((Decimal(r["fulfillable_quantity"] or 0) for r in rows), Decimal(0))
        sold = sum((Decimal(r["units_sold_t30"] or 0) for r in rows), Decimal(0))
        totals["days_of_supply"] = json_value(
            rounded(fulfillable * 30 / sold, 2) if sold else None, units["days_of_supply"].unit
        )
    return totals


def latest_snapshot(conn: psycopg.Connection, store: str) -> dt.date | None:
    """The store's newest inventory snapshot (whatever the filters)."""
    row = conn.execute(
        "select max(snapshot_date) from marts.fct_inventory_health where store_id = %s", (store,)
    ).fetchone()
    return row[0] if row else None


def health(
    conn: psycopg.Connection, store: str, filters: dict[str, list[str]], selected: list[str]
) -> dict[str, Any]:
    rows = _rows(conn, store, filters, at_risk=False)
    skus = [convert(INVENTORY, r, KEYS, selected) for r in rows]
    return {"totals": _totals(rows, selected), "skus": skus}


def stock_at_risk(
    conn: psycopg.Connection, store: str, filters: dict[str, list[str]], selected: list[str]
) -> dict[str, Any]:
    rows = _rows(conn, store, filters, at_risk=True)
    skus = [convert(INVENTORY, r, KEYS, selected) for r in rows]
    totals = _totals(rows, [m for m in selected if m == "suggested_reorder_qty"])
    totals["skus_at_risk"] = totals.pop("skus")
    return {"totals": totals, "skus": skus}
