"""Customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend per order.

Plain pandas/numpy/scipy, usable from a notebook or from any pipeline step::

    summary = rfm_summary(orders, "customer_id", "ordered_at", "revenue", freq="W")
    bgnbd = fit_bgnbd(summary)
    gg = fit_gamma_gamma(summary)
    clv = customer_lifetime_value(bgnbd, gg, summary, months=12, period_days=7)
    alive = bgnbd.p_alive(summary["frequency"], summary["recency"], summary["T"])
    segment = churn_risk_segment(alive)

Models and where their formulas come from:

* BG/NBD -- P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "'Counting Your Customers' the Easy
  Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284 ("FHL 2005").
  While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after
  each repeat purchase they drop out with probability p ~ Beta(a, b).
* Gamma-Gamma -- P. S. Fader, B. G. S. Hardie (2013), "The Gamma-Gamma Model of Monetary
  Value" (note, "FH 2013"). Spend per order z ~ Gamma(p, nu) with nu ~ Gamma(q, v) across customers,
  independent of the purchase process.
* P(alive) -- P. S. Fader, B. G. S. Hardie, K. L. Lee (2008), "Computing P(alive) Using the
  BG/NBD Model" (note, "FHL 2008").

Data conventions (``rfm_summary``), the same as the CDNOW summaries used in FHL 2005:
``frequency`` x is the number of repeat purchase periods, ``recency`` t_x the age of the
customer at their last purchase and ``T`` their age at the end of observation, both counted
from the first purchase in model time units; ``monetary_value`` is the mean value of the repeat
purchases. Both fits are maximum likelihood over log-parameters with ``scipy.optimize``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

WEIGHT_COLUMN = "count"  # optional summary column: number of customers the row stands for
DAYS_PER_MONTH = 30.0  # month length used by customer_lifetime_value (lifetimes' daily convention)
ACTIVE_MIN_P_ALIVE = 0.7  # churn_risk_segment: P(alive) >= 0.7 -> "active"
AT_RISK_MIN_P_ALIVE = 0.3  # 0.3 <= P(alive) < 0.7 -> "at_risk"; below -> "churned"
HOLDOUT_BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7+")

_LOG_PARAM_BOUND = 20.0  # fitted parameters are confined to [e^-20, e^20] ~ [2e-9, 5e8]
_BGNBD_PARAMS = ("r", "alpha", "a", "b")
_GAMMA_GAMMA_PARAMS = ("p", "q", "v")
_BGNBD_HINT = (
    "Try expressing time in larger units (e.g. weeks instead of days), passing `initial` "
    "parameters, or a (larger) penalizer such as 0.001."
)
_GAMMA_GAMMA_HINT = "Try passing `initial` parameters or capping extreme monetary values."


class ConvergenceError(ValueError):
    """Maximum-likelihood fitting did not reach a finite, interior optimum."""


# --------------------------------------------------------------------------------------------
# RFM summary
# --------------------------------------------------------------------------------------------


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    observation_end=None,
    freq: Literal["D", "W"] = "D",
) -> pd.DataFrame:
    """Frequency / recency / T (and monetary value) per customer from a transaction log.

    Time is counted in whole periods: ``freq="D"`` calendar days, ``freq="W"`` calendar weeks
    (Monday to Sunday). Several transactions of a customer in one period count as one purchase
    whose value is their sum. With ``d_1 < ... < d_n`` the customer's purchase periods and
    ``E`` the period of ``observation_end``:

    * ``frequency`` = n - 1 (repeat purchase periods),
    * ``recency`` = d_n - d_1 (0 when frequency is 0),
    * ``T`` = E - d_1,
    * ``monetary_value`` = mean value of the purchases in d_2..d_n, 0 when frequency is 0 (only
      when ``value_col`` is given).

    ``observation_end`` defaults to the last transaction date; transactions on later days are
    ignored, so customers whose first purchase is after it do not appear. The result is indexed
    by customer (index named ``customer_col``). For fractional weeks as in FHL 2005's CDNOW
    summary, use ``freq="D"`` and divide ``recency`` and ``T`` by 7.
    """
    if freq not in ("D", "W"):
        raise ValueError(f"freq must be 'D' or 'W', got {freq!r}")
    columns = [customer_col, date_col] + ([value_col] if value_col is not None else [])
    data = transactions[columns]
    if data[[customer_col, date_col]].isna().any().any():
        raise ValueError(f"{customer_col!r} and {date_col!r} must not contain missing values")
    days = _calendar_days(data[date_col])
    if observation_end is None and days.size == 0:
        raise ValueError("no transactions and no observation_end given")
    end_day = days.max() if observation_end is None else _calendar_days(pd.Series([observation_end]))[0]
    keep = days <= end_day
    purchases = pd.DataFrame(
        {
            "customer": data[customer_col].to_numpy()[keep],
            "period": _period_number(days[keep], freq),
            "value": data[value_col].to_numpy(dtype=float)[keep] if value_col is not None else 0.0,
        }
    )
    summary = _summarise_periods(purchases, _period_number(np.array([end_day]), freq)[0])
    summary.index.name = customer_col
    return summary if value_col is not None else summary.drop(columns="monetary_value")


def _calendar_days(dates: pd.Series) -> np.ndarray:
    """Whole days since 1970-01-01 (Thursday) of each date, time of day and time zone dropped."""
    stamps = pd.to_datetime(dates)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    return ((stamps.dt.normalize() - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1)).to_numpy(
        dtype=np.int64
    )


def _period_number(days: np.ndarray, freq: str) -> np.ndarray:
    """Day number -> period number: the day itself, or the Monday-to-Sunday week containing it."""
    return days if freq == "D" else (days + 3) // 7  # day 0 is a Thursday, 3 days after Monday


def _summarise_periods(purchases: pd.DataFrame, end_period: int) -> pd.DataFrame:
    """Collapse (customer, period, value) rows to one RFM row per customer."""
    per_period = purchases.groupby(["customer", "period"], sort=True)["value"].sum().reset_index()
    by_customer = per_period.groupby("customer", sort=True)
    first_period = by_customer["period"].min()
    frequency = by_customer.size() - 1
    first_value = by_customer["value"].first()  # rows are sorted by period within a customer
    repeat_value = by_customer["value"].sum() - first_value
    return pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (by_customer["period"].max() - first_period).astype(float),
            "T": (end_period - first_period).astype(float),
            "monetary_value": (repeat_value / frequency.where(frequency > 0)).fillna(0.0),
        }
    ).rename_axis(None)


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


def bgnbd_log_likelihood(params: Mapping[str, float], frequency, recency, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, FHL 2005 eq. (6).

    L(r, alpha, a, b | x, t_x, T) = A1 * A2 * (A3 + [x > 0] * A4) with

    * A1 = Gamma(r + x) alpha^r / Gamma(r)
    * A2 = B(a, b + x) / B(a, b)
    * A3 = (alpha + T)^-(r + x)
    * A4 = a / (b + x - 1) * (alpha + t_x)^-(r + x)

    evaluated in logs (gammaln, betaln) with log(A3 + A4) taken by ``np.logaddexp``.
    """
    r, alpha, a, b = (float(params[name]) for name in _BGNBD_PARAMS)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    log_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    log_a2 = betaln(a, b + x) - betaln(a, b)
    log_a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    log_a4 = np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x)
    return log_a1 + log_a2 + np.where(repeat, np.logaddexp(log_a3, log_a4), log_a3)


