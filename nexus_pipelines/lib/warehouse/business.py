"""The business at a glance, printed at the end of `nexus run` / `make demo`.

Per Amazon store: the headline metrics of the last complete ISO week against the week before and
the same week last year (from ``marts.fct_period_comparison``), the top three SKUs of that week,
the SKUs at stockout risk at the latest inventory snapshot, the 90-day return rate and how fresh
the store's data is. For the web store: each funnel's conversion, week-1 retention of the
first-activity cohorts and the A/B results. Every figure is read from a mart or an analytics
table (nothing is recomputed here), so what is printed is what a BI tool would show.

A table that does not exist yet (a warehouse built only in part) leaves its lines out rather than
failing the run's summary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from ..config import Settings
from ..freshness import SourceFreshness, source_freshness, worst
from .connection import one_row, scalar

MARTS = "marts"

# (label, column of fct_period_comparison, kind): the headline rows, in the order printed
HEADLINES: tuple[tuple[str, str, str], ...] = (
    ("sales", "ordered_product_sales", "money"),
    ("orders", "orders", "count"),
    ("units", "units_ordered", "count"),
    ("AOV", "average_order_value", "money"),
    ("conversion (unit session %)", "unit_session_percentage", "percent"),
    ("refunds", "refunds_amount", "money"),
    ("net sales", "net_sales", "money"),
)


@dataclass(frozen=True)
class Headline:
    label: str
    kind: str  # money, count or percent
    value: Decimal | int | None
    previous_change_pct: Decimal | None  # vs the week before
    last_year_change_pct: Decimal | None  # vs the same week last year


@dataclass(frozen=True)
class StoreSummary:
    store_id: str
    name: str | None
    currency: str | None
    week_start: dt.date | None  # None: no complete week yet
    week_end: dt.date | None
    headlines: list[Headline] = field(default_factory=list)
    top_skus: list[tuple[str, Decimal]] = field(default_factory=list)  # (sku, sales) of the week
    stockout_skus: list[tuple[str, Decimal | None, int | None]] = field(default_factory=list)
    snapshot_date: dt.date | None = None  # of the stockout list
    return_rate_90d: Decimal | None = None  # percent
    data_through: dt.date | None = None  # newest day with sales data
    freshness: str | None = None  # worst freshness status of the store's sources (fresh, warn, ...)
    loaded_hours_ago: float | None = None  # age of the store's oldest latest load


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    variation_id: str
    metric: str
    lift: float | None  # relative lift vs control (0.05 = +5%)
    p_value: float | None
    chance_to_win: float | None


@dataclass(frozen=True)
class WebSummary:
    funnels: list[tuple[str, float | None]] = field(default_factory=list)  # (funnel, share 0..1 from start)
    week1_retention: float | None = None  # share 0..1 of complete first-activity weekly cohorts
    week1_cohorts: int = 0
    experiments: list[Experiment] = field(default_factory=list)


@dataclass(frozen=True)
class BusinessSummary:
    stores: list[StoreSummary]
    web: WebSummary


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return bool(scalar(conn, "select to_regclass(%s) is not null", (f'"{schema}"."{table}"',)))


def _rows(conn: psycopg.Connection, query: Any, params: Any = None) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def _freshness(conn: psycopg.Connection, settings: Settings | None) -> dict[str, tuple[str, float | None]]:
    """Per store: the worst freshness status of its sources and the largest age of their loads."""
    if settings is None:
        return {}
    by_store: dict[str, list[SourceFreshness]] = {}
    for f in source_freshness(conn, dt.datetime.now(dt.UTC), settings):
        if f.store_id is not None:
            by_store.setdefault(f.store_id, []).append(f)
    out = {}
    for store, items in by_store.items():
        status = worst(f.status for f in items)
        ages = [f.age_hours for f in items if f.age_hours is not None]
        out[store] = (str(status) if status else "ok", max(ages) if ages else None)
    return out


def _store_summaries(conn: psycopg.Connection, settings: Settings | None) -> list[StoreSummary]:
    if not _exists(conn, MARTS, "fct_period_comparison"):
        return []
    names: dict[str, tuple[str | None, str | None]] = {}
    if _exists(conn, MARTS, "dim_store"):
        names = {
            r[0]: (r[1], r[2])
            for r in _rows(conn, "select store_id, store_name, currency from marts.dim_store")
        }
    columns = [
        sql.SQL("{c}, {p}, {y}").format(
            c=sql.Identifier(col),
            p=sql.Identifier(f"{col}_change_pct"),
            y=sql.Identifier(f"{col}_yoy_change_pct"),
        )
        for _label, col, _kind in HEADLINES
    ]
    weeks = _rows(
        conn,
        sql.SQL(
            """
            select distinct on (store_id) store_id, period_start, period_end, {columns}
            from marts.fct_period_comparison
            where period_grain = 'week' and is_complete
            order by store_id, period_start desc
            """
        ).format(columns=sql.SQL(", ").join(columns)),
    )
    by_store = {r[0]: r for r in weeks}
    fresh = _freshness(conn, settings)
    stores = sorted(
        set(by_store)
        | set(names)
        | {r[0] for r in _rows(conn, "select distinct store_id from marts.fct_period_comparison")}
    )
    out = []
    for store in stores:
        name, currency = names.get(store, (None, None))
        status, age = fresh.get(store, (None, None))
        row = by_store.get(store)
        if row is None:
            out.append(
                StoreSummary(store, name, currency, None, None, freshness=status, loaded_hours_ago=age)
            )
            continue
        values = row[3:]
        headlines = [
            Headline(label, kind, values[3 * i], values[3 * i + 1], values[3 * i + 2])
            for i, (label, _col, kind) in enumerate(HEADLINES)
        ]
        out.append(
            StoreSummary(
                store,
                name,
                currency,
                row[1],
                row[2],
                headlines,
                freshness=status,
                loaded_hours_ago=age,
                **_store_details(conn, store, row[1], row[2]),
            )
        )
    return out


def _store_details(conn: psycopg.Connection, store: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if _exists(conn, MARTS, "fct_daily_sales"):
        details["top_skus"] = [
            (sku, sales)
            for sku, sales in _rows(
                conn,
                """
                select sku, sum(ordered_product_sales) as sales
                from marts.fct_daily_sales
                where store_id = %s and order_date between %s and %s
                group by sku
                having sum(ordered_product_sales) > 0
                order by sales desc, sku
                limit 3
                """,
                (store, start, end),
            )
        ]
        details["data_through"] = scalar(
            conn, "select max(order_date) from marts.fct_daily_sales where store_id = %s", (store,)
        )
    if _exists(conn, MARTS, "fct_inventory_health"):
        risk = _rows(
            conn,
            """
            select snapshot_date, sku, days_of_supply, lead_time_days
            from marts.fct_inventory_health
            where store_id = %(s)s
              and snapshot_date = (select max(snapshot_date) from marts.fct_inventory_health where store_id = %(s)s)
              and stockout_risk
            order by days_of_supply nulls first, sku
            """,
            {"s": store},
        )
        details["stockout_skus"] = [(sku, days, lead) for _d, sku, days, lead in risk]
        details["snapshot_date"] = scalar(
            conn, "select max(snapshot_date) from marts.fct_inventory_health where store_id = %s", (store,)
        )
    if _exists(conn, MARTS, "fct_sku_return_profile"):
        details["return_rate_90d"] = scalar(
            conn,
            """
            select store_return_rate_90d from marts.fct_sku_return_profile
            where store_id = %s order by window_end desc limit 1
            """,
            (store,),
        )
    return details


def _web_summary(conn: psycopg.Connection, analytics_schema: str) -> WebSummary:
    funnels: list[tuple[str, float | None]] = []
    if _exists(conn, MARTS, "fct_funnel_steps"):
        funnels = [
            (name, None if rate is None else float(rate))
            for name, rate in _rows(
                conn,
                """
                select distinct on (funnel_name) funnel_name, conversion_rate_from_start
                from marts.fct_funnel_steps
                where breakdown_type = 'all'
                order by funnel_name, step_number desc
                """,
            )
        ]
    retention, cohorts = None, 0
    if _exists(conn, analytics_schema, "cohort_retention"):
        retained, size, cohorts = one_row(
            conn,
            sql.SQL(
                """
                select sum(retained), sum(cohort_size), count(*)
                from {t}
                where period_grain = 'week' and mode = 'first_time' and period_offset = 1
                  and is_complete and cohort_size > 0
                """
            ).format(t=sql.Identifier(analytics_schema, "cohort_retention")),
        )
        retention = float(retained) / float(size) if size else None
    experiments: list[Experiment] = []
    if _exists(conn, analytics_schema, "experiment_results"):
        experiments = [
            Experiment(*row)
            for row in _rows(
                conn,
                sql.SQL(
                    """
                    select f.experiment_id, f.variation_id, f.metric, f.lift, f.p_value, b.chance_to_win
                    from {t} as f
                    left join {t} as b
                      on b.experiment_id = f.experiment_id and b.variation_id = f.variation_id
                     and b.metric = f.metric and b.engine = 'bayesian'
                    where f.engine = 'frequentist' and not f.is_control and f.error is null
                    order by f.experiment_id, f.metric, f.variation_id
                    """
                ).format(t=sql.Identifier(analytics_schema, "experiment_results")),
            )
        ]
    return WebSummary(funnels, retention, int(cohorts or 0), experiments)


def business_summary(url: str, settings: Settings | None = None) -> BusinessSummary:
    """What ``format_business`` prints; ``settings`` (the analytics schema, the freshness limits)
    also adds each store's freshness."""
    schema = settings.analytics_schema if settings else "analytics"
    with psycopg.connect(url) as conn:
        return BusinessSummary(_store_summaries(conn, settings), _web_summary(conn, schema))


