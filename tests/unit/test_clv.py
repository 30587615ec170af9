"""Tests for nexus_pipelines.lib.analytics.clv (BG/NBD, Gamma-Gamma, CLV helpers).

References:
* FHL 2005 -- Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2).
* FH 2013 -- Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note).
* CDNOW data: tests/data/cdnow/ (see SOURCE.md there).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import betaincinv

from nexus_pipelines.lib.analytics import clv

CDNOW_DIR = Path(__file__).resolve().parents[1] / "data" / "cdnow"
CALIBRATION_END = "1997-09-30"  # 39 weeks after the cohort's first day, 1997-01-01
HOLDOUT_END = "1998-06-30"  # a further 39 weeks

# FHL 2005: BG/NBD maximum-likelihood estimates on the CDNOW sample, time unit = weeks.
FHL_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FHL_LOG_LIKELIHOOD = -9582.4
# FH 2013: Gamma-Gamma estimates for the 946 CDNOW sample customers with repeat purchases.
FH_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


# --------------------------------------------------------------------------------------------
# fixtures and independent reference computations
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    """The published CDNOW calibration summary: x, t_x, T in weeks, zbar rounded to cents."""
    frame = pd.read_csv(CDNOW_DIR / "cdnow_customers_summary_with_transactions.csv", index_col="ID")
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_transactions() -> pd.DataFrame:
    """CDNOW_sample.txt: master id, sample id, date, number of CDs, dollar value."""
    frame = pd.read_csv(
        CDNOW_DIR / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer", "date", "cds", "value"],
        dtype={"date": str},
    )
    return frame.assign(date=pd.to_datetime(frame["date"], format="%Y%m%d"))


@pytest.fixture(scope="module")
def cdnow_days(cdnow_transactions) -> pd.DataFrame:
    return clv.rfm_summary(cdnow_transactions, "customer", "date", "value", observation_end=CALIBRATION_END)


@pytest.fixture(scope="module")
def cdnow_weeks(cdnow_days) -> pd.DataFrame:
    """The calibration summary in (fractional) weeks, the time unit of FHL 2005."""
    return cdnow_days.assign(recency=cdnow_days["recency"] / 7, T=cdnow_days["T"] / 7)


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_summary) -> clv.BetaGeoModel:
    return clv.fit_bgnbd(cdnow_summary)


@pytest.fixture(scope="module")
def cdnow_gamma_gamma(cdnow_weeks) -> clv.GammaGammaModel:
    return clv.fit_gamma_gamma(cdnow_weeks)


def _beta_expectation(h, a: float, b: float) -> float:
    """E[h(p)] for p ~ Beta(a, b), integrating over quantiles so the integrand stays bounded."""
    return quad(lambda u: h(betaincinv(a, b, u)), 0, 1, limit=500, epsabs=1e-14, epsrel=1e-11)[0]


def _expected_purchases_by_integration(params, t, x, t_x, T) -> float:
    """E[Y(t) | x, t_x, T] from the BG/NBD assumptions, without any hypergeometric function.

    Given (lambda, p), an alive customer buys E[Y(t) | lambda, p] = (1 - exp(-lambda p t)) / p
    (from the model assumptions). Integrating lambda ~ Gamma(r, alpha) analytically against the
    likelihood leaves, in units of B(a, b+x)/B(a, b) Gamma(r+x) alpha^r/Gamma(r) (alpha+T)^-(r+x):

        numerator   = E_{p ~ Beta(a, b+x)}[(1 - ((alpha + T) / (alpha + T + p t))^(r+x)) / p]
        denominator = 1 + [x > 0] B(a+1, b+x-1) / B(a, b+x) ((alpha + T) / (alpha + t_x))^(r+x)

    and the numerator is integrated numerically over p.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))

    def per_p(p: float) -> float:
        if p == 0.0:
            return (r + x) * t / (alpha + T)
        return -math.expm1(-(r + x) * math.log1p(p * t / (alpha + T))) / p

    numerator = _beta_expectation(per_p, a, b + x)
    if x == 0:
        return numerator
    log_beta_ratio = (
        math.lgamma(a + 1)
        + math.lgamma(b + x - 1)
        - math.lgamma(a + b + x)
        - (math.lgamma(a) + math.lgamma(b + x) - math.lgamma(a + b + x))
    )
    log_dead_odds = log_beta_ratio + (r + x) * math.log((alpha + T) / (alpha + t_x))
    return numerator * math.exp(-np.logaddexp(0.0, log_dead_odds))  # numerator / denominator