@dataclass(frozen=True)
class BetaGeoModel:
    """A fitted BG/NBD model; time arguments are in the time unit of the fitted summary.

    All methods broadcast over scalars, numpy arrays and pandas Series (a Series argument gives
    a Series result on its index).
    """

    params: dict[str, float]  # r, alpha, a, b
    log_likelihood: float  # total log-likelihood of the fitted summary at the optimum

    def p_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) (FHL 2008 note; the reciprocal of eq. (10)'s denominator).

        P = 1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)).
        A customer with no repeat purchase is alive with probability 1: in the BG/NBD, dropout
        can only happen right after a repeat purchase.
        """
        r, alpha, a, b = self._values()
        x, t_x, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        repeat = x > 0
        log_odds_dead = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T_) - np.log(alpha + t_x))
        )
        return _like_input(np.where(repeat, expit(-log_odds_dead), 1.0), frequency, recency, T)

    def expected_purchases(self, t, frequency, recency, T):
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t], FHL 2005 eq. (10).

        E = P(alive | x, t_x, T) * (a + b + x - 1) / (a - 1)
              * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
                     * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))].
        See ``_alive_expected_purchases`` for how the 2F1 term is kept finite.
        """
        x, T_ = (np.asarray(v, dtype=float) for v in (frequency, T))
        alive = np.asarray(self.p_alive(frequency, recency, T), dtype=float)
        value = alive * self._alive_expected_purchases(np.asarray(t, dtype=float), x, T_)
        return _like_input(value, t, frequency, recency, T)

    def expected_purchases_new_customer(self, t):
        """E[X(t)]: expected repeat purchases of a new customer in (0, t], FHL 2005 eq. (7).

        E = (a + b - 1) / (a - 1)
              * [1 - (alpha / (alpha + t))^r * 2F1(r, b; a + b - 1; t / (alpha + t))],
        i.e. eq. (10) with x = 0, T = 0 (and P(alive) = 1).
        """
        value = self._alive_expected_purchases(np.asarray(t, dtype=float), 0.0, 0.0)
        return _like_input(value, t)

    def _alive_expected_purchases(self, t: np.ndarray, x, T) -> np.ndarray:
        """Expected purchases in (T, T + t] for a customer known to be alive at T.

        Equals (a + b + x - 1) / (a - 1) * (1 - G) with, by Euler's transformation
        2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) (Abramowitz & Stegun
        15.3.3) applied to eq. (10),

            G = (1 - z)^(a - 1) * 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z),
            z = t / (alpha + T + t).

        The untransformed 2F1(r + x, b + x; ...) grows like (1 - z)^(a - 1 - r - x) as z -> 1 and
        overflows for many purchases or long horizons; this form stays bounded. The formula has
        a removable singularity at a = 1 exactly (the result is NaN there).
        """
        r, alpha, a, b = self._values()
        z = t / (alpha + T + t)
        c = a + b + x - 1
        g = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        return c / (a - 1) * (1 - g)

    def _values(self) -> tuple[float, float, float, float]:
        r, alpha, a, b = (self.params[name] for name in _BGNBD_PARAMS)
        return r, alpha, a, b


