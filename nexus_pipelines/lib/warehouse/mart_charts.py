"""What a mart holds, for the metadata of its materialization: its date range and a chart.

Every function takes an open connection and the mart's schema and table name (quoted as
identifiers, never pasted into the SQL) and runs one aggregate query, so that at most a few
hundred rows come back whatever the mart's size. A chart function returns the PNG bytes of an
800 × 500 px chart in the style of ``lib/analytics/charts.py``, or None when the mart has no row
to chart; figures are rounded for reading (money to whole units on the axis, cover to one
decimal).

* ``sales_trend``: daily ``ordered_product_sales`` of each store over the last 90 days of
  ``fct_daily_store_performance``, the y axis in the stores' currency;
* ``inventory_cover``: ``days_of_supply`` of each SKU's latest snapshot in
  ``fct_inventory_health`` (the SKUs with the least cover), bars in red where the cover is shorter
  than the store's replenishment lead time, drawn as a line;
* ``return_reasons``: units returned by customer reason in ``fct_returns_by_reason``;
* ``funnel``: users reaching each step of each funnel in ``fct_funnel_steps`` (breakdown ``all``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import psycopg
from matplotlib.ticker import FuncFormatter
from psycopg import sql

from ..analytics.charts import _draw_no_data, _new_figure, _render, bar_png, grouped_bar_png

SALES_TREND_DAYS = 90
COVER_SKUS = 25  # SKUs shown on the inventory cover chart: those with the fewest days of supply
# The cover axis stops at this many lead times (or 90 days, if more): a SKU that sells once a
# quarter has years of supply and would flatten every other bar; its label keeps the real value.
COVER_AXIS_LEAD_TIMES = 4
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
_AT_RISK, _COVERED = "#c0392b", "#2b7bba"


def _table(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def _rows(conn: psycopg.Connection, query: sql.Composed, params: Any = None) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def date_range(
    conn: psycopg.Connection, schema: str, table: str, column: str
) -> tuple[dt.date | None, dt.date | None]:
    """(first, last) value of the date ``column`` of ``schema.table``; (None, None) when empty."""
    row = conn.execute(
        sql.SQL("select min({c}), max({c}) from {t}").format(
            c=sql.Identifier(column), t=_table(schema, table)
        )
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def money_formatter(currency: str | None):
    """A tick formatter for amounts of ``currency``: "$1,200", "€950", "1,200 SEK", or "1,200"."""
    code = (currency or "").strip().upper()
    symbol = CURRENCY_SYMBOLS.get(code)

    def formatted(value: float, _position=None) -> str:
        amount = f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:,.2f}"
        if symbol:
            return f"-{symbol}{amount[1:]}" if amount.startswith("-") else f"{symbol}{amount}"
        return f"{amount} {code}" if code else amount

    return FuncFormatter(formatted)


# ---------------------------------------------------------------------------------------- sales
_SALES_TREND = """
select store_id, currency, date_day, round(ordered_product_sales, 2)
from {t}
where date_day > (select max(date_day) from {t}) - %(days)s::integer
order by store_id, date_day
"""


def sales_trend(
    conn: psycopg.Connection, schema: str, table: str, days: int = SALES_TREND_DAYS
) -> bytes | None:
    rows = _rows(conn, sql.SQL(_SALES_TREND).format(t=_table(schema, table)), {"days": days})
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["store_id", "currency", "date_day", "sales"])
    return sales_trend_png(frame, days)


def sales_trend_png(frame: pd.DataFrame, days: int = SALES_TREND_DAYS) -> bytes:
    """One line per store (columns store_id, currency, date_day, sales); a day a store has no row
    between its first and last day counts 0 (the mart has a row on every day with an order)."""
    fig, ax = _new_figure(f"Ordered product sales per day and store, last {days} days")
    if frame.empty:
        _draw_no_data(ax)
        return _render(fig)
    currencies = sorted({str(c) for c in frame["currency"].dropna()})
    single = currencies[0] if len(currencies) == 1 else None
    for store, rows in frame.groupby("store_id", sort=True):
        sales = rows.set_index("date_day")["sales"].astype(float)
        every_day = [d.date() for d in pd.date_range(min(sales.index), max(sales.index), freq="D")]
        sales = sales.reindex(every_day, fill_value=0.0)
        currency = rows["currency"].dropna()
        label = str(store) if single or currency.empty else f"{store} ({currency.iloc[0]})"
        ax.plot(every_day, sales.to_numpy(), marker="o", markersize=2, linewidth=1.2, label=label)
    ax.yaxis.set_major_formatter(money_formatter(single))
    ax.set_ylabel("ordered product sales" + ("" if single else " (store currency)"))
    ax.set_ylim(bottom=0)
    fig.autofmt_xdate()
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return _render(fig)


# ------------------------------------------------------------------------------------ inventory
_INVENTORY_COVER = """
select store_id, sku, round(days_of_supply, 1), lead_time_days,
       max(snapshot_date) over () as latest_snapshot,
       count(*) over () as skus,
       count(days_of_supply) over () as skus_with_sales
