"""channel_attribution run after run equals channel_attribution computed once from scratch.

The marts it reads (web orders, sessions, spend) are written directly, so that each step can
change exactly what a real day changes: new orders and sessions, a re-stated order, a session
re-stitched to another user. After every step the three analytics tables must equal those of a
fresh computation in an empty schema over the same marts, and the run must say how much it
redid: the conversions whose touches changed (counted here from the changes made), and whether
the Markov fit moved (only when a new ISO week begins, or when earlier data changed).
"""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import psycopg
import pytest
from dagster import materialize

from nexus_pipelines.defs.analytics import attribution
from nexus_pipelines.defs.analytics.attribution import channel_attribution
from nexus_pipelines.defs.resources import WarehouseResource
from nexus_pipelines.lib.warehouse.frames import replace_table

CHANNELS = ["Direct", "Organic Search", "Paid Search", "Email", "Paid Social", "Referral"]
START = dt.date(2026, 3, 2)  # a Monday
TABLES = ("attribution_touch_credits", "channel_attribution_daily", "markov_removal_effects")
UTC = dt.UTC


class Marts:
    """The three input tables, kept in frames and written whole (they are tiny)."""

    def __init__(self, url: str, seed: int = 3):
        self.url = url
        self.rng = random.Random(seed)
        self.sessions: list[dict] = []
        self.orders: list[dict] = []
        self.spend: list[dict] = []
        self.next_order = 0

    def add_day(self, day: dt.date, users: int = 40) -> None:
        for n in range(users):
            if self.rng.random() < 0.5:
                continue
            user = f"u{n}"
            started = dt.datetime.combine(day, dt.time(8), UTC) + dt.timedelta(
                minutes=self.rng.randrange(600)
            )
            self.sessions.append(
                {
                    "session_id": f"s{len(self.sessions)}",
                    "user_key": user,
                    "channel": self.rng.choice(CHANNELS),
                    "started_at": started,
                    "session_date": day,
                }
            )
            if self.rng.random() < 0.25:
                self.next_order += 1
                self.orders.append(
                    {
                        "order_id": f"o{self.next_order}",
                        "user_key": user,
                        "ordered_at": started + dt.timedelta(minutes=5),
                        "order_date": day,
                        "revenue": round(self.rng.uniform(5, 120), 2),
                    }
                )
        for channel in ("google ads", "facebook", "newsletter", "tv"):
            self.spend.append(
                {
                    "spend_date": day,
                    "channel": channel,
                    "campaign": "c",
                    "spend": round(self.rng.uniform(10, 50), 2),
                }
            )

    def write(self) -> None:
        replace_table(
            self.url,
            "marts",
            "fct_sessions",
            pd.DataFrame(self.sessions),
            {"started_at": "timestamptz", "session_date": "date"},
        )
        replace_table(
            self.url,
            "marts",
            "fct_orders_web",
            pd.DataFrame(self.orders),
            {"ordered_at": "timestamptz", "order_date": "date", "revenue": "numeric(18,2)"},
        )
        replace_table(
            self.url,
            "staging",
            "stg_marketing__spend",
            pd.DataFrame(self.spend),
            {"spend_date": "date", "spend": "numeric(18,2)"},
        )


def attribute(url: str, schema: str = "analytics", chunk: int = 7):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEXUS_ANALYTICS_SCHEMA", schema)
        patch.setattr(attribution, "CHUNK_TOUCHES", chunk)
        result = materialize(
            [channel_attribution], resources={"warehouse": WarehouseResource(database_url=url)}
        )
    assert result.success
    return {
        m.asset_key.path[-1]: m.metadata
        for m in result.asset_materializations_for_node("channel_attribution")
    }


def tables(url: str, schema: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        return {
            t: [
                r[0]
                for r in conn.execute(
                    f"select (to_jsonb(t) - 'computed_at')::text from {schema}.{t} as t order by 1"
                ).fetchall()
            ]
            for t in TABLES
        }


def assert_equals_fresh(url: str, step: int) -> None:
    fresh = f"fresh_{step}"
    attribute(url, fresh, chunk=1_000_000)
    incremental, scratch = tables(url, "analytics"), tables(url, fresh)
    for table in TABLES:
        assert incremental[table] == scratch[table], f"step {step}: {table} differs from a fresh computation"


def test_incremental_attribution_equals_a_fresh_computation_at_every_step(fresh_db):
    """The runs under test credit touches 7 at a time (many chunks, each conversion kept whole);
    the fresh computations they are compared with credit everything in one chunk."""
    marts = Marts(fresh_db)
    for offset in range(9):  # Monday 2 March .. Tuesday 10 March
        marts.add_day(START + dt.timedelta(days=offset))
    marts.write()
    first = attribute(fresh_db)
    conversions = len(marts.orders)
    assert first["attribution_touch_credits"]["conversions_credited_this_run"].value == conversions
    assert (
        first["markov_removal_effects"]["fitted_before"].value == "2026-03-09"
    )  # the Monday of the last week
    assert_equals_fresh(fresh_db, 1)

    # Wednesday of the same week: only the new day's orders are credited, the fit stays
    before = len(marts.orders)
    marts.add_day(START + dt.timedelta(days=9))
    marts.write()
    second = attribute(fresh_db)
    assert second["markov_removal_effects"]["refitted_this_run"].value is False
    assert (
        second["attribution_touch_credits"]["conversions_credited_this_run"].value
        == len(marts.orders) - before
    )
    assert_equals_fresh(fresh_db, 2)

    # a re-stated order of the current week and one more touch of an older conversion of this week
    marts.orders[-1]["revenue"] = 1.25
    recent = next(o for o in marts.orders if o["order_date"] == START + dt.timedelta(days=8))
    marts.sessions.append(
        {
            "session_id": "late",
            "user_key": recent["user_key"],
            "channel": "Referral",
            "started_at": recent["ordered_at"] - dt.timedelta(hours=30),
            "session_date": (recent["ordered_at"] - dt.timedelta(hours=30)).date(),
        }
    )
    marts.write()
    third = attribute(fresh_db)
    assert third["markov_removal_effects"]["refitted_this_run"].value is False  # all after the boundary
    touched_users = {recent["user_key"]}
    later_orders_of_user = [
        o
        for o in marts.orders
        if o["user_key"] in touched_users
        and o["ordered_at"] >= recent["ordered_at"] - dt.timedelta(hours=30)
        and o["ordered_at"] - dt.timedelta(days=30) < recent["ordered_at"] - dt.timedelta(hours=30)
    ]
    expected = {o["order_id"] for o in later_orders_of_user} | {marts.orders[-1]["order_id"]}
    assert third["attribution_touch_credits"]["conversions_credited_this_run"].value == len(expected)
    assert_equals_fresh(fresh_db, 3)

    # a change before the fit's boundary (an order of the first week removed) moves the fit
    marts.orders = marts.orders[1:]
    marts.write()
    fourth = attribute(fresh_db)
    assert fourth["markov_removal_effects"]["refitted_this_run"].value is True
    assert_equals_fresh(fresh_db, 4)

    # next Monday: a new week, a new fit over the data before it
    for offset in (10, 11, 12, 13, 14):
        marts.add_day(START + dt.timedelta(days=offset))
    marts.write()
    fifth = attribute(fresh_db)
    assert fifth["markov_removal_effects"]["refitted_this_run"].value is True
    assert fifth["markov_removal_effects"]["fitted_before"].value == "2026-03-16"
    assert_equals_fresh(fresh_db, 5)
