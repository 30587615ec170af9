"""The analytics assets, materialized for real: synthetic landing files → Dagster run → analytics.*.

One module-scoped pipeline run (raw → dbt → Python assets) over a small generated data set backs
the assertions. Expected figures are recomputed here independently: in SQL straight from the marts
or from raw.events, with scipy, or from the generator's truth.json.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize
from psycopg import sql
from scipy import stats

from nexus_pipelines.defs.analytics.attribution import spend_channel_group
from nexus_pipelines.defs.analytics.checks import (
    attribution_credits_balance,
    clv_fit_is_current,
    sample_ratio_mismatch,
)
from nexus_pipelines.defs.analytics.clv import LTV_TYPES, clv_model, customer_ltv
from nexus_pipelines.defs.resources import WarehouseResource
from nexus_pipelines.lib.analytics.attribution import weighted_touch_credits
from nexus_pipelines.lib.warehouse.frames import replace_table

from .clv_reference import (
    bgnbd_total_log_likelihood,
    gamma_gamma_total_log_likelihood,
    maximise,
    simulated_orders,
)
from .pipeline_runner import pipeline_run, rows

START = dt.date(2026, 3, 1)
DAYS = 40
MODELS = {
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
}
ANALYTICS_TABLES = (
    "cohort_retention",
    "attribution_touch_credits",
    "channel_attribution_daily",
    "markov_removal_effects",
    "user_engagement",
    "clv_model_params",
    "clv_calibration",
    "customer_ltv",
    "experiment_results",
)
CDNOW_DIR = Path(__file__).resolve().parents[1] / "data" / "cdnow"
# stored CLV log-likelihoods vs the maximum found in the test (totals of ~ -500 and below): the
# library's optimiser stops a few 1e-4 short of the top on flat ridges
LL_ABS_TOL = 1e-3


@pytest.fixture(scope="module")
def run(tmp_path_factory, server_url):
    """Generate 40 days for 400 web users, then materialize every asset in one Dagster run."""
    with pipeline_run(
        server_url,
        tmp_path_factory.mktemp("analytics"),
        seed=7,
        start=START,
        days=DAYS,
        stores=1,
        skus=4,
        users=400,
    ) as result:
        yield result


def frame(url: str, query: str, params=None) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_run_succeeds_and_every_analytics_table_has_rows(run):
    assert run["outcome"].success, run["outcome"].failed_steps
    for table in ANALYTICS_TABLES:
        (count,) = rows(
            run["url"], sql.SQL("select count(*) from {}").format(sql.Identifier("analytics", table))
        )[0]
        assert count > 0, table


# --- attribution ------------------------------------------------------------------------------


def test_credits_sum_to_one_per_conversion_and_to_the_order_revenue(run):
    url = run["url"]
    (orders, revenue) = rows(
        url, "select count(*), sum(revenue)::float8 from marts.fct_orders_web where revenue > 0"
    )[0]
    assert orders > 100
    per_conversion = frame(
        url,
        """
        select model, conversion_id, sum(credit) as credit, sum(credited_revenue) as credited
        from analytics.attribution_touch_credits group by model, conversion_id""",
    )
    assert set(per_conversion["model"]) == MODELS
    assert np.allclose(per_conversion["credit"], 1.0, atol=1e-9)
    totals = per_conversion.groupby("model").agg(
        conversions=("conversion_id", "nunique"), revenue=("credited", "sum")
    )
    assert (totals["conversions"] == orders).all()
    assert np.allclose(totals["revenue"], revenue, rtol=0, atol=0.005)


def test_touches_are_the_users_sessions_of_the_30_days_before_the_order(run):
    # independent count: sessions of the order's user in (ordered_at - 30 days, ordered_at], at least 1
    expected = dict(
        rows(
            run["url"],
            """
        select o.order_id, greatest(1, (
            select count(*) from marts.fct_sessions s
            where s.user_key = o.user_key and s.started_at <= o.ordered_at
              and s.started_at > o.ordered_at - interval '30 days'))
        from marts.fct_orders_web o where o.revenue > 0""",
        )
    )
    touches = dict(
        rows(
            run["url"],
            """
        select conversion_id, count(*) from analytics.attribution_touch_credits
        where model = 'linear' group by conversion_id""",
        )
    )
    assert touches == expected
    assert max(expected.values()) > 1  # multi-touch journeys exist


def test_last_touch_orders_per_channel_are_the_planted_order_channels(run):
    last_touch = dict(
        rows(
            run["url"],
            """
        select channel, sum(credit)::float8 from analytics.attribution_touch_credits
        where model = 'last_touch' group by channel""",
        )
    )
    planted = run["truth"]["web"]["orders_by_channel"]
    assert {c: round(v) for c, v in last_touch.items()} == planted


def test_markov_and_shapley_split_each_conversion_by_channel_weights(run):
    url = run["url"]
    effects = dict(rows(url, "select channel, removal_effect from analytics.markov_removal_effects"))
    assert all(0.0 <= e <= 1.0 for e in effects.values()) and max(effects.values()) > 0
    credits = frame(
        url,
        """
        select model, conversion_id, channel, sum(credit) as credit
        from analytics.attribution_touch_credits where model in ('markov', 'shapley')
        group by model, conversion_id, channel""",
    )
    markov = credits[credits["model"] == "markov"].copy()
    # credit(c) / RE(c) is the same for every channel of a conversion: 1 / sum of its channels' RE
    markov["ratio"] = markov["credit"] / markov["channel"].map(effects)
    spread = markov.groupby("conversion_id")["ratio"].agg(lambda r: r.max() - r.min())
    assert spread.max() < 1e-9
    shapley = credits[credits["model"] == "shapley"]
    channels = shapley.groupby("conversion_id")["channel"].transform("size")
    assert np.allclose(shapley["credit"], 1.0 / channels)


def test_daily_attribution_totals_revenue_and_spend_per_model(run):
    url = run["url"]
    (revenue, orders) = rows(
        url, "select sum(revenue)::float8, count(*) from marts.fct_orders_web where revenue > 0"
    )[0]
    (raw_spend,) = rows(url, "select sum(spend)::float8 from raw.marketing_spend")[0]
    daily = frame(url, "select * from analytics.channel_attribution_daily")
    totals = daily.groupby("model").agg(
        revenue=("revenue", "sum"), conversions=("conversions", "sum"), spend=("spend", "sum")
    )
    assert set(totals.index) == MODELS
    assert np.allclose(totals["revenue"], revenue, atol=0.005)
    assert np.allclose(totals["conversions"], orders, atol=1e-6)
    assert np.allclose(totals["spend"], raw_spend, atol=0.005)  # every spend row reaches a channel group
    paid = daily[daily["spend"] > 0]
    assert np.allclose(paid["roas"], paid["revenue"] / paid["spend"])
    assert daily.loc[daily["spend"].isna(), "roas"].isna().all()
    # the synthetic spend file names the channel groups themselves
    spend_channels = {c for (c,) in rows(url, "select distinct channel from raw.marketing_spend")}
    assert {spend_channel_group(c) for c in spend_channels} == spend_channels


def test_attribution_check_passes(run):
    result = attribution_credits_balance(warehouse=WarehouseResource(database_url=run["url"]))
    assert result.passed and result.metadata["unbalanced_conversions"].value == 0


def test_weighted_touch_credits_by_hand():
    touches = pd.DataFrame(
        {
            "conversion_id": ["o1", "o1", "o1", "o2"],
            "touch_index": [1, 2, 3, 1],
            "channel": ["Email", "Direct", "Email", "Display"],
            "revenue": [90.0, 90.0, 90.0, 10.0],
        }
    )
    markov = weighted_touch_credits(touches, {"Email": 0.6, "Direct": 0.3, "Display": 0.0})
    # o1: Email 0.6 / 0.9 = 2/3 split over its two touches, Direct 1/3; o2: no positive weight -> 1
    assert np.allclose(markov["credit"], [1 / 3, 1 / 3, 1 / 3, 1.0])
    assert np.allclose(markov["credited_revenue"], [30.0, 30.0, 30.0, 10.0])
    shapley = weighted_touch_credits(touches, None)
    assert np.allclose(shapley["credit"], [0.25, 0.5, 0.25, 1.0])
    assert spend_channel_group(" google ads ") == "Paid Search"
    assert spend_channel_group("paid social") == "Paid Social"
    assert spend_channel_group("something else") == "Other"


# --- experiments ------------------------------------------------------------------------------


RAW_EXPOSED_USERS = """
with links as (  -- a device belongs to the first user it was seen with
    select distinct on (anonymous_id) anonymous_id, user_id
    from raw.events
    where anonymous_id is not null and user_id is not null
    order by anonymous_id, event_timestamp, user_id
),
views as (
    select distinct
        e.properties ->> 'experiment_id' as experiment_id,
        coalesce(e.user_id, l.user_id, e.anonymous_id) as person,
        e.properties ->> 'variation_id' as variation_id
    from raw.events e
    left join links l on l.anonymous_id = e.anonymous_id
    where e.event_type = 'track' and e.event_name = 'Experiment Viewed'
),
single as (
    select experiment_id, person from views group by experiment_id, person having count(*) = 1
)
select v.experiment_id, v.variation_id, count(*)
from views v join single s using (experiment_id, person)
group by v.experiment_id, v.variation_id
"""


def test_experiment_users_per_variation_match_raw_events(run):
    url = run["url"]
    expected = {(e, v): n for e, v, n in rows(url, RAW_EXPOSED_USERS)}
    results = frame(url, "select * from analytics.experiment_results")
    got = {(r.experiment_id, r.variation_id): r.users for r in results.itertuples()}
    assert got == expected
    realized = run["truth"]["web"]["experiment_realized"]
    assert {v: n for (_, v), n in got.items()} == {v: realized[v]["exposed_users"] for v in realized}
    assert set(results["metric"]) == {"conversion", "revenue_per_user"}
    assert set(results["engine"]) == {"frequentist", "bayesian"}


def test_experiment_statistics_are_recomputed_by_scipy(run):
    results = frame(run["url"], "select * from analytics.experiment_results")
    users = results.drop_duplicates("variation_id").set_index("variation_id")["users"]
    srm = stats.chisquare(users.to_numpy()).pvalue
    assert np.allclose(results["srm_p_value"], srm)
    conv = results[(results["metric"] == "conversion") & (results["engine"] == "frequentist")].set_index(
        "variation_id"
    )
    assert conv.loc["control", "is_control"] and pd.isna(conv.loc["control", "lift"])
    c, t = conv.loc["control"], conv.loc["treatment"]
    p_c, p_t = c["numerator"] / c["users"], t["numerator"] / t["users"]
    assert t["lift"] == pytest.approx((p_t - p_c) / p_c)
    # delta-method Welch test on the relative lift (GrowthBook): variance of p_t/p_c - 1
    var = p_t * (1 - p_t) / (p_c**2 * t["users"]) + p_c * (1 - p_c) * p_t**2 / (p_c**4 * c["users"])
    va, vb = p_c * (1 - p_c) / c["users"], p_t * (1 - p_t) / t["users"]
    dof = (va + vb) ** 2 / (va**2 / (c["users"] - 1) + vb**2 / (t["users"] - 1))
    assert t["p_value"] == pytest.approx(2 * stats.t.sf(abs(t["lift"]) / np.sqrt(var), dof), rel=1e-9)
    bayes = results[(results["metric"] == "conversion") & (results["engine"] == "bayesian")].set_index(
        "variation_id"
    )
    assert bayes.loc["treatment", "chance_to_win"] == pytest.approx(stats.norm.cdf(t["lift"] / np.sqrt(var)))


def test_srm_check_passes_on_the_demo_and_warns_on_a_mismatch(run, fresh_db):
    assert sample_ratio_mismatch(warehouse=WarehouseResource(database_url=run["url"])).passed
    skewed = pd.DataFrame(
        {
            "experiment_id": ["skewed", "skewed"],
            "variation_id": ["control", "treatment"],
            "users": [1000, 1200],
            "srm_p_value": [stats.chisquare([1000, 1200]).pvalue] * 2,
        }
    )
    replace_table(fresh_db, "analytics", "experiment_results", skewed)
    result = sample_ratio_mismatch(warehouse=WarehouseResource(database_url=fresh_db))
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert result.metadata["mismatched"].value == "skewed"


# --- cohorts ----------------------------------------------------------------------------------


def test_cohort_retention_offset_zero_and_cohort_sizes(run):
    url = run["url"]
    table = frame(url, "select * from analytics.cohort_retention")
    assert set(zip(table["period_grain"], table["mode"])) == {
        (g, m) for g in ("week", "month") for m in ("first_time", "recurring")
    }
    zero = table[table["period_offset"] == 0]
    assert (zero["retained"] == zero["cohort_size"]).all()
    assert (table["period_offset"] <= 12).all() and table["retention_rate"].between(0, 1).all()
    (users,) = rows(url, "select count(distinct user_key) from marts.fct_sessions")[0]
    first = zero[zero["mode"] == "first_time"].groupby("period_grain")["cohort_size"].sum()
    assert first.to_dict() == {"week": users, "month": users}
    (user_weeks,) = rows(
        url,
        """
        select count(*) from (select distinct user_key, date_trunc('week', session_date) from marts.fct_sessions) x""",
    )[0]
    recurring = zero[(zero["mode"] == "recurring") & (zero["period_grain"] == "week")]
    assert recurring["cohort_size"].sum() == user_weeks


# --- churn / lifetime value -------------------------------------------------------------------


def test_customer_ltv_one_row_per_customer_with_valid_scores(run):
    url = run["url"]
    ltv = frame(url, "select * from analytics.customer_ltv")
    assert list(ltv.columns) == list(LTV_TYPES)
    customers = {
        u
        for (u,) in rows(
            url,
            """
        select distinct user_id from marts.fct_orders_web where user_id is not null and revenue > 0""",
        )
    }
    assert ltv["user_id"].is_unique and set(ltv["user_id"]) == customers
    assert ltv["p_alive"].between(0, 1).all()
    assert (ltv["clv_12m"] >= 0).all() and ltv["clv_12m"].sum() > 0
    assert (ltv["expected_purchases_30d"] <= ltv["expected_purchases_90d"] + 1e-12).all()
    assert (ltv["expected_purchases_90d"] <= ltv["expected_purchases_365d"] + 1e-12).all()
    assert set(ltv["churn_risk"]) <= {"active", "at_risk", "churned"}
    assert ltv["engagement_score"].between(0, 100).all()  # every customer has sessions here


def independent_rfm(orders: pd.DataFrame) -> pd.DataFrame:
    """RFM per customer in days, from (user_id, ordered_at, revenue) order rows.

    A purchase is a UTC calendar day with orders (their revenue summed); with d_1 < ... < d_n a
    customer's purchase days and E the last purchase day of anyone: frequency = n - 1,
    recency = d_n - d_1, T = E - d_1, monetary_value = mean of the day totals of d_2..d_n (0 if n = 1).
    """
    by_customer: dict[str, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for user_id, ordered_at, revenue in orders.itertuples(index=False):
        by_customer[user_id][ordered_at.astimezone(dt.UTC).date()] += revenue
    end = max(day for days in by_customer.values() for day in days)
    table = {}
    for user_id, days in by_customer.items():
        dates = sorted(days)
        repeats = [days[d] for d in dates[1:]]
        table[user_id] = {
            "frequency": len(dates) - 1,
            "recency": float((dates[-1] - dates[0]).days),
            "T": float((end - dates[0]).days),
            "monetary_value": sum(repeats) / len(repeats) if repeats else 0.0,
        }
    return pd.DataFrame.from_dict(table, orient="index").sort_index().assign(observation_end=end)


BGNBD_NAMES = ("r", "alpha", "a", "b")
GAMMA_GAMMA_NAMES = ("p", "q", "v")  # v is the gamma (scale) of FH 2013


def assert_fit_matches_the_reference(params: pd.DataFrame, summary: pd.DataFrame, rel: dict[str, float]):
    """The stored fit against BG/NBD and Gamma-Gamma likelihoods maximised here (tests/integration/clv_reference.py).

    The stored log-likelihoods must be the models' likelihoods at the stored parameters, and the
    maxima ours reach (to ``LL_ABS_TOL``); each parameter named in ``rel`` must equal ours to that
    relative tolerance.
    """
    stored = dict(zip(params["parameter"], params["value"]))
    assert set(stored) == set(BGNBD_NAMES + GAMMA_GAMMA_NAMES)
    log_likelihood = params.groupby("model")["log_likelihood"].first()
    repeaters = summary[summary["frequency"] > 0]
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    xr, mr = repeaters["frequency"].to_numpy(dtype=float), repeaters["monetary_value"].to_numpy()

    def bgnbd(v):
        return bgnbd_total_log_likelihood(v, x, t_x, T)

    def gamma_gamma(v):
        return gamma_gamma_total_log_likelihood(v, xr, mr)

    mean_spend = float(mr.mean())
    fits = {
        # model: (likelihood, parameter names, starts of our own)
        "bgnbd": (bgnbd, BGNBD_NAMES, [(1.0, 1.0, 1.0, 1.0), (0.5, 10.0, 0.5, 5.0)]),
        "gamma_gamma": (
            gamma_gamma,
            GAMMA_GAMMA_NAMES,
            [(1.0, 1.0, 1.0), (2.0, 3.0, mean_spend), (10.0, 5.0, mean_spend / 2)],
        ),
    }
    for model, (likelihood, names, starts) in fits.items():
        ours, our_max = maximise(likelihood, starts)
        at_stored = likelihood([stored[n] for n in names])
        assert log_likelihood[model] == pytest.approx(at_stored, rel=1e-9), model
        assert at_stored == pytest.approx(our_max, abs=LL_ABS_TOL), model
        for name, value in zip(names, ours):
            if name in rel:
                assert stored[name] == pytest.approx(value, rel=rel[name]), (name, float(value))


def test_clv_rfm_and_params_match_an_independent_likelihood_fit(run):
    url = run["url"]
    params = frame(
        url,
        """
        select model, parameter, value, log_likelihood, n_customers, observation_end
        from analytics.clv_model_params
        where fitted_at = (select max(fitted_at) from analytics.clv_model_params)""",
    )
    # the RFM summary, rebuilt here from the mart's order rows (see independent_rfm)
    orders = frame(
        url,
        """
        select user_id, ordered_at, revenue::float8 as revenue from marts.fct_orders_web
        where user_id is not null and revenue > 0""",
    )
    summary = independent_rfm(orders)
    repeaters = summary[summary["frequency"] > 0]
    assert len(summary) > 100 and len(repeaters) > 30
    ltv = frame(
        url, "select user_id, frequency, recency_days, t_days, monetary_value from analytics.customer_ltv"
    ).set_index("user_id")
    assert sorted(ltv.index) == list(summary.index)
    ltv = ltv.loc[summary.index]
    assert ltv["frequency"].tolist() == summary["frequency"].tolist()
    assert ltv["recency_days"].tolist() == summary["recency"].tolist()
    assert ltv["t_days"].tolist() == summary["T"].tolist()
    assert np.allclose(ltv["monetary_value"], summary["monetary_value"], rtol=1e-12, atol=1e-9)
    by_model = params.groupby("model").first()
    assert set(params["observation_end"]) == {summary["observation_end"].iloc[0]}
    assert by_model.loc["bgnbd", "n_customers"] == len(summary)
    assert by_model.loc["gamma_gamma", "n_customers"] == len(repeaters)
    # The demo's customers never drop out, so the BG/NBD dropout parameters are not identified:
    # the likelihood runs along a ridge towards a -> 0 / b -> infinity and changes by < 1e-3 over
    # orders of magnitude of a and b. They are checked through the log-likelihood only (a fit
    # with them fixed elsewhere would not reach our maximum), and by value on simulated
    # customers with real dropout in the next test.
    assert_fit_matches_the_reference(
        params, summary, {"r": 1e-2, "alpha": 1e-2, "p": 1e-2, "q": 1e-2, "v": 1e-2}
    )


# the simulated customers: BG/NBD (r, alpha per day, a, b) and Gamma-Gamma (p, q, gamma) truth
SIMULATED_BGNBD = (0.6, 20.0, 0.8, 2.5)
SIMULATED_GAMMA_GAMMA = (6.0, 4.0, 15.0)


def test_clv_model_on_simulated_customers_matches_an_independent_likelihood_fit(fresh_db):
    """clv_model run for real on 1,500 customers drawn from the models, where every parameter is identified."""
    first_day = dt.date(2025, 1, 1)
    orders = pd.DataFrame(
        [
            (f"o{n:06d}", customer, first_day + dt.timedelta(days=day), revenue)
            for n, (customer, day, revenue) in enumerate(
                simulated_orders(11, 1500, 365, SIMULATED_BGNBD, SIMULATED_GAMMA_GAMMA)
            )
        ],
        columns=["order_id", "user_id", "order_date", "revenue"],
    )
    orders["ordered_at"] = [
        dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC) for day in orders["order_date"]
    ]
    with psycopg.connect(fresh_db) as conn:
        conn.execute("create schema marts")
        conn.execute(
            """create table marts.fct_orders_web (order_id text, user_id text, ordered_at timestamptz,
                                                  order_date date, revenue numeric(18, 2))"""
        )
        with conn.cursor().copy(
            "copy marts.fct_orders_web (order_id, user_id, ordered_at, order_date, revenue) from stdin"
        ) as copy:
            for row in orders[["order_id", "user_id", "ordered_at", "order_date", "revenue"]].itertuples(
                index=False
            ):
                copy.write_row(row)
    result = materialize([clv_model], resources={"warehouse": WarehouseResource(database_url=fresh_db)})
    assert result.success
    params = frame(fresh_db, "select model, parameter, value, log_likelihood from analytics.clv_model_params")
    summary = independent_rfm(orders.loc[orders["revenue"] > 0, ["user_id", "ordered_at", "revenue"]])
    assert len(summary) == 1500 and (summary["frequency"] > 0).sum() > 1000
    assert_fit_matches_the_reference(params, summary, dict.fromkeys(BGNBD_NAMES + GAMMA_GAMMA_NAMES, 1e-3))
    # and the fit lands near the truth the customers were drawn from, as far as sampling error
    # and days rounding the continuous purchase times allow: the BG/NBD parameters within 20%;
    # of the Gamma-Gamma only the population mean spend p gamma / (q - 1) = 6 * 15 / 3 = 30 is
    # pinned down that well (p, q and gamma trade off against each other)
    stored = dict(zip(params["parameter"], params["value"]))
    for name, value in zip(BGNBD_NAMES, SIMULATED_BGNBD):
        assert stored[name] == pytest.approx(value, rel=0.2), name
    assert stored["p"] * stored["v"] / (stored["q"] - 1) == pytest.approx(30.0, rel=0.05)


def test_the_reference_likelihoods_reproduce_the_published_cdnow_fits():
    """The test's own maximisation on the CDNOW summary (weeks) gives FHL 2005's and FH 2013's estimates."""
    cdnow = pd.read_csv(CDNOW_DIR / "cdnow_customers_summary_with_transactions.csv")
    params, ll = maximise(
        lambda v: bgnbd_total_log_likelihood(v, cdnow["x"], cdnow["t_x"], cdnow["T"]), [(1, 1, 1, 1)]
    )
    # FHL 2005: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    assert params == pytest.approx([0.243, 4.414, 0.793, 2.426], abs=1e-3)
    assert ll == pytest.approx(-9582.4, abs=0.1)
    repeat = cdnow[cdnow["x"] > 0]
    assert len(repeat) == 946
    params, _ = maximise(
        lambda v: gamma_gamma_total_log_likelihood(v, repeat["x"], repeat["zbar"]), [(1, 1, 1)]
    )
    # FH 2013: p = 6.25, q = 3.74, gamma = 15.44 (zbar is rounded to cents in this file: +-0.01)
    assert params == pytest.approx([6.25, 3.74, 15.44], abs=1e-2)