def fit_bgnbd(
    summary: pd.DataFrame, *, initial: Mapping[str, float] | None = None, penalizer: float = 0.0
) -> BetaGeoModel:
    """Fit the BG/NBD model by maximum likelihood (FHL 2005 eq. (6)).

    ``summary`` needs ``frequency``, ``recency`` and ``T`` (see ``rfm_summary``), and may have a
    ``count`` column giving how many customers each row stands for. Identical rows are collapsed
    before fitting. The optimiser works on log-parameters, starting from ``initial`` or from
    r = 1, alpha = mean T (alpha is a time scale), a = 1, b = 1; it minimises the mean
    negative log-likelihood plus ``penalizer * (r^2 + alpha^2 + a^2 + b^2)`` (L2 shrinkage as in
    the lifetimes package). ``log_likelihood`` of the result is the unpenalised total.

    Raises ``ConvergenceError`` when no customer has a repeat purchase (a and b are then not
    identified), when the optimiser fails, or when a parameter runs off to 0 or infinity.
    """
    rows = _collapse(summary, ["frequency", "recency", "T"])
    if not (rows["frequency"] > 0).any():
        raise ConvergenceError(
            "BG/NBD cannot be fitted: no customer has a repeat purchase (frequency > 0), so the "
            "dropout parameters a and b are not identified. Use a longer observation period."
        )
    x, t_x, T, weight = (rows[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", WEIGHT_COLUMN))
    start = initial or {
        "r": 1.0,
        "alpha": max(float(np.average(T, weights=weight)), 1e-3),
        "a": 1.0,
        "b": 1.0,
    }

    def objective(log_params: np.ndarray) -> float:
        params = dict(zip(_BGNBD_PARAMS, np.exp(log_params)))
        ll = bgnbd_log_likelihood(params, x, t_x, T)
        penalty = penalizer * float(np.sum(np.exp(2 * log_params)))
        return -np.dot(weight, ll) / weight.sum() + penalty

    log_params = _maximise_likelihood(objective, start, _BGNBD_PARAMS, "BG/NBD", _BGNBD_HINT)
    params = dict(zip(_BGNBD_PARAMS, np.exp(log_params).tolist()))
    total = float(np.dot(weight, bgnbd_log_likelihood(params, x, t_x, T)))
    return BetaGeoModel(params=params, log_likelihood=total)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


def gamma_gamma_log_likelihood(params: Mapping[str, float], frequency, monetary_value) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend m of x orders (FH 2013 note).

    f(m | p, q, v, x) = Gamma(p x + q) / (Gamma(p x) Gamma(q)) * v^q m^(p x - 1) x^(p x)
                        / (v + x m)^(p x + q),   for x > 0 and m > 0.
    """
    p, q, v = (float(params[name]) for name in _GAMMA_GAMMA_PARAMS)
    x, m = (np.asarray(val, dtype=float) for val in (frequency, monetary_value))
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )


@dataclass(frozen=True)
class GammaGammaModel:
    """A fitted Gamma-Gamma spend model."""

    params: dict[str, float]  # p, q, v
    log_likelihood: float  # total log-likelihood of the repeat customers at the optimum

    def expected_order_value(self, frequency, monetary_value):
        """E[M | x, m]: expected spend per order given x repeat orders of mean value m.

        E = p (v + x m) / (p x + q - 1) (Fader & Hardie 2013 note): a weighted average of the
        population mean p v / (q - 1) and the customer's own mean m, which is what a customer with
        x = 0 gets. Raises ``ValueError`` when q <= 1 (the population mean is then infinite).
        """
        p, q, v = (self.params[name] for name in _GAMMA_GAMMA_PARAMS)
        _require_finite_mean(q)
        x = np.asarray(frequency, dtype=float)
        m = np.where(x > 0, np.asarray(monetary_value, dtype=float), 0.0)
        return _like_input(p * (v + x * m) / (p * x + q - 1), frequency, monetary_value)


def fit_gamma_gamma(summary: pd.DataFrame, *, initial: Mapping[str, float] | None = None) -> GammaGammaModel:
    """Fit the Gamma-Gamma model by maximum likelihood on the customers with repeat purchases.

    Uses the rows of ``summary`` with frequency > 0 and monetary_value > 0 (weighted by a
    ``count`` column if present), starting from ``initial`` or p = 1, q = 2, v = mean spend
    (population mean p v / (q - 1) = mean spend). The model assumes spend per order is
    independent of purchase frequency; check the correlation of frequency and monetary_value
    before relying on it.

    Raises ``ConvergenceError`` when there are no such customers or the optimiser fails, and
    ``ValueError`` when the fitted q <= 1 (mean spend undefined).
    """
    rows = _collapse(summary, ["frequency", "monetary_value"])
    rows = rows[(rows["frequency"] > 0) & (rows["monetary_value"] > 0)]
    if rows.empty:
        raise ConvergenceError(
            "Gamma-Gamma cannot be fitted: no customer has a repeat purchase with positive monetary_value."
        )
    x, m, weight = (rows[c].to_numpy(dtype=float) for c in ("frequency", "monetary_value", WEIGHT_COLUMN))
    start = initial or {"p": 1.0, "q": 2.0, "v": float(np.average(m, weights=weight))}

    def objective(log_params: np.ndarray) -> float:
        params = dict(zip(_GAMMA_GAMMA_PARAMS, np.exp(log_params)))
        return -np.dot(weight, gamma_gamma_log_likelihood(params, x, m)) / weight.sum()

    log_params = _maximise_likelihood(objective, start, _GAMMA_GAMMA_PARAMS, "Gamma-Gamma", _GAMMA_GAMMA_HINT)
    params = dict(zip(_GAMMA_GAMMA_PARAMS, np.exp(log_params).tolist()))
    _require_finite_mean(params["q"], params)
    total = float(np.dot(weight, gamma_gamma_log_likelihood(params, x, m)))
    return GammaGammaModel(params=params, log_likelihood=total)


def _require_finite_mean(q: float, params: Mapping[str, float] | None = None) -> None:
    if q <= 1:
        fitted = f" (fitted {dict(params)})" if params is not None else ""
        raise ValueError(
            f"Gamma-Gamma q = {q:.4g} <= 1{fitted}: the expected spend per order is infinite. "
            "Spend is too heavy-tailed for this model; cap or remove extreme order values."
        )


# --------------------------------------------------------------------------------------------
# Lifetime value, segments, calibration/holdout check
# --------------------------------------------------------------------------------------------


def customer_lifetime_value(
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel,
    summary: pd.DataFrame,
    *,
    months: int = 12,
    discount_rate_monthly: float = 0.01,
    period_days: float = 1,
) -> pd.Series:
    """Discounted expected value of each customer's purchases over the next ``months`` months.

    CLV = sum_{i=1..months} (E[Y(i M)] - E[Y((i - 1) M)]) * E[M | x, m] / (1 + d)^i, with E[Y]
    the BG/NBD conditional expectation, E[M | x, m] the Gamma-Gamma expected order value, d the
    monthly discount rate and M = 30 days / ``period_days`` the month in model time units
    (``period_days`` = length of one model time unit in days: 1 for freq="D", 7 for freq="W").
    This is the calculation of lifetimes' ``customer_lifetime_value``.
    """
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    month = DAYS_PER_MONTH / period_days
    horizons = np.arange(0, months + 1, dtype=float)[:, None] * month
    cumulative = np.asarray(bgnbd.expected_purchases(horizons, x, t_x, T))
    discount = (1 + discount_rate_monthly) ** -np.arange(1, months + 1, dtype=float)
    purchases = discount @ np.diff(cumulative, axis=0)
    order_value = np.asarray(gg.expected_order_value(x, summary["monetary_value"].to_numpy(dtype=float)))
    return pd.Series(purchases * order_value, index=summary.index, name="clv")


def churn_risk_segment(p_alive) -> pd.Series:
    """Label each P(alive): >= 0.7 "active", 0.3 to < 0.7 "at_risk", < 0.3 "churned".

    The cut-offs are ``ACTIVE_MIN_P_ALIVE`` and ``AT_RISK_MIN_P_ALIVE``; missing values stay
    missing. A Series argument keeps its index.
    """
    probability = pd.Series(p_alive, dtype=float)
    labels = np.select(
        [
            probability >= ACTIVE_MIN_P_ALIVE,
            probability >= AT_RISK_MIN_P_ALIVE,
            probability < AT_RISK_MIN_P_ALIVE,
        ],
        ["active", "at_risk", "churned"],
        default=None,  # type: ignore[call-overload]  # missing stays missing (object labels)
    )
    return pd.Series(labels, index=probability.index, name="churn_risk", dtype=object)


def calibration_holdout(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    calibration_end,
    observation_end,
    freq: Literal["D", "W"] = "D",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit the BG/NBD on a calibration period and check it against the following holdout period.

    The calibration summary (``rfm_summary`` up to ``calibration_end``) gets three columns:
    ``frequency_holdout`` (purchase periods in (calibration_end, observation_end]),
    ``duration_holdout`` (holdout length in periods) and ``predicted_holdout`` (eq. (10) over that
    length). The report has one row per calibration frequency bucket 0..6, 7+ and an ``all`` row:
    customers, mean actual and predicted holdout purchases and the mean absolute error per
    customer (``mae``). The fitted parameters are in ``report.attrs["bgnbd_params"]``.
    This is the calibration/holdout comparison of conditional expectations in FHL 2005.
    """
    calibration = rfm_summary(
        transactions, customer_col, date_col, observation_end=calibration_end, freq=freq
    )
    cal_day, end_day = _calendar_days(pd.Series([calibration_end, observation_end]))
    if end_day <= cal_day:
        raise ValueError("observation_end must be after calibration_end")
    days = _calendar_days(transactions[date_col])
    in_holdout = (days > cal_day) & (days <= end_day)
    holdout = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy()[in_holdout],
            "period": _period_number(days[in_holdout], freq),
        }
    )
    periods = holdout.drop_duplicates().groupby("customer").size()
    start_period, end_period = _period_number(np.array([cal_day, end_day]), freq)
    duration = float(end_period - start_period)
    model = fit_bgnbd(calibration)
    calibration = calibration.assign(
        frequency_holdout=periods.reindex(calibration.index, fill_value=0).to_numpy(dtype=np.int64),
        duration_holdout=duration,
        predicted_holdout=model.expected_purchases(
            duration, calibration["frequency"], calibration["recency"], calibration["T"]
        ),
    )
    report = _holdout_report(calibration)
    report.attrs["bgnbd_params"] = model.params
    return calibration, report


