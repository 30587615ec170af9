"""Daily store summary: trailing-7-day sales and week-over-week change per store.

Input is one row per store × day (already aggregated in SQL); days without sales, up to the
latest day of any store, are filled with zeros so that trailing windows count calendar days,
not rows.
"""

from __future__ import annotations

import pandas as pd

# {fct_daily_sales}: the relation of the dbt model, filled in by the caller
# Orders are counted per store and day (fct_daily_store_performance): fct_daily_sales counts them
# per SKU, and an order of several SKUs would be counted once per SKU.
SUMMARY_SQL = """
select s.store_id, s.order_date as day,
       sum(s.ordered_product_sales)::float8 as sales,
       sum(s.units_ordered)::bigint as units,
       coalesce(max(p.orders), 0)::bigint as orders
from {fct_daily_sales} as s
left join {fct_daily_store_performance} as p on p.store_id = s.store_id and p.date_day = s.order_date
group by s.store_id, s.order_date
order by s.store_id, s.order_date
"""


def daily_store_summary(daily: pd.DataFrame) -> pd.DataFrame:
    """Columns in: store_id, day, sales, units, orders. Adds sales_7d, units_7d, sales_7d_prev, sales_wow_pct."""
    if daily.empty:
        return daily.assign(sales_7d=[], units_7d=[], sales_7d_prev=[], sales_wow_pct=[])
    frames = []
    # every store up to the latest day of any store: a store without sales lately gets zero days,
    # so its trailing figures are as of the same day as everyone else's, not its last sale
    last_day = pd.Timestamp(daily["day"].max())
    for store_id, group in daily.groupby("store_id", sort=True):
        days = pd.date_range(pd.Timestamp(group["day"].min()), last_day, freq="D")
        g = (
            group.assign(day=pd.to_datetime(group["day"]))
            .set_index("day")[["sales", "units", "orders"]]
            .reindex(days, fill_value=0)
        )
        g["sales_7d"] = g["sales"].rolling(7, min_periods=7).sum()
        g["units_7d"] = g["units"].rolling(7, min_periods=7).sum()
        g["sales_7d_prev"] = g["sales_7d"].shift(7)
        g["sales_wow_pct"] = (g["sales_7d"] / g["sales_7d_prev"] - 1.0) * 100.0
        g.loc[g["sales_7d_prev"] == 0, "sales_wow_pct"] = float("nan")
        g = g.rename_axis("day").reset_index()
        g.insert(0, "store_id", store_id)
        frames.append(g)
    out = pd.concat(frames, ignore_index=True)
    out["day"] = out["day"].dt.date
    return out