def test_clv_fit_is_current_check(run, fresh_db):
    assert clv_fit_is_current(warehouse=WarehouseResource(database_url=run["url"])).passed
    # a fit that stops a day before the last order is stale
    (last_day,) = rows(
        run["url"], "select max(order_date) from marts.fct_orders_web where user_id is not null"
    )[0]
    stale = pd.DataFrame(
        {
            "fitted_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
            "observation_end": [last_day - dt.timedelta(days=1)],
        }
    )
    replace_table(fresh_db, "analytics", "clv_model_params", stale)
    orders = pd.DataFrame({"order_date": [last_day], "revenue": [10.0], "user_id": ["u1"]})
    replace_table(fresh_db, "marts", "fct_orders_web", orders)
    result = clv_fit_is_current(warehouse=WarehouseResource(database_url=fresh_db))
    assert not result.passed and result.severity == AssetCheckSeverity.WARN


def test_without_repeat_buyers_clv_model_skips_the_fit_and_customer_ltv_still_lists_customers(fresh_db):
    day = dt.date(2026, 3, 1)
    orders = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "order_date": [day, day, day + dt.timedelta(days=2)],
            "revenue": [20.0, 35.5, 12.0],
        }
    )
    replace_table(fresh_db, "marts", "fct_orders_web", orders)
    engagement = pd.DataFrame(
        {
            "user_key": ["u1", "u2"],
            "is_identified": [True, True],
            "engagement_score": [40.0, 60.0],
            "engagement_tier": ["medium", "medium"],
        }
    )
    replace_table(fresh_db, "analytics", "user_engagement", engagement)
    result = materialize(
        [clv_model, customer_ltv], resources={"warehouse": WarehouseResource(database_url=fresh_db)}
    )
    assert result.success
    fit = result.asset_materializations_for_node("clv_model")[0].metadata
    assert fit["fitted"].value is False and "repeat purchase" in fit["reason"].value
    ltv = frame(fresh_db, "select * from analytics.customer_ltv order by user_id")
    assert ltv["user_id"].tolist() == ["u1", "u2", "u3"]
    assert ltv["frequency"].tolist() == [0, 0, 0] and ltv["t_days"].tolist() == [2.0, 2.0, 0.0]
    assert ltv["p_alive"].isna().all() and ltv["fitted_at"].isna().all()
    assert ltv["engagement_score"].tolist()[:2] == [40.0, 60.0]
    assert not clv_fit_is_current(warehouse=WarehouseResource(database_url=fresh_db)).passed


