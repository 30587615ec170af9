"""Web-shop product metrics from the product marts: funnels and active users (UTC days).

These do not depend on the store: the web shop is one site, the same for every store.
``marts.fct_funnel_steps`` covers all tracked history (the mart has no date), so a funnel is the
same whatever the range; a channel filter picks the mart's channel breakdown instead of ``All``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from .catalog import ACTIVE_USERS, FUNNELS, metrics_of
from .common import MARTS, convert, dict_rows, require
from .models import UnknownMetric, json_value, number

STEP_KEYS = ("breakdown_type", "breakdown_value", "step_number", "step_name")
SERIES = ("dau", "wau", "mau", "stickiness")
LIFECYCLE = ("new_users", "returning_users", "resurrecting_users", "dormant_users", "active_users")


def funnel_names(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("select distinct funnel_name from marts.fct_funnel_steps order by 1")]


def funnel(
    conn: psycopg.Connection, name: str, filters: dict[str, list[str]], selected: list[str]
) -> dict[str, Any]:
    require(conn, MARTS, "fct_funnel_steps")
    names = funnel_names(conn)
    if name not in names:
        raise UnknownMetric(
            f"unknown funnel {str(name)[:60]!r}; funnels: {', '.join(names) or '(none yet)'}", field="name"
        )
    columns = sql.SQL(", ").join(sql.Identifier("f", m) for m in metrics_of(FUNNELS))
    if "channel" in filters:
        breakdown = sql.SQL("f.breakdown_type = 'channel' and f.breakdown_value = any(%(channel)s)")
    else:
        breakdown = sql.SQL("f.breakdown_type = 'all'")
    query = sql.SQL(
        """
        select f.funnel_mode, f.window_days, {keys}, {columns}
        from marts.fct_funnel_steps as f
        where f.funnel_name = %(name)s and {breakdown}
        order by f.breakdown_value, f.step_number
        """
    ).format(
        keys=sql.SQL(", ").join(sql.Identifier("f", k) for k in STEP_KEYS),
        columns=columns,
        breakdown=breakdown,
    )
    rows = dict_rows(conn.execute(query, {"name": name, **filters}))
    head = rows[0] if rows else {"funnel_mode": None, "window_days": None}
    return {
        "funnel": name,
        "mode": head["funnel_mode"],
        "window_days": json_value(head["window_days"], "days"),
        "steps": [convert(FUNNELS, r, STEP_KEYS, selected) for r in rows],
    }


def active_users(
    conn: psycopg.Connection, start: dt.date, end: dt.date, selected: list[str]
) -> dict[str, Any]:
    params = {"start": start, "end": end}
    out: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    series_metrics = [m for m in selected if m in SERIES]
    if series_metrics or "average_dau" in selected:
        require(conn, MARTS, "fct_active_users")
        rows = dict_rows(
            conn.execute(
                "select activity_date, dau, wau, mau, stickiness from marts.fct_active_users "
                "where activity_date between %(start)s and %(end)s order by activity_date",
                params,
            )
        )
        if "average_dau" in selected:
            daus = [Decimal(r["dau"]) for r in rows if r["dau"] is not None]
            totals["average_dau"] = number(sum(daus, Decimal(0)) / len(daus), 2) if daus else None
        if series_metrics:
            out["series"] = [convert(ACTIVE_USERS, r, ("activity_date",), series_metrics) for r in rows]
    if "period_active_users" in selected:
        require(conn, MARTS, "fct_sessions")
        found = conn.execute(
            """
            select count(distinct user_key) from marts.fct_sessions
            where session_date <= %(end)s
              and (started_at at time zone 'UTC')::date <= %(end)s
              and (ended_at at time zone 'UTC')::date >= %(start)s
            """,
            params,
        ).fetchone()
        totals["period_active_users"] = int(found[0]) if found else 0
    lifecycle_metrics = [m for m in selected if m in LIFECYCLE]
    if lifecycle_metrics:
        require(conn, MARTS, "fct_user_lifecycle")
        weeks = dict_rows(
            conn.execute(
                "select week_start, is_complete_week, new_users, returning_users, resurrecting_users, "
                "dormant_users, active_users from marts.fct_user_lifecycle "
                "where week_start between %(first)s and %(end)s order by week_start",
                {"first": start - dt.timedelta(days=6), "end": end},
            )
        )
        out["lifecycle"] = [
            convert(ACTIVE_USERS, w, ("week_start", "is_complete_week"), lifecycle_metrics) for w in weeks
        ]
    if totals:
        out = {"totals": totals, **out}
    return out