def _simulate_bgnbd(params, T: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Draw (x, t_x, T) from the BG/NBD story (FHL 2005).

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); exponential inter-purchase times; after each
    repeat purchase the customer drops out with probability p.
    """
    n = len(T)
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    x, t_x, clock = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n)
    buying = np.ones(n, dtype=bool)
    while buying.any():
        clock[buying] += rng.exponential(1 / rate[buying])
        buying &= clock <= T
        x[buying] += 1
        t_x[buying] = clock[buying]
        buying &= rng.random(n) >= dropout
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def _log_scale_standard_errors(params, summary) -> np.ndarray:
    """Asymptotic standard errors of log(r), log(alpha), log(a), log(b): inverse of the observed
    information, by central finite differences of the total log-likelihood."""
    names = ["r", "alpha", "a", "b"]
    theta = np.log([params[k] for k in names])
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))

    def nll(v):
        return -clv.bgnbd_log_likelihood(dict(zip(names, np.exp(v))), x, t_x, T).sum()

    h, eye = 1e-4, np.eye(4)
    hessian = np.array(
        [
            [
                (
                    nll(theta + h * (eye[i] + eye[j]))
                    - nll(theta + h * (eye[i] - eye[j]))
                    - nll(theta - h * (eye[i] - eye[j]))
                    + nll(theta - h * (eye[i] + eye[j]))
                )
                / (4 * h * h)
                for j in range(4)
            ]
            for i in range(4)
        ]
    )
    return np.sqrt(np.diag(np.linalg.inv(hessian)))


# --------------------------------------------------------------------------------------------
# 1. CDNOW against the published results
# --------------------------------------------------------------------------------------------


def test_cdnow_bgnbd_fit_matches_fhl_2005(cdnow_bgnbd):
    # Source: FHL 2005 (r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4).
    # The paper prints 3 decimals (rounding error up to 0.0005); we allow 0.001 to leave room for
    # the optimiser's stopping tolerance on this fairly flat likelihood.
    for name, published in FHL_PARAMS.items():
        assert cdnow_bgnbd.params[name] == pytest.approx(published, abs=1e-3), name
    assert cdnow_bgnbd.log_likelihood == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.1)


def test_bgnbd_count_column_weights_rows(cdnow_summary, cdnow_bgnbd):
    # Source: the likelihood is a sum over customers, so a row with count = 3 must act exactly
    # like three identical rows (and as the fit collapses rows anyway, give the same optimum).
    tripled = clv.fit_bgnbd(cdnow_summary.assign(count=3))
    assert tripled.params == pytest.approx(cdnow_bgnbd.params, rel=1e-4)
    assert tripled.log_likelihood == pytest.approx(3 * cdnow_bgnbd.log_likelihood, rel=1e-7)


def test_cdnow_log_likelihood_at_published_parameters(cdnow_summary):
    # Source: FHL 2005: LL = -9582.4 at the published estimates.
    ll = clv.bgnbd_log_likelihood(
        FHL_PARAMS, cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"]
    )
    assert ll.sum() == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.1)


def test_cdnow_conditional_expectation_example():
    # Source: FHL 2005's worked example: customer 1 of the sample (x = 2, t_x = 30.43,
    # T = 38.86 weeks) is expected to make 1.226 purchases in the next 39 weeks. Cross-checked
    # against a direct numerical integration of the model (no hypergeometric function involved).
    model = clv.BetaGeoModel(params=FHL_PARAMS, log_likelihood=FHL_LOG_LIKELIHOOD)
    expected = model.expected_purchases(39, 2, 30.43, 38.86)
    assert expected == pytest.approx(1.226, abs=5e-4)
    assert expected == pytest.approx(
        _expected_purchases_by_integration(FHL_PARAMS, 39, 2, 30.43, 38.86), rel=1e-8
    )


def test_rfm_summary_reproduces_cdnow_summary(cdnow_days, cdnow_summary):
    # Source: the published CDNOW summary (x, t_x, T in weeks to 2 decimals, zbar = mean repeat
    # spend in the calibration period, to cents) built from the same CDNOW_sample transactions.
    assert list(cdnow_days.index) == list(cdnow_summary.index)
    assert (cdnow_days["frequency"] == cdnow_summary["frequency"]).all()
    assert ((cdnow_days["recency"] / 7).round(2) == cdnow_summary["recency"]).all()
    assert ((cdnow_days["T"] / 7).round(2) == cdnow_summary["T"]).all()
    assert (cdnow_days["monetary_value"] - cdnow_summary["monetary_value"]).abs().max() <= 0.005 + 1e-9


def test_cdnow_fit_in_days_is_the_weekly_fit_rescaled(cdnow_days):
    # Source: FHL 2005 estimates again. Changing the time unit from weeks to days multiplies
    # alpha by 7, leaves r, a, b unchanged and shifts the log-likelihood by -sum(x) ln 7 (the
    # density of each repeat purchase time is per day instead of per week).
    model = clv.fit_bgnbd(cdnow_days)
    assert model.params["alpha"] / 7 == pytest.approx(FHL_PARAMS["alpha"], abs=1e-3)
    for name in ("r", "a", "b"):
        assert model.params[name] == pytest.approx(FHL_PARAMS[name], abs=1e-3)
    weekly_ll = model.log_likelihood + cdnow_days["frequency"].sum() * math.log(7)
    assert weekly_ll == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.1)


def test_cdnow_gamma_gamma_matches_fh_2013(cdnow_gamma_gamma, cdnow_summary):
    # Source: FH 2013 (p = 6.25, q = 3.74, v = 15.44; 946 repeat customers).
    # From the raw transactions (unrounded mean spend) the estimates round to the published
    # 2 decimals (tolerance = rounding half-width 0.005). The summary file's zbar is rounded to
    # cents, which moves v by ~0.004, so against it we allow 0.01.
    assert (cdnow_summary["frequency"] > 0).sum() == 946
    for name, published in FH_GAMMA_GAMMA.items():
        assert cdnow_gamma_gamma.params[name] == pytest.approx(published, abs=0.005), name
    from_file = clv.fit_gamma_gamma(cdnow_summary)
    for name, published in FH_GAMMA_GAMMA.items():
        assert from_file.params[name] == pytest.approx(published, abs=0.01), name


def test_calibration_holdout_on_cdnow(cdnow_transactions, cdnow_days):
    # Source: the FHL 2005 set-up: 39-week calibration, 39-week holdout, conditional
    # expectations by calibration frequency 0..6, 7+.
    calibration, report = clv.calibration_holdout(
        cdnow_transactions, "customer", "date", CALIBRATION_END, HOLDOUT_END
    )
    assert list(report.index) == ["0", "1", "2", "3", "4", "5", "6", "7+", "all"]
    assert report.loc["all", "n_customers"] == 2357 == report["n_customers"].iloc[:-1].sum()
    assert (calibration["duration_holdout"] == 273).all()  # 39 weeks of days
    pd.testing.assert_frame_equal(
        calibration[list(cdnow_days.columns[:3])], cdnow_days[list(cdnow_days.columns[:3])]
    )

    holdout = cdnow_transactions[cdnow_transactions["date"] > CALIBRATION_END]
    actual = holdout.drop_duplicates(["customer", "date"]).groupby("customer").size()
    assert calibration["frequency_holdout"].sum() == actual.sum()
    assert calibration.loc[1, "frequency_holdout"] == actual.get(1, 0)
    # customer 1 is the FHL 2005 worked example: 1.226 expected purchases in 39 weeks
    assert calibration.loc[1, "predicted_holdout"] == pytest.approx(1.226, abs=1e-3)
    assert report.attrs["bgnbd_params"]["alpha"] / 7 == pytest.approx(FHL_PARAMS["alpha"], abs=1e-3)

    error = (calibration["frequency_holdout"] - calibration["predicted_holdout"]).abs()
    assert report.loc["all", "mae"] == pytest.approx(error.mean())
    bucket_0 = calibration["frequency"] == 0
    assert report.loc["0", "actual_mean"] == pytest.approx(
        calibration.loc[bucket_0, "frequency_holdout"].mean()
    )
    # the model tracks the holdout: bucket means within 0.4 purchases, overall within 0.1
    assert (report["actual_mean"] - report["predicted_mean"]).abs().max() < 0.4
    assert abs(report.loc["all", "actual_mean"] - report.loc["all", "predicted_mean"]) < 0.1


# --------------------------------------------------------------------------------------------
# 2. Hand-computed values
# --------------------------------------------------------------------------------------------


def test_bgnbd_log_likelihood_by_hand():
    # Source: FHL 2005 eq. (6), L = A1 * A2 * (A3 + [x > 0] A4), evaluated with math.lgamma.
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, T = 2, 30.43, 38.86
    a1 = math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha**r  # Gamma(r+x) alpha^r / Gamma(r)
    a2 = math.exp(  # B(a, b+x) / B(a, b) = Gamma(b+x) Gamma(a+b) / (Gamma(b) Gamma(a+b+x))
        math.lgamma(b + x) + math.lgamma(a + b) - math.lgamma(b) - math.lgamma(a + b + x)
    )
    a3 = (alpha + T) ** -(r + x)
    a4 = a / (b + x - 1) * (alpha + t_x) ** -(r + x)
    by_hand = math.log(a1 * a2 * (a3 + a4))
    no_repeat = math.log((alpha / (alpha + T)) ** r)  # x = 0: A1 = alpha^r, A2 = 1, no A4
    got = clv.bgnbd_log_likelihood(FHL_PARAMS, [x, 0], [t_x, 0.0], [T, T])
    assert got == pytest.approx([by_hand, no_repeat], rel=1e-12)


def test_gamma_gamma_log_likelihood_by_hand():
    # Source: FH 2013:
    # f(m | p, q, v, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) v^q m^(px-1) x^px / (v + x m)^(px+q).
    p, q, v, x, m = 6.25, 3.74, 15.44, 3, 22.5
    by_hand = (
        math.lgamma(p * x + q)
        - math.lgamma(p * x)
        - math.lgamma(q)
        + q * math.log(v)
        + (p * x - 1) * math.log(m)
        + p * x * math.log(x)
        - (p * x + q) * math.log(v + x * m)
    )
    assert clv.gamma_gamma_log_likelihood(FH_GAMMA_GAMMA, x, m) == pytest.approx(by_hand, rel=1e-12)


def test_p_alive():
    # Source: FHL 2008 note "Computing P(alive) Using the BG/NBD Model":
    # P(alive) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha+T) / (alpha+t_x))^(r+x)).
    # With no repeat purchase P(alive) = 1: dropout only happens right after a repeat purchase.
    model = clv.BetaGeoModel(params=FHL_PARAMS, log_likelihood=FHL_LOG_LIKELIHOOD)
    r, alpha, a, b = FHL_PARAMS.values()
    by_hand = 1 / (1 + a / (b + 2 - 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    assert model.p_alive(2, 30.43, 38.86) == pytest.approx(by_hand, rel=1e-12)
    assert model.p_alive(0, 0.0, 38.86) == 1.0
    assert model.p_alive(0, 0.0, 1e6) == 1.0
    # a purchase right at T leaves the customer more likely alive than one long ago
    recencies = pd.Series([38.86, 20.0, 1.0], index=["c", "b", "a"])
    alive = model.p_alive(pd.Series(5, index=recencies.index), recencies, 38.86)
    assert list(alive.index) == ["c", "b", "a"] and alive.is_monotonic_decreasing


def test_expected_purchases_new_customer_matches_integration():
    # Source: FHL 2005 eq. (7), checked against E_{p ~ Beta(a, b)}[(1 - (alpha/(alpha+p t))^r) / p]
    # (integrated over lambda), i.e. the integration reference with x = 0, T = 0.
    model = clv.BetaGeoModel(params=FHL_PARAMS, log_likelihood=FHL_LOG_LIKELIHOOD)
    horizons = np.array([0.0, 1.0, 39.0, 78.0, 1000.0])
    got = model.expected_purchases_new_customer(horizons)
    assert got[0] == 0.0
    reference = [_expected_purchases_by_integration(FHL_PARAMS, t, 0, 0.0, 0.0) for t in horizons[1:]]
    assert got[1:] == pytest.approx(reference, rel=1e-8)


@pytest.mark.parametrize(
    "params",
    [
        {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},  # a < 1 (CDNOW)
        {"r": 2.5, "alpha": 300.0, "a": 4.0, "b": 60.0},  # a > 1, daily-scale alpha
        {"r": 0.05, "alpha": 0.2, "a": 0.15, "b": 0.4},  # x = 0 rows have a + b - 1 < 0
    ],
)
def test_expected_purchases_numerically_safe(params):
    # Source: FHL 2005 eq. (10) vs the integration reference, on cases where the textbook form
    # ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) overflows (many purchases,
    # long horizons).
    model = clv.BetaGeoModel(params=params, log_likelihood=0.0)
    cases = [
        (39.0, 2, 30.43, 38.86),
        (5000.0, 800, 700.0, 720.0),
        (3650.0, 300, 10.0, 400.0),
        (0.5, 50, 49.0, 52.0),
        (10000.0, 0, 0.0, 5.0),
        (100.0, 1, 0.0, 2000.0),
    ]
    t, x, t_x, T = (np.array(col, dtype=float) for col in zip(*cases))
    got = model.expected_purchases(t, x, t_x, T)
    assert np.all(np.isfinite(got))
    reference = [_expected_purchases_by_integration(params, *case) for case in cases]
    assert got == pytest.approx(reference, rel=1e-6)


def test_rfm_summary_by_hand():
    # Source: hand-made transactions; definitions in the rfm_summary docstring (FHL 2005 summary
    # conventions). 2024-01-01 is a Monday; observation ends Monday 2024-01-15.
    tx = pd.DataFrame(
        [
            ("A", "2024-01-01 09:00", 10.0),
            ("A", "2024-01-01 17:30", 5.0),  # same day: one purchase of 15
            ("A", "2024-01-03 18:45", 20.0),
            ("A", "2024-01-10", 30.0),
            ("A", "2024-01-20", 999.0),  # after observation_end: ignored
            ("B", "2024-01-05", 7.0),  # one purchase only
            ("C", "2024-01-16", 3.0),  # first purchase after observation_end: not a customer yet
            ("D", "2024-01-06", 4.0),  # Saturday
            ("D", "2024-01-07", 6.0),  # Sunday
            ("D", "2024-01-08", 8.0),  # Monday: a new week
            ("E", "2024-01-15 23:59", 2.0),  # on the last observed day
        ],
        columns=["cust", "at", "amount"],
    )
    tx["at"] = pd.to_datetime(tx["at"], format="ISO8601")
    daily = clv.rfm_summary(tx, "cust", "at", "amount", observation_end="2024-01-15")
    expected_daily = pd.DataFrame(
        {
            "frequency": [2, 0, 2, 0],
            "recency": [9.0, 0.0, 2.0, 0.0],
            "T": [14.0, 10.0, 9.0, 0.0],
            "monetary_value": [25.0, 0.0, 7.0, 0.0],
        },  # A: (20 + 30) / 2; D: (6 + 8) / 2
        index=pd.Index(["A", "B", "D", "E"], name="cust"),
    )
    pd.testing.assert_frame_equal(daily, expected_daily)

    # weeks run Monday..Sunday: week 0 = Jan 1-7, week 1 = Jan 8-14, week 2 = Jan 15-21
    weekly = clv.rfm_summary(tx, "cust", "at", "amount", observation_end="2024-01-15", freq="W")
    expected_weekly = pd.DataFrame(
        {
            "frequency": [1, 0, 1, 0],
            "recency": [1.0, 0.0, 1.0, 0.0],
            "T": [2.0, 2.0, 2.0, 0.0],
            "monetary_value": [30.0, 0.0, 8.0, 0.0],
        },  # A: week 0 (15 + 20) is the first purchase
        index=pd.Index(["A", "B", "D", "E"], name="cust"),
    )
    pd.testing.assert_frame_equal(weekly, expected_weekly)

    # no observation_end: it is the last transaction day (2024-01-20); no value_col: no money
    whole = clv.rfm_summary(tx, "cust", "at")
    assert list(whole.columns) == ["frequency", "recency", "T"]
    assert whole.loc["A"].tolist() == [3, 19.0, 19.0]
    assert whole.loc["C"].tolist() == [0, 0.0, 4.0]


def test_customer_lifetime_value_by_hand(cdnow_bgnbd, cdnow_gamma_gamma, cdnow_summary):
    # Source: the lifetimes customer_lifetime_value loop, written out: for month i,
    # (E[Y(i M)] - E[Y((i-1) M)]) * E[M | x, m] / (1 + d)^i with M = 30 / 7 weeks.
    summary = cdnow_summary.iloc[:50]
    x, t_x, T, m = (summary[c] for c in ("frequency", "recency", "T", "monetary_value"))
    order_value = cdnow_gamma_gamma.expected_order_value(x, m)
    by_hand = pd.Series(0.0, index=summary.index)
    for month in range(1, 7):
        step = cdnow_bgnbd.expected_purchases(month * 30 / 7, x, t_x, T) - cdnow_bgnbd.expected_purchases(
            (month - 1) * 30 / 7, x, t_x, T
        )
        by_hand += step * order_value / 1.02**month
    got = clv.customer_lifetime_value(
        cdnow_bgnbd, cdnow_gamma_gamma, summary, months=6, discount_rate_monthly=0.02, period_days=7
    )
    pd.testing.assert_series_equal(got, by_hand.rename("clv"), rtol=1e-12)
    undiscounted = clv.customer_lifetime_value(
        cdnow_bgnbd, cdnow_gamma_gamma, summary, months=12, discount_rate_monthly=0.0, period_days=7
    )
    expected = cdnow_bgnbd.expected_purchases(360 / 7, x, t_x, T) * order_value
    pd.testing.assert_series_equal(undiscounted, expected.rename("clv"), rtol=1e-10)


def test_expected_order_value():
    # Source: FH 2013: E[M | p, q, v, x, m] = p (v + x m) / (p x + q - 1);
    # population mean p v / (q - 1).
    model = clv.GammaGammaModel(params=FH_GAMMA_GAMMA, log_likelihood=0.0)
    p, q, v = FH_GAMMA_GAMMA.values()
    got = model.expected_order_value(np.array([0, 2, 40]), np.array([99.0, 30.0, 30.0]))
    assert got == pytest.approx(
        [p * v / (q - 1), p * (v + 60) / (2 * p + q - 1), p * (v + 1200) / (40 * p + q - 1)]
    )
    assert got[2] == pytest.approx(30.0, abs=0.5)  # many orders: close to the customer's own mean


def test_churn_risk_segment():
    # Source: the thresholds documented in churn_risk_segment (>= 0.7 active, >= 0.3 at_risk).
    p_alive = pd.Series([1.0, 0.7, 0.6999, 0.3, 0.2999, 0.0, np.nan], index=list("abcdefg"))
    segment = clv.churn_risk_segment(p_alive)
    assert segment.tolist() == [
        "active",
        "active",
        "at_risk",
        "at_risk",
        "churned",
        "churned",
        None,
    ]
    assert list(segment.index) == list("abcdefg")


# --------------------------------------------------------------------------------------------
# 3. Simulation recovery
# --------------------------------------------------------------------------------------------


def test_bgnbd_recovers_simulated_parameters():
    # Source: BG/NBD data simulated with known parameters (the FHL 2005 story), 5000
    # customers observed 26-52 weeks. The estimates must fall within 4 asymptotic standard
    # errors (inverse observed information, on the log scale the optimiser uses), which at this
    # sample size are about 0.03 (r, alpha) to 0.17 (b); a 20-seed run gave |z| <= 2.3.
    true = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    rng = np.random.default_rng(20240601)
    summary = _simulate_bgnbd(true, rng.uniform(26, 52, 5000), rng)
    model = clv.fit_bgnbd(summary)
    errors = _log_scale_standard_errors(model.params, summary)
    assert np.all(errors < 0.25)
    for (name, value), se in zip(true.items(), errors):
        assert abs(math.log(model.params[name] / value)) < 4 * se, (name, model.params[name], se)


def test_gamma_gamma_recovers_simulated_parameters_and_count_weights():
    # Source: Gamma-Gamma data simulated from FH 2013's model: nu ~ Gamma(q, rate v), each order
    # ~ Gamma(p, rate nu), so the mean of x orders ~ Gamma(p x, rate x nu). With 4000 customers
    # the estimates land well within 15% of the truth. Collapsing duplicate rows into a `count`
    # column must give the same fit.
    true = {"p": 5.0, "q": 3.0, "v": 20.0}
    rng = np.random.default_rng(7)
    x = rng.integers(1, 8, 4000)
    nu = rng.gamma(true["q"], 1 / true["v"], x.size)
    summary = pd.DataFrame({"frequency": x, "monetary_value": rng.gamma(true["p"] * x, 1 / (x * nu))})
    model = clv.fit_gamma_gamma(summary)
    for name, value in true.items():
        assert model.params[name] == pytest.approx(value, rel=0.15), name
    doubled = pd.concat([summary, summary]).reset_index(drop=True)
    weighted = summary.assign(count=2)
    for data in (doubled, weighted):
        refit = clv.fit_gamma_gamma(data)
        assert refit.params == pytest.approx(model.params, rel=1e-4)
        assert refit.log_likelihood == pytest.approx(2 * model.log_likelihood, rel=1e-8)


# --------------------------------------------------------------------------------------------
# 4. Error paths
# --------------------------------------------------------------------------------------------


def test_bgnbd_without_repeat_purchases_raises():
    # Source: FHL 2005 eq. (6): with x = 0 for everyone the likelihood does not involve a, b.
    summary = pd.DataFrame({"frequency": [0] * 5, "recency": [0.0] * 5, "T": [5.0, 10, 20, 30, 40]})
    with pytest.raises(clv.ConvergenceError, match="no customer has a repeat purchase"):
        clv.fit_bgnbd(summary)


def test_bgnbd_runaway_parameter_raises():
    # Source: constructed degenerate data. Every customer bought last exactly at T: no sign of
    # dropout, so under the penalty a is pushed to 0 -- the fit must refuse rather than return a
    # boundary "optimum".
    rng = np.random.default_rng(0)
    T = rng.uniform(20, 40, 300)
    summary = pd.DataFrame({"frequency": rng.integers(1, 6, 300), "recency": T, "T": T})
    with pytest.raises(clv.ConvergenceError, match="diverged: a ran off"):
        clv.fit_bgnbd(summary, penalizer=0.01)


def test_gamma_gamma_q_at_most_one_raises():
    # Source: FH 2013: the mean spend p v / (q - 1) needs q > 1. Spend simulated with q = 0.7
    # (very heavy tail across customers) gives a fitted q < 1.
    rng = np.random.default_rng(0)
    x = rng.integers(1, 8, 3000)
    nu = rng.gamma(0.7, 1 / 10, x.size)
    summary = pd.DataFrame({"frequency": x, "monetary_value": rng.gamma(2.0 * x, 1 / (x * nu))})
    with pytest.raises(ValueError, match=r"q = 0\.\d+ <= 1"):
        clv.fit_gamma_gamma(summary)
    model = clv.GammaGammaModel(params={"p": 2.0, "q": 1.0, "v": 10.0}, log_likelihood=0.0)
    with pytest.raises(ValueError, match="<= 1"):
        model.expected_order_value(3, 25.0)


def test_gamma_gamma_without_repeat_customers_raises():
    # Source: FH 2013: the model is fitted on repeat customers (x > 0) with positive spend only.
    summary = pd.DataFrame({"frequency": [0, 0, 2], "monetary_value": [0.0, 0.0, 0.0]})
    with pytest.raises(clv.ConvergenceError, match="no customer has a repeat purchase with positive"):
        clv.fit_gamma_gamma(summary)


def test_rfm_summary_rejects_unknown_freq():
    # Source: the rfm_summary contract (freq is "D" or "W").
    tx = pd.DataFrame({"c": [1], "d": ["2024-01-01"]})
    with pytest.raises(ValueError, match="freq must be 'D' or 'W'"):
        clv.rfm_summary(tx, "c", "d", freq="M")


# --------------------------------------------------------------------------------------------
# fit_input_hash
# --------------------------------------------------------------------------------------------
def _rfm() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "frequency": [2, 0, 5],
            "recency": [30.0, 0.0, 88.0],
            "T": [60.0, 12.0, 90.0],
            "monetary_value": [25.5, 0.0, 40.25],
        }
    )


SETTINGS = {"observation_end": "2026-03-31", "holdout_days": 30}


def test_fit_input_hash_is_a_sha256_that_ignores_row_order_and_index():
    # Source: the fit_input_hash contract (rows are sorted before hashing).
    base = clv.fit_input_hash({"rfm": _rfm()}, SETTINGS)
    assert len(base) == 64 and int(base, 16) >= 0
    shuffled = _rfm().iloc[[2, 0, 1]].set_axis([7, 8, 9])
    assert clv.fit_input_hash({"rfm": shuffled}, dict(reversed(list(SETTINGS.items())))) == base
    assert clv.fit_input_hash({"rfm": _rfm().copy()}, SETTINGS) == base  # another frame, same data


def test_fit_input_hash_changes_with_any_value_setting_or_frame():
    # Source: the fit_input_hash contract (every value, setting and frame name goes in).
    base = clv.fit_input_hash({"rfm": _rfm()}, SETTINGS)
    changed = []
    for column, row, value in [
        ("frequency", 1, 1),
        ("recency", 0, 30.000000001),
        ("monetary_value", 2, 40.26),
        ("user_id", 0, "u9"),
    ]:
        frame = _rfm()
        frame.loc[row, column] = value
        changed.append(clv.fit_input_hash({"rfm": frame}, SETTINGS))
    changed.append(clv.fit_input_hash({"rfm": _rfm()}, {**SETTINGS, "holdout_days": 31}))
    changed.append(clv.fit_input_hash({"other": _rfm()}, SETTINGS))
    changed.append(clv.fit_input_hash({"rfm": _rfm().iloc[:2]}, SETTINGS))
    changed.append(clv.fit_input_hash({"rfm": _rfm()[["user_id", "T", "frequency", "recency"]]}, SETTINGS))
    changed.append(clv.fit_input_hash({"rfm": _rfm(), "days": _rfm()[["user_id"]]}, SETTINGS))
    assert base not in changed and len(set(changed)) == len(changed)


def test_fit_input_hash_treats_equal_numbers_alike():
    # Source: IEEE 754: -0.0 == 0.0, and every NaN is "missing" for the frames hashed here.
    frame = _rfm()
    frame.loc[1, "recency"] = -0.0
    assert clv.fit_input_hash({"rfm": frame}, SETTINGS) == clv.fit_input_hash({"rfm": _rfm()}, SETTINGS)
    one, other = _rfm(), _rfm()
    one.loc[1, "T"] = float("nan")
    other.loc[1, "T"] = -np.float64("nan")  # another NaN bit pattern
    assert clv.fit_input_hash({"rfm": one}, SETTINGS) == clv.fit_input_hash({"rfm": other}, SETTINGS)


def test_fit_input_hash_covers_the_fitting_code_version(monkeypatch):
    # Source: the fit_input_hash contract (a new fitting code or library version is a new input).
    base = clv.fit_input_hash({"rfm": _rfm()}, SETTINGS)
    monkeypatch.setattr(clv, "fit_code_version", lambda: "another version")
    assert clv.fit_input_hash({"rfm": _rfm()}, SETTINGS) != base