def test_clv_calibration_report_covers_the_calibration_customers(run):
    url = run["url"]
    report = frame(
        url,
        """
        select * from analytics.clv_calibration
        where fitted_at = (select max(fitted_at) from analytics.clv_calibration)""",
    )
    overall = report[report["calibration_frequency"] == "all"].iloc[0]
    assert overall["holdout_days"] == (overall["observation_end"] - overall["calibration_end"]).days
    (expected,) = rows(
        url,
        """
        select count(distinct user_id) from marts.fct_orders_web
        where user_id is not null and revenue > 0 and order_date <= %s""",
        (overall["calibration_end"],),
    )[0]
    assert overall["n_customers"] == expected
    buckets = report[report["calibration_frequency"] != "all"]
    assert buckets["n_customers"].sum() == expected and overall["mae"] >= 0


def test_user_engagement_scores_every_user_with_sessions(run):
    url = run["url"]
    scores = frame(url, "select * from analytics.user_engagement")
    (users,) = rows(url, "select count(distinct user_key) from marts.fct_sessions")[0]
    assert len(scores) == users and scores["user_key"].is_unique
    assert scores["engagement_score"].between(0, 100).all()
    # percentile ranks average to one half, so the weighted mean score is 50
    assert scores["engagement_score"].mean() == pytest.approx(50.0)
    by_user = defaultdict(int)
    for user_key, n in rows(url, "select user_key, count(*) from marts.fct_sessions group by user_key"):
        by_user[user_key] = n
    assert (scores["sessions"] == scores["user_key"].map(by_user)).all()


