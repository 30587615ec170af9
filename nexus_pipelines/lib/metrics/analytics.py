"""Web-shop analytics from the tables the Python assets write (schema ``analytics``, or the one
configured): cohort retention, channel attribution, CLV segments and A/B test results.

The schema's name is always passed as an identifier (``psycopg.sql.Identifier``), never pasted
into the SQL. Like the product marts these are the same for every store.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from .catalog import ATTRIBUTION, CLV, COHORTS, EXPERIMENTS, metrics_of
from .common import convert, dict_rows, require
from .models import DataValidationError

COHORT_GRAINS = ("week", "month")
MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)
SEGMENT_ORDER = ("active", "at_risk", "churned")
EXPERIMENT_KEYS = (
    "experiment_id",
    "variation_id",
    "is_control",
    "metric",
    "engine",
    "first_exposed_at",
    "last_exposed_at",
    "error",
)


def _table(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def _dec(value: Any) -> Decimal | None:
    """A float or numeric as an exact Decimal (a float through its shortest repr)."""
    if value is None:
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def cohorts(
    conn: psycopg.Connection, schema: str, start: dt.date, end: dt.date, grain: str, selected: list[str]
) -> dict[str, Any]:
    if grain not in COHORT_GRAINS:
        raise DataValidationError(
            f"grain must be one of {', '.join(COHORT_GRAINS)}, got {str(grain)[:20]!r}", field="grain"
        )
    require(conn, schema, "cohort_retention")
    query = sql.SQL(
        """
        select mode, cohort_start, period_offset, period_start, cohort_size, retained, retention_rate,
            churn_rate, period_churn, is_complete
        from {t}
        where period_grain = %(grain)s and cohort_start <= %(end)s
          and (cohort_start + %(length)s::interval)::date > %(start)s
        order by mode, cohort_start, period_offset
        """
    ).format(t=_table(schema, "cohort_retention"))
    params = {"grain": grain, "start": start, "end": end, "length": f"1 {grain}"}
    rows = dict_rows(conn.execute(query, params))
    keys = ("mode", "cohort_start", "period_offset", "period_start")
    return {"cohorts": [convert(COHORTS, r, keys, selected) for r in rows]}


def _roas(revenue: Decimal | None, spend: Decimal | None) -> Decimal | None:
    if revenue is None or spend is None or spend <= 0:
        return None
    return revenue / spend


def attribution(
    conn: psycopg.Connection,
    schema: str,
    start: dt.date,
    end: dt.date,
    model: str | None,
    filters: dict[str, list[str]],
    selected: list[str],
) -> dict[str, Any]:
    if model is not None and model not in MODELS:
        raise DataValidationError(
            f"unknown attribution model {str(model)[:40]!r}; models: {', '.join(MODELS)}", field="model"
        )
    require(conn, schema, "channel_attribution_daily")
    where = [sql.SQL("day between %(start)s and %(end)s")]
    if model is not None:
        where.append(sql.SQL("model = %(model)s"))
    if "channel" in filters:
        where.append(sql.SQL("channel = any(%(channel)s)"))
    query = sql.SQL(
        """
        select model, channel, sum(conversions) as conversions, sum(revenue) as revenue, sum(spend) as spend
        from {t}
        where {where}
        group by model, channel
        order by model, sum(revenue) desc nulls last, channel
        """
    ).format(t=_table(schema, "channel_attribution_daily"), where=sql.SQL(" and ").join(where))
    params = {"start": start, "end": end, "model": model, **filters}
    channels = []
    models: dict[str, dict[str, Any]] = {}
    for r in dict_rows(conn.execute(query, params)):
        row = {
            "model": r["model"],
            "channel": r["channel"],
            "conversions": _dec(r["conversions"]),
            "revenue": _dec(r["revenue"]),
            "spend": _dec(r["spend"]),
        }
        row["roas"] = _roas(row["revenue"], row["spend"])
        channels.append(row)
        total = models.setdefault(
            r["model"], {"model": r["model"], "conversions": None, "revenue": None, "spend": None}
        )
        for name in ("conversions", "revenue", "spend"):
            if row[name] is not None:
                total[name] = (total[name] or Decimal(0)) + row[name]
    for total in models.values():
        total["roas"] = _roas(total["revenue"], total["spend"])
    return {
        "models": [convert(ATTRIBUTION, t, ("model",), selected) for t in models.values()],
        "channels": [convert(ATTRIBUTION, r, ("model", "channel"), selected) for r in channels],
    }


def clv_segments(
    conn: psycopg.Connection, schema: str, selected: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, the fit's dates for the period)."""
    require(conn, schema, "customer_ltv")
    query = sql.SQL(
        """
        select case when grouping(coalesce(churn_risk, 'unscored')) = 1 then null
                    else coalesce(churn_risk, 'unscored') end as churn_risk,
            count(*) as customers, sum(clv_12m) as total_clv_12m, avg(clv_12m) as average_clv_12m,
            avg(p_alive) as average_p_alive, avg(expected_purchases_90d) as average_expected_purchases_90d,
            sum(total_revenue) as total_revenue, max(observation_end) as observation_end,
            max(fitted_at) as fitted_at
        from {t}
        group by grouping sets ((coalesce(churn_risk, 'unscored')), ())
        """
    ).format(t=_table(schema, "customer_ltv"))
    rows = dict_rows(conn.execute(query))
    for r in rows:
        for name in metrics_of(CLV):
            if isinstance(r[name], float):
                r[name] = _dec(r[name])
    total = next((r for r in rows if r["churn_risk"] is None), None)
    order = {name: i for i, name in enumerate(SEGMENT_ORDER)}
    segments = sorted(
        (r for r in rows if r["churn_risk"] is not None),
        key=lambda r: (order.get(r["churn_risk"], len(order)), r["churn_risk"]),
    )
    metrics = {
        "totals": convert(CLV, total, (), selected) if total else {},
        "segments": [convert(CLV, r, ("churn_risk",), selected) for r in segments],
    }
    fit = {
        "observation_end": total["observation_end"] if total else None,
        "fitted_at": total["fitted_at"].astimezone(dt.UTC).isoformat()
        if total and total["fitted_at"]
        else None,
    }
    return metrics, fit


def experiments(
    conn: psycopg.Connection, schema: str, start: dt.date, end: dt.date, selected: list[str]
) -> dict[str, Any]:
    require(conn, schema, "experiment_results")
    columns = sql.SQL(", ").join(sql.Identifier(k) for k in EXPERIMENT_KEYS + tuple(metrics_of(EXPERIMENTS)))
    query = sql.SQL(
        """
        select {columns}
        from {t}
        where (first_exposed_at is null or (first_exposed_at at time zone 'UTC')::date <= %(end)s)
          and (last_exposed_at is null or (last_exposed_at at time zone 'UTC')::date >= %(start)s)
        order by experiment_id, metric, engine, is_control desc, variation_id
        """
    ).format(columns=columns, t=_table(schema, "experiment_results"))
    rows = dict_rows(conn.execute(query, {"start": start, "end": end}))
    return {"results": [convert(EXPERIMENTS, r, EXPERIMENT_KEYS, selected) for r in rows]}