def _holdout_report(calibration: pd.DataFrame) -> pd.DataFrame:
    """Actual vs predicted holdout purchases per calibration-frequency bucket, plus ``all``."""
    bucket = (
        calibration["frequency"].clip(upper=len(HOLDOUT_BUCKETS) - 1).map(dict(enumerate(HOLDOUT_BUCKETS)))
    )
    frame = pd.DataFrame(
        {
            "bucket": bucket,
            "actual": calibration["frequency_holdout"].astype(float),
            "predicted": calibration["predicted_holdout"],
        }
    )
    frame["abs_error"] = (frame["actual"] - frame["predicted"]).abs()
    stats = {
        "n_customers": ("actual", "size"),
        "actual_mean": ("actual", "mean"),
        "predicted_mean": ("predicted", "mean"),
        "mae": ("abs_error", "mean"),
    }
    per_bucket = frame.groupby("bucket").agg(**stats).reindex(list(HOLDOUT_BUCKETS))
    overall = frame.assign(bucket="all").groupby("bucket").agg(**stats)
    report = pd.concat([per_bucket.dropna(subset=["n_customers"]), overall])
    report["n_customers"] = report["n_customers"].astype(np.int64)
    report.index.name = "calibration_frequency"
    return report


# --------------------------------------------------------------------------------------------
# Fit identity
# --------------------------------------------------------------------------------------------