from {t}
order by days_of_supply nulls last, store_id, sku
limit %(limit)s
"""


def inventory_cover(
    conn: psycopg.Connection, schema: str, table: str, limit: int = COVER_SKUS
) -> bytes | None:
    rows = _rows(conn, sql.SQL(_INVENTORY_COVER).format(t=_table(schema, table)), {"limit": limit})
    if not rows:
        return None
    frame = pd.DataFrame(
        rows,
        columns=[
            "store_id",
            "sku",
            "days_of_supply",
            "lead_time_days",
            "latest_snapshot",
            "skus",
            "skus_with_sales",
        ],
    )
    return inventory_cover_png(frame)


def inventory_cover_png(frame: pd.DataFrame) -> bytes:
    """Horizontal bars of days of supply, fewest at the top, with the lead time(s) as lines."""
    covered = frame.dropna(subset=["days_of_supply"])
    total = int(frame["skus"].iloc[0]) if len(frame) else 0
    with_sales = int(frame["skus_with_sales"].iloc[0]) if len(frame) else 0
    latest = frame["latest_snapshot"].iloc[0] if len(frame) else None
    title = "Days of supply per SKU" + (f", latest snapshots (up to {latest})" if latest else "")
    if len(covered):
        unsold = total - with_sales
        title += (
            f"\n{len(covered)} fewest of {with_sales} SKUs selling in 30 days"
            + (f" ({unsold} not selling)" if unsold else "")
            + "; red: below the lead time"
        )
    fig, ax = _new_figure(title)
    if covered.empty:
        _draw_no_data(ax)
        return _render(fig)
    days = covered["days_of_supply"].astype(float).to_numpy()
    lead = covered["lead_time_days"].astype(float).to_numpy()
    several_stores = covered["store_id"].nunique() > 1
    labels = [f"{s} · {k}" if several_stores else str(k) for s, k in zip(covered["store_id"], covered["sku"])]
    lead_times = sorted({int(t) for t in lead if not math.isnan(t)})
    longest_lead = lead_times[-1] if lead_times else 0
    cap = max(COVER_AXIS_LEAD_TIMES * longest_lead, 90.0)
    axis_end = max(min(cap, float(days.max())), longest_lead) * 1.15 or 1.0
    positions = range(len(labels))
    bars = ax.barh(
        positions,
        [min(d, axis_end) for d in days],
        color=[_AT_RISK if not math.isnan(t) and d < t else _COVERED for d, t in zip(days, lead)],
    )
    ax.bar_label(bars, labels=[f"{d:,.1f}" for d in days], fontsize=7, padding=2)
    ax.set_yticks(list(positions), labels)
    ax.tick_params(axis="y", labelsize=7 if len(labels) > 15 else 8)
    ax.invert_yaxis()
    ax.set_xlim(0, axis_end * 1.08)
    for lead_time in lead_times:
        ax.axvline(lead_time, color="grey", linestyle="--", linewidth=1, label=f"lead time {lead_time} d")
    ax.set_xlabel("days of supply (fulfillable ÷ average daily units sold over 30 days)")
    if lead_times:
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _render(fig)


# -------------------------------------------------------------------------------------- returns
_RETURN_REASONS = """
select reason, sum(units_returned)::bigint as units
from {t}
group by reason
order by units desc, reason
"""


def return_reasons(conn: psycopg.Connection, schema: str, table: str) -> bytes | None:
    rows = _rows(conn, sql.SQL(_RETURN_REASONS).format(t=_table(schema, table)))
    if not rows:
        return None
    return bar_png(
        [reason for reason, _units in rows],
        [int(units) for _reason, units in rows],
        "Units returned by customer reason (all stores)",
        xlabel="reason",
    )


# --------------------------------------------------------------------------------------- funnel
_FUNNEL = """
select funnel_name, funnel_mode, window_days, step_number, step_name, users_converted
from {t}
where breakdown_type = 'all'
order by funnel_name, step_number
"""


def funnel(conn: psycopg.Connection, schema: str, table: str) -> bytes | None:
    rows = _rows(conn, sql.SQL(_FUNNEL).format(t=_table(schema, table)))
    if not rows:
        return None
    return funnel_png(
        pd.DataFrame(
            rows, columns=["funnel_name", "mode", "window_days", "step_number", "step_name", "users"]
        )
    )


def funnel_png(frame: pd.DataFrame) -> bytes:
    """One funnel: a bar per step, named with its share of the users who entered; several: grouped
    bars per step number, one per funnel."""
    names: Sequence[str] = sorted({str(n) for n in frame["funnel_name"]})
    if len(names) == 1:
        first = frame.iloc[0]
        window = float(first["window_days"]) if first["window_days"] is not None else None
        within = f", within {window:g} days" if window is not None else ""
        users = [int(u) for u in frame["users"]]
        entered = users[0] if users else 0
        return bar_png(
            [
                f"{n}. {s}" + (f" ({u / entered:.0%})" if k and entered else "")
                for k, (n, s, u) in enumerate(zip(frame["step_number"], frame["step_name"], users))
            ],
            users,
            f"Funnel {names[0]} ({first['mode']}{within}): users reaching each step",
            xlabel="step (share of the users who entered the funnel)",
        )
    steps = sorted({int(s) for s in frame["step_number"]})
    per_funnel = {
        name: [
            float(rows.loc[rows["step_number"] == step, "users"].iloc[0])
            if (rows["step_number"] == step).any()
            else math.nan
            for step in steps
        ]
        for name, rows in frame.groupby("funnel_name", sort=True)
    }
    return grouped_bar_png(
        [f"step {s}" for s in steps], per_funnel, "Funnels: users reaching each step", ylabel="users"
    )
