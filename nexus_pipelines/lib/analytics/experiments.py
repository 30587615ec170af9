"""A/B test statistics that give the same numbers as GrowthBook's stats engine.

The formulas are those of GrowthBook's ``gbstats`` package, version 0.8.0 (MIT licence,
the ``packages/stats`` folder of the growthbook/growthbook repository), re-implemented
with numpy and scipy only:

* frequentist: Welch t-test on the absolute difference of means or on the relative lift
  (delta method), as ``TwoSidedTTest``; optionally the always-valid sequential version
  (mixture-SPRT confidence sequence), as ``SequentialTwoSidedTTest``;
* Bayesian: Gaussian posterior of the effect under a flat or a Gaussian prior, with chance
  to win, risk and credible interval, as ``EffectBayesianABTest``;
* CUPED regression adjustment on pre-exposure data, as ``RegressionAdjustedStatistic``;
* sample-ratio-mismatch check, as ``check_srm``.

An arm is a mapping of sufficient statistics over its units::

    {"n": units, "sum": sum of the metric, "sum_squares": sum of its squares}

For ``metric_type="proportion"`` ``sum`` is the number of converted units and
``sum_squares`` is not needed.  For CUPED, both arms also carry the pre-exposure covariate
(the same metric measured before exposure)::

    {"pre_sum": ..., "pre_sum_squares": ..., "sum_of_products": sum of metric * covariate}

Like GrowthBook, the variance of a proportion is ``p (1 - p)`` and that of a mean is the
sample variance (``ddof=1``).  Analyses GrowthBook declines (control mean of zero, an arm
without variance, an empty arm) return its neutral result and its message under ``error``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ENGINES = ("frequentist", "bayesian")
METRIC_TYPES = ("mean", "proportion")
DEFAULT_SEQUENTIAL_TUNING = 5000.0

BASELINE_ZERO_MESSAGE = "ZERO_NEGATIVE_BASELINE_VARIATION"
ZERO_VARIANCE_MESSAGE = "ZERO_NEGATIVE_VARIANCE"
NO_UNITS_MESSAGE = "NO_UNITS_IN_VARIATION"

_PRE_FIELDS = ("pre_sum", "sum_of_products")
_SUM_FIELDS = ("n", "sum", "sum_squares", "pre_sum", "pre_sum_squares", "sum_of_products")


@dataclass(frozen=True)
class _Moments:
    """Mean and variance of one metric in one arm (GrowthBook's base statistics)."""

    n: float
    mean: float
    variance: float


@dataclass(frozen=True)
class _ArmStats:
    """One arm as the tests use it: possibly CUPED-adjusted mean and variance."""

    n: float
    mean: float
    unadjusted_mean: float
    variance: float

    @property
    def stddev(self) -> float:
        """Standard deviation, 0 when the variance is not positive."""
        return math.sqrt(self.variance) if self.variance > 0 else 0.0


def arm_from_values(
    values: Sequence[float] | np.ndarray, pre_values: Sequence[float] | np.ndarray | None = None
) -> dict:
    """Sufficient statistics of one arm from its per-unit metric values.

    With ``pre_values`` (the same units' pre-exposure covariate, in the same order) the
    CUPED fields ``pre_sum``, ``pre_sum_squares`` and ``sum_of_products`` are added.
    """
    y = np.asarray(values, dtype=float).ravel()
    arm = {"n": int(y.size), "sum": float(y.sum()), "sum_squares": float(y @ y)}
    if pre_values is not None:
        x = np.asarray(pre_values, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError("pre_values must have one value per unit of values")
        arm.update(pre_sum=float(x.sum()), pre_sum_squares=float(x @ x), sum_of_products=float(x @ y))
    return arm


def _moments(n: float, total: float, total_squares: float | None, metric_type: str) -> _Moments:
    """Mean and variance from sums: ``p (1 - p)`` for proportions, sample variance else."""
    mean = total / n if n else 0.0
    if metric_type == "proportion":
        variance = mean * (1 - mean)
    elif n <= 1:
        variance = 0.0
    elif total_squares is None:
        raise ValueError(f"a {metric_type} metric needs the sum of squares for its variance")
    else:
        variance = (total_squares - total**2 / n) / (n - 1)
    return _Moments(n, mean, variance)


def _covariance(n: float, sum_x: float, sum_y: float, sum_xy: float) -> float:
    """Sample covariance (``ddof=1``) from sums; 0 for fewer than two units."""
    if n <= 1:
        return 0.0
    return (sum_xy - sum_x * sum_y / n) / (n - 1)


def _post_moments(arm: Mapping, metric_type: str) -> _Moments:
    """Moments of the metric itself."""
    return _moments(arm["n"], arm["sum"], arm.get("sum_squares"), metric_type)


def _pre_moments(arm: Mapping, metric_type: str) -> _Moments:
    """Moments of the pre-exposure covariate."""
    return _moments(arm["n"], arm["pre_sum"], arm.get("pre_sum_squares"), metric_type)


def _has_pre(arm: Mapping) -> bool:
    """Whether the arm carries CUPED covariate sums."""
    return all(field in arm for field in _PRE_FIELDS)


def _pooled(control: Mapping, treatment: Mapping) -> dict:
    """Both arms' sums merged, as if the arms were a single sample."""
    return {key: control[key] + treatment[key] for key in _SUM_FIELDS if key in control and key in treatment}


def cuped_theta(control: Mapping, treatment: Mapping, metric_type: str = "mean") -> float:
    """CUPED coefficient: regression slope of the metric on its covariate, both arms pooled.

    As GrowthBook's ``compute_theta``: 0 (no adjustment) when the pooled metric or the
    pooled covariate has no variance.
    """
    joint = _pooled(control, treatment)
    post, pre = _post_moments(joint, metric_type), _pre_moments(joint, metric_type)
    if pre.variance == 0 or post.variance == 0:
        return 0.0
    covariance = _covariance(joint["n"], joint["sum"], joint["pre_sum"], joint["sum_of_products"])
    return covariance / pre.variance


def _arm_stats(arm: Mapping, metric_type: str, theta: float) -> _ArmStats:
    """The arm's statistic, regression-adjusted by ``theta`` when ``theta`` is not 0."""
    post = _post_moments(arm, metric_type)
    if theta == 0:
        return _ArmStats(post.n, post.mean, post.mean, post.variance)
    pre = _pre_moments(arm, metric_type)
    covariance = _covariance(arm["n"], arm["sum"], arm["pre_sum"], arm["sum_of_products"])
    variance = post.variance + theta**2 * pre.variance - 2 * theta * covariance
    return _ArmStats(
        n=post.n,
        mean=post.mean - theta * pre.mean,
        unadjusted_mean=post.mean,
        variance=variance if post.n > 1 else 0.0,
    )


def _effect(a: _ArmStats, b: _ArmStats, relative: bool) -> tuple[float, float]:
    """Point estimate of the effect of ``b`` over ``a`` and its variance.

    Relative: ``(mean_b - mean_a) / unadjusted_mean_a`` with the delta-method variance
    GrowthBook uses; absolute: ``mean_b - mean_a`` with ``var_a / n_a + var_b / n_b``.
    """
    if not relative:
        return b.mean - a.mean, a.variance / a.n + b.variance / b.n
    m_a, m_b = a.unadjusted_mean, b.unadjusted_mean
    variance = b.variance / (m_a**2 * b.n) + a.variance * m_b**2 / (m_a**4 * a.n)
    return (b.mean - a.mean) / m_a, variance


def _welch_dof(a: _ArmStats, b: _ArmStats) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    va, vb = a.variance / a.n, b.variance / b.n
    return (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))


def _fixed_horizon(point: float, variance: float, dof: float, alpha: float) -> dict:
    """Two-sided t-test: confidence interval and p-value.

    The p-value is GrowthBook's ``2 * (1 - cdf)``, computed with the survival function so
    that p-values below 1e-16 do not round to 0.
    """
    se = math.sqrt(variance)
    half_width = stats.t.ppf(1 - alpha / 2, dof) * se
    return {
        "ci_low": point - half_width,
        "ci_high": point + half_width,
        "p_value": float(2 * stats.t.sf(abs(point) / se, dof)),
    }


def _sequential(point: float, variance: float, n_total: float, alpha: float, tuning: float) -> dict:
    """Always-valid interval and p-value (GrowthBook's ``SequentialTwoSidedTTest``).

    Asymptotic confidence sequence of Waudby-Smith et al. (arXiv:2103.06476v7, eq. 9),
    with the mixture variance ``rho**2`` tuned for ``tuning`` total units (eq. 161) and
    the p-value as the inverse of the mixture e-value (eq. 155), capped at 1.
    """
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    spread = n_total * rho2 + 1
    half_width = math.sqrt(variance * n_total) * math.sqrt(
        2 * spread * math.log(math.sqrt(spread) / alpha) / (n_total**2 * rho2)
    )
    log_e_value = rho2 * point**2 * n_total / variance / (2 * spread) - 0.5 * math.log(spread)
    return {
        "ci_low": point - half_width,
        "ci_high": point + half_width,
        "p_value": min(1.0, math.exp(-log_e_value)),
    }


def _prior_on_scale(prior: Mapping | None, relative: bool, control_mean: float) -> dict | None:
    """The proper prior on the scale of the analysis, or None for a flat prior.

    As in GrowthBook's analyses, the prior is stated on the relative-lift scale and is
    rescaled by the control mean for absolute analyses.
    """
    if prior is None or not prior.get("proper", True):
        return None
    mean, variance = prior["mean"], prior["variance"]
    if not relative:
        mean, variance = mean * abs(control_mean), variance * control_mean**2
    return {"mean": mean, "variance": variance}


def _posterior(point: float, variance: float, prior: Mapping | None) -> tuple[float, float]:
    """Posterior mean and standard deviation of the effect (Gaussian conjugate update)."""
    if prior is None:
        return point, math.sqrt(variance)
    precision = 1 / variance + 1 / prior["variance"]
    mean = (point / variance + prior["mean"] / prior["variance"]) / precision
    return mean, math.sqrt(1 / precision)


def _gaussian_risk(mean: float, sd: float) -> tuple[float, float]:
    """Expected loss of shipping control and of shipping treatment.

    For an effect ``D ~ N(mean, sd**2)``: control risk ``E[max(D, 0)]`` and treatment risk
    ``E[max(-D, 0)]``, which equal GrowthBook's ``P(D > 0) E[D | D > 0]`` and
    ``-P(D < 0) E[D | D < 0]``.
    """
    z = mean / sd
    density = sd * stats.norm.pdf(z)
    return (
        float(mean * stats.norm.cdf(z) + density),
        float(density - mean * stats.norm.sf(z)),
    )


def _bayesian(point: float, variance: float, prior: Mapping | None, alpha: float) -> dict:
    """Chance to win, credible interval and risk from the posterior of the effect."""
    mean, sd = _posterior(point, variance, prior)
    low, high = stats.norm.ppf([alpha / 2, 1 - alpha / 2], mean, sd)
    risk_control, risk_treatment = _gaussian_risk(mean, sd)
    return {
        "lift": mean,
        "se": sd,
        "ci_low": float(low),
        "ci_high": float(high),
        "chance_to_win": float(stats.norm.cdf(mean / sd)),
        "risk": [risk_control, risk_treatment],
        "risk_control": risk_control,
        "risk_treatment": risk_treatment,
    }


def _refusal(a: _ArmStats, b: _ArmStats, engine: str, relative: bool) -> str | None:
    """GrowthBook's reason for not analysing these arms, or None.

    GrowthBook's frequentist test declines a zero control mean for absolute differences too.
    """
    if (relative or engine == "frequentist") and (a.mean == 0 or a.unadjusted_mean == 0):
        return BASELINE_ZERO_MESSAGE
    if engine == "bayesian" and (a.n == 0 or b.n == 0):
        return NO_UNITS_MESSAGE
    if a.variance <= 0 or b.variance <= 0:
        return ZERO_VARIANCE_MESSAGE
    return None


def _neutral(engine: str) -> dict:
    """GrowthBook's uninformative result for an analysis it declines."""
    result = {"lift": 0.0, "se": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    if engine == "frequentist":
        return {**result, "p_value": 1.0, "dof": None}
    return {
        **result,
        "chance_to_win": 0.5,
        "risk": [0.0, 0.0],
        "risk_control": 0.0,
        "risk_treatment": 0.0,
    }


def _validate(
    control: Mapping,
    treatment: Mapping,
    engine: str,
    metric_type: str,
    alpha: float,
    prior: Mapping | None,
    sequential_tuning: float | None,
) -> None:
    """Reject arguments outside the API."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"metric_type must be one of {METRIC_TYPES}, not {metric_type!r}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if sequential_tuning is not None and (engine != "frequentist" or sequential_tuning <= 0):
        raise ValueError("sequential_tuning must be a positive number, for the frequentist engine")
    if prior is not None and (engine != "bayesian" or not {"mean", "variance"} <= prior.keys()):
        raise ValueError("prior needs 'mean' and 'variance', for the bayesian engine")
    required = ["n", "sum"] if metric_type == "proportion" else ["n", "sum", "sum_squares"]
    if _has_pre(control) and metric_type == "mean":
        required.append("pre_sum_squares")
    for name, arm in (("control", control), ("treatment", treatment)):
        missing = [key for key in required if key not in arm]
        if missing:
            raise ValueError(f"{name} arm lacks {missing}")
    if _has_pre(control) != _has_pre(treatment):
        raise ValueError("pre-exposure sums must be given for both arms or for neither")


def analyze(
    control: Mapping,
    treatment: Mapping,
    engine: str = "frequentist",
    metric_type: str = "mean",
    relative: bool = True,
    alpha: float = 0.05,
    prior: Mapping | None = None,
    sequential_tuning: float | None = None,
) -> dict:
    """Compare ``treatment`` with ``control`` as GrowthBook (gbstats 0.8.0) does.

    Args:
        control, treatment: arm sums, see the module docstring; CUPED is applied when both
            carry ``pre_sum`` and ``sum_of_products``.
        engine: ``"frequentist"`` (Welch t-test) or ``"bayesian"`` (Gaussian effect model).
        metric_type: ``"mean"`` or ``"proportion"`` (``sum`` = conversions).
        relative: relative lift ``(treatment - control) / control`` if True, else the
            absolute difference of means.
        alpha: 1 - confidence (or credible) level of the interval.
        prior: Bayesian only: ``{"mean", "variance", "proper"}`` on the relative-lift scale
            (rescaled by the control mean for absolute analyses, as GrowthBook does); None,
            or ``proper=False``, means GrowthBook's flat prior.  ``proper`` defaults to True.
        sequential_tuning: frequentist only: run GrowthBook's sequential test with this
            tuning parameter (its default is ``DEFAULT_SEQUENTIAL_TUNING`` = 5000, the
            expected total number of units).

    Returns:
        ``control_mean``/``treatment_mean`` (unadjusted), ``control_stddev``/
        ``treatment_stddev`` (of the possibly CUPED-adjusted metric), ``cuped_theta`` (0
        without CUPED), ``lift`` (relative lift, or absolute difference when
        ``relative=False``; CUPED-adjusted; the posterior mean for Bayesian), ``se`` (its
        standard error or posterior standard deviation), ``ci_low``/``ci_high`` and
        ``error`` (GrowthBook's message when it declines the analysis, else None).
        Frequentist adds ``p_value`` (two-sided) and ``dof`` (Welch; None when
        sequential).  Bayesian adds ``chance_to_win`` (posterior P(effect > 0)),
        ``risk_control`` (expected loss of keeping control, E[max(effect, 0)]),
        ``risk_treatment`` (expected loss of shipping treatment, E[max(-effect, 0)]),
        ``risk`` = ``[risk_control, risk_treatment]`` in GrowthBook's order, and
        ``risk_type`` (``"relative"`` or ``"absolute"``, the scale of the risks).
    """
    _validate(control, treatment, engine, metric_type, alpha, prior, sequential_tuning)
    theta = cuped_theta(control, treatment, metric_type) if _has_pre(control) else 0.0
    a = _arm_stats(control, metric_type, theta)
    b = _arm_stats(treatment, metric_type, theta)
    result = {
        "engine": engine,
        "metric_type": metric_type,
        "relative": relative,
        "control_n": a.n,
        "treatment_n": b.n,
        "control_mean": a.unadjusted_mean,
        "treatment_mean": b.unadjusted_mean,
        "control_stddev": a.stddev,
        "treatment_stddev": b.stddev,
        "cuped_theta": theta,
        "error": _refusal(a, b, engine, relative),
    }
    if engine == "bayesian":
        result["risk_type"] = "relative" if relative else "absolute"
    if result["error"] is not None:
        return {**result, **_neutral(engine)}
    point, variance = _effect(a, b, relative)
    if engine == "bayesian":
        scaled_prior = _prior_on_scale(prior, relative, a.unadjusted_mean)
        return {**result, **_bayesian(point, variance, scaled_prior, alpha)}
    result.update(lift=point, se=math.sqrt(variance))
    if sequential_tuning is not None:
        return {
            **result,
            **_sequential(point, variance, a.n + b.n, alpha, sequential_tuning),
            "dof": None,
        }
    dof = _welch_dof(a, b)
    return {**result, **_fixed_horizon(point, variance, dof, alpha), "dof": dof}


def srm_p_value(observed_counts: Sequence[int], expected_weights: Sequence[float]) -> float:
    """Sample-ratio-mismatch p-value: chi-square goodness of fit of the arm sizes.

    As GrowthBook's ``check_srm``: 1 when there are no units; arms with a non-positive
    weight add nothing to the statistic but still count in the degrees of freedom.
    """
    counts = np.asarray(observed_counts, dtype=float)
    weights = np.asarray(expected_weights, dtype=float)
    if counts.shape != weights.shape:
        raise ValueError("one expected weight is needed per observed count")
    total = counts.sum()
    if total == 0:
        return 1.0
    kept = weights > 0
    expected = weights[kept] / weights.sum() * total
    statistic = float(np.sum((counts[kept] - expected) ** 2 / expected))
    return float(stats.chi2.sf(statistic, counts.size - 1))