def fit_input_hash(frames: Mapping[str, pd.DataFrame], settings: Mapping[str, object]) -> str:
    """sha256 (hex) of everything a fit depends on: its input frames and its settings.

    Equal inputs give equal hashes, on any machine and in any process, so a pipeline can store
    the hash beside a fit and skip fitting the same input again. What goes in, in a fixed order:

    * ``fit_code_version()``: a change of the fitting code or of numpy / scipy / pandas counts as
      a change of input;
    * ``settings`` as JSON with sorted keys (values must be JSON-serialisable, dates as text);
    * each frame, by name in sorted order, with its columns in the order given and its rows
      sorted by all of those columns (the row order of a query does not matter). Integer and
      boolean columns enter as little-endian int64, float columns as float64 (-0.0 as 0.0, every
      NaN alike), any other column as the JSON list of its values' text (None and NaT as null).
    """
    digest = hashlib.sha256(fit_code_version().encode() + b"\0")
    digest.update(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode() + b"\0")
    for name in sorted(frames):
        frame = frames[name]
        columns = list(frame.columns)
        rows = frame.sort_values(columns, kind="mergesort") if columns and len(frame) else frame
        digest.update(json.dumps([name, columns, len(rows)]).encode() + b"\0")
        for column in columns:
            digest.update(_column_bytes(rows[column]) + b"\0")
    return digest.hexdigest()