def test_every_number_in_the_metadata_is_rounded_for_reading(run):
    """No float noise in the UI: every float metadata value and every number in a Markdown
    table has at most 4 decimals (214865.96000000002 would fail)."""
    import re

    from dagster import (
        AssetKey,
        DagsterEventType,
        EventRecordsFilter,
        FloatMetadataValue,
        MarkdownMetadataValue,
    )

    instance = run["instance"]
    records = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_MATERIALIZATION)
    )
    seen = set()
    long_decimals = re.compile(r"(?<![\w.:])-?\d+\.\d{5,}(?![\w.])")  # not the seconds of a time
    for record in records:
        materialization = record.asset_materialization
        assert materialization is not None
        seen.add(materialization.asset_key)
        for name, value in materialization.metadata.items():
            if name == "Execution Duration":  # Dagster's own timing
                continue
            if isinstance(value, FloatMetadataValue) and value.value is not None:
                assert round(value.value, 4) == value.value, (materialization.asset_key, name, value.value)
            if isinstance(value, MarkdownMetadataValue) and "data:image" not in (value.md_str or ""):
                found = long_decimals.findall(value.md_str or "")
                assert not found, (materialization.asset_key, name, found[:3])
    assert AssetKey("customer_ltv") in seen and AssetKey("store_daily_summary") in seen