# ---------------------------------------------------------------- text
def _money(value: Decimal | int | None, currency: str | None) -> str:
    if value is None:
        return "n/a"
    return f"{currency or ''} {Decimal(value):,.2f}".strip()


def _value(h: Headline, currency: str | None) -> str:
    if h.value is None:
        return "n/a"
    if h.kind == "money":
        return _money(h.value, currency)
    if h.kind == "percent":
        return f"{Decimal(h.value):.2f}%"
    return f"{int(h.value):,}"


def _change(pct: Decimal | None) -> str:
    """A percent change with an arrow: ▲ +4.5%, ▼ -2.0%, = 0.0%; n/a when there is no base."""
    if pct is None:
        return "n/a"
    pct = Decimal(pct)
    arrow = "▲" if pct > 0 else "▼" if pct < 0 else "="
    return f"{arrow} {pct:+.1f}%"


def format_store(s: StoreSummary) -> list[str]:
    title = f"store {s.store_id}" + (f" ({s.name})" if s.name and s.name != s.store_id else "")
    if s.week_start is None:
        return [
            f"{title}: no complete week of data yet" + (f" (freshness {s.freshness})" if s.freshness else "")
        ]
    lines = [
        f"{title}, week {s.week_start.isocalendar().year}-W{s.week_start.isocalendar().week:02d} "
        f"({s.week_start} .. {s.week_end}): value, vs week before, vs same week last year"
    ]
    for h in s.headlines:
        lines.append(
            f"  {h.label:<28} {_value(h, s.currency):>16}  {_change(h.previous_change_pct):>10}"
            f"  {_change(h.last_year_change_pct):>10}"
        )
    if s.top_skus:
        tops = ", ".join(f"{sku} {_money(v, s.currency)}" for sku, v in s.top_skus)
        lines.append(f"  top SKUs of the week: {tops}")
    if s.snapshot_date is not None:
        if s.stockout_skus:
            shown = ", ".join(
                f"{sku} ({'n/a' if days is None else f'{Decimal(days):.0f}'} d of supply, lead time {lead} d)"
                for sku, days, lead in s.stockout_skus[:3]
            )
            more = f" and {len(s.stockout_skus) - 3} more" if len(s.stockout_skus) > 3 else ""
            lines.append(
                f"  stockout risk on {s.snapshot_date}: {len(s.stockout_skus)} SKU(s): {shown}{more}"
            )
        else:
            lines.append(f"  stockout risk on {s.snapshot_date}: none")
    if s.return_rate_90d is not None:
        lines.append(f"  return rate (units, last 90 days): {Decimal(s.return_rate_90d):.2f}%")
    data = []
    if s.data_through is not None:
        data.append(f"sales data through {s.data_through}")
    if s.freshness is not None:
        age = "" if s.loaded_hours_ago is None else f", last loaded {s.loaded_hours_ago:.1f} h ago"
        data.append(f"freshness {s.freshness}{age}")
    if data:
        lines.append("  " + "; ".join(data))
    return lines


def format_web(w: WebSummary) -> list[str]:
    lines = []
    for name, rate in w.funnels:
        lines.append(
            f"  funnel {name}: {'n/a' if rate is None else f'{100 * rate:.1f}%'} of users entering it complete it"
        )
    if w.week1_retention is not None:
        lines.append(
            f"  week-1 retention: {100 * w.week1_retention:.1f}% of new users "
            f"({w.week1_cohorts} complete weekly cohorts)"
        )
    for e in w.experiments:
        lift = "n/a" if e.lift is None else f"{100 * e.lift:+.1f}%"
        p = "" if e.p_value is None else f", p = {e.p_value:.3f}"
        win = "" if e.chance_to_win is None else f", chance to win {100 * e.chance_to_win:.0f}%"
        lines.append(f"  A/B {e.experiment_id}: {e.variation_id} vs control, {e.metric} {lift}{p}{win}")
    return ["web store"] + lines if lines else []


def format_business(summary: BusinessSummary) -> str:
    if not summary.stores and not format_web(summary.web):
        return "no marts yet: nothing to summarise"
    lines: list[str] = []
    for store in summary.stores:
        lines.extend(format_store(store))
    lines.extend(format_web(summary.web))
    return "\n".join(lines)
