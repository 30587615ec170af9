"""daily_store_summary: calendar days up to the latest day of any store, hand-computed windows."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from nexus_pipelines.lib.analytics.store_summary import daily_store_summary

D = dt.date(2026, 3, 1)


def _rows(store: str, sales: dict[int, float]) -> list[dict]:
    return [
        {"store_id": store, "day": D + dt.timedelta(days=d - 1), "sales": v, "units": 1, "orders": 1}
        for d, v in sales.items()
    ]


def test_a_store_without_recent_sales_is_summarised_up_to_the_latest_day():
    # "a" sells every day 1..14; "b" sells 10 a day on days 1..7 and nothing after
    daily = pd.DataFrame(
        _rows("a", dict.fromkeys(range(1, 15), 1.0)) + _rows("b", dict.fromkeys(range(1, 8), 10.0))
    )
    out = daily_store_summary(daily).set_index(["store_id", "day"])
    last = D + dt.timedelta(days=13)
    assert out.loc[("b", last), "sales"] == 0
    # b's trailing week on day 14 is days 8..14: nothing sold; the week before (1..7) was 70
    assert out.loc[("b", last), "sales_7d"] == 0
    assert out.loc[("b", last), "sales_7d_prev"] == 70
    assert out.loc[("b", last), "sales_wow_pct"] == -100
    assert out.loc[("a", last), "sales_7d"] == 7 and out.loc[("a", last), "sales_wow_pct"] == 0
    assert len(out.loc["b"]) == 14  # days 1..14, zero-filled
    assert math.isnan(out.loc[("b", D + dt.timedelta(days=5)), "sales_7d"])  # fewer than 7 days