def _column_bytes(values: pd.Series) -> bytes:
    kind = values.dtype.kind
    if kind in "biu":
        return np.ascontiguousarray(values.to_numpy(dtype="<i8")).tobytes()
    if kind == "f":
        numbers = values.to_numpy(dtype="<f8") + 0.0  # a new array; -0.0 + 0.0 is 0.0
        numbers[np.isnan(numbers)] = np.nan  # one NaN bit pattern
        return np.ascontiguousarray(numbers).tobytes()
    texts = [None if value is None or value is pd.NaT else str(value) for value in values.tolist()]
    return json.dumps(texts, ensure_ascii=False).encode()


@cache
def fit_code_version() -> str:
    """A digest of this module's source and the numerical libraries' versions (see fit_input_hash)."""
    libraries = f"numpy {np.__version__} scipy {scipy.__version__} pandas {pd.__version__}"
    try:
        source = Path(__file__).read_bytes()
    except OSError:  # installed without its source (bytecode only): the library versions still count
        source = b""
    return hashlib.sha256(source + libraries.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _collapse(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Identical rows of ``columns`` merged, with the customers each stands for in ``count``."""
    weight = summary[WEIGHT_COLUMN] if WEIGHT_COLUMN in summary else pd.Series(1.0, index=summary.index)
    frame = summary[columns].astype(float).assign(**{WEIGHT_COLUMN: weight.astype(float)})
    return frame.groupby(columns, as_index=False, sort=False)[WEIGHT_COLUMN].sum()


def _maximise_likelihood(
    objective: Callable[[np.ndarray], float],
    start: Mapping[str, float],
    names: tuple[str, ...],
    model: str,
    hint: str,
) -> np.ndarray:
    """Minimise ``objective`` over log-parameters: L-BFGS-B, then Nelder-Mead if that fails.

    Raises ``ConvergenceError`` if both fail, if the optimum is not finite, or if a parameter
    ends on the e^+-20 bound (it was running off to 0 or infinity).
    """
    x0 = np.log([float(start[name]) for name in names])
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"{model}: initial parameters must all be positive, got {dict(start)}")
    bounds = [(-_LOG_PARAM_BOUND, _LOG_PARAM_BOUND)] * len(names)
    with np.errstate(all="ignore"):
        result = minimize(objective, x0, method="L-BFGS-B", bounds=bounds)
        if not result.success:
            result = minimize(
                objective,
                result.x,
                method="Nelder-Mead",
                bounds=bounds,
                options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 20_000},
            )
    if not (result.success and np.isfinite(result.fun) and np.all(np.isfinite(result.x))):
        raise ConvergenceError(f"{model} fit did not converge (optimizer: {result.message}). {hint}")
    runaway = [name for name, value in zip(names, result.x) if abs(value) >= _LOG_PARAM_BOUND - 1e-3]
    if runaway:
        raise ConvergenceError(
            f"{model} fit diverged: {', '.join(runaway)} ran off to 0 or infinity "
            f"({dict(zip(names, np.exp(result.x).round(6).tolist()))}), so the data do not pin the "
            f"model down (too few customers or too short a period?). {hint}"
        )
    return result.x


def _like_input(values: np.ndarray, *inputs):
    """``values`` as a Series when it lines up with a Series input, else an array or a scalar."""
    values = np.asarray(values, dtype=float)
    for item in inputs:
        if isinstance(item, pd.Series) and values.shape == (len(item),):
            return pd.Series(values, index=item.index)
    return values[()] if values.ndim == 0 else values
