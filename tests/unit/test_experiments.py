"""A/B test statistics against GrowthBook's stats engine (gbstats 0.8.0) and scipy.

Three kinds of checks, each test naming its source:
1. the cases and expected numbers of gbstats 0.8.0's own test suite (its sdist's tests/);
2. gbstats's outputs on further inputs, stored in tests/data/growthbook/reference_cases.json
   by tests/data/growthbook/make_reference.py (run in a separate venv; gbstats is not a
   dependency of NEXUS);
3. hand and scipy computations on raw arrays built here.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nexus_pipelines.lib.analytics.experiments import (
    BASELINE_ZERO_MESSAGE,
    DEFAULT_SEQUENTIAL_TUNING,
    NO_UNITS_MESSAGE,
    ZERO_VARIANCE_MESSAGE,
    analyze,
    arm_from_values,
    cuped_theta,
    srm_p_value,
)

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "data" / "growthbook" / "reference_cases.json").read_text()
)

round5 = partial(np.round, decimals=5)  # gbstats's unit tests compare np.round(x, 5)
round9 = partial(np.round, decimals=9)  # gbstats's test_gbstats.py compares np.round(x, 9)


def _rounded(result: dict, keys: tuple[str, ...], rounder=round5) -> dict:
    """The result's numbers under ``keys`` rounded as gbstats's tests round them."""
    return {
        key: [rounder(x) for x in result[key]] if isinstance(result[key], list) else rounder(result[key])
        for key in keys
    }


# --- 1. gbstats 0.8.0's published test cases ---------------------------------------------

GB_MEAN_A = {"n": 3407, "sum": 1396.87, "sum_squares": 52377.9767}
GB_MEAN_B = {"n": 3461, "sum": 2422.7, "sum_squares": 134698.29}
GB_SEQ_A = {**GB_MEAN_A, "n": 3000}


def _frequentist_view(result: dict) -> dict:
    """``analyze`` output in the shape of gbstats's FrequentistTestResult."""
    return _rounded(
        {
            "expected": result["lift"],
            "ci": [result["ci_low"], result["ci_high"]],
            "stddev": result["se"],
            "p_value": result["p_value"],
        },
        ("expected", "ci", "stddev", "p_value"),
    )


def _bayesian_view(result: dict) -> dict:
    """``analyze`` output in the shape of gbstats's BayesianTestResult."""
    return _rounded(
        {
            "expected": result["lift"],
            "ci": [result["ci_low"], result["ci_high"]],
            "stddev": result["se"],
            "chance_to_win": result["chance_to_win"],
            "risk": result["risk"],
        },
        ("expected", "ci", "stddev", "chance_to_win", "risk"),
    )


def test_gbstats_two_sided_ttest():
    # gbstats 0.8.0 tests/frequentist/test_tests.py::TestTwoSidedTTest::test_two_sided_ttest
    result = analyze(GB_MEAN_A, GB_MEAN_B)
    assert _frequentist_view(result) == {
        "expected": round5((0.7 - 0.41) / 0.41),
        "ci": [-0.03526, 1.44989],
        "stddev": 0.37879,
        "p_value": 0.06191,
    }


def test_gbstats_two_sided_ttest_absolute():
    # gbstats 0.8.0 tests/frequentist/test_tests.py
    #   ::TestTwoSidedTTest::test_two_sided_ttest_absolute
    result = analyze(GB_MEAN_A, GB_MEAN_B, relative=False)
    assert _frequentist_view(result) == {
        "expected": round5(0.7 - 0.41),
        "ci": [0.04538, 0.53462],
        "stddev": 0.12478,
        "p_value": 0.02016,
    }


def test_gbstats_two_sided_ttest_binom():
    # gbstats 0.8.0 tests/frequentist/test_tests.py::TestTwoSidedTTest::test_two_sided_ttest_binom
    result = analyze({"n": 28, "sum": 14}, {"n": 30, "sum": 16}, metric_type="proportion")
    assert _frequentist_view(result) == {
        "expected": round5((16 / 30 - 0.5) / 0.5),
        "ci": [-0.47767, 0.61101],
        "stddev": 0.2717,
        "p_value": 0.80707,
    }


def test_gbstats_two_sided_ttest_missing_variance():
    # gbstats 0.8.0 tests/frequentist/test_tests.py
    #   ::TestTwoSidedTTest::test_two_sided_ttest_missing_variance
    # (the result equals the test's default output for ZERO_NEGATIVE_VARIANCE_MESSAGE)
    result = analyze({**GB_MEAN_A, "n": 2}, GB_MEAN_B)
    assert result["error"] == ZERO_VARIANCE_MESSAGE
    assert (
        result["lift"],
        result["ci_low"],
        result["ci_high"],
        result["se"],
        result["p_value"],
    ) == (0, 0, 0, 0, 1)


def test_gbstats_sequential_test_runs():
    # gbstats 0.8.0 tests/frequentist/test_tests.py::TestSequentialTTest::test_sequential_test_runs
    result = analyze(GB_SEQ_A, GB_MEAN_B, sequential_tuning=1000)
    assert _frequentist_view(result) == {
        "expected": 0.50336,
        "ci": [-0.55844, 1.56516],
        "stddev": 0.33341,
        "p_value": 1,
    }


def test_gbstats_sequential_test_runs_prop():
    # gbstats 0.8.0 tests/frequentist/test_tests.py
    #   ::TestSequentialTTest::test_sequential_test_runs_prop
    # (SequentialConfig() default tuning parameter, 5000)
    result = analyze(
        {"n": 3000, "sum": 1396},
        {"n": 3461, "sum": 2422},
        metric_type="proportion",
        sequential_tuning=DEFAULT_SEQUENTIAL_TUNING,
    )
    assert _frequentist_view(result) == {
        "expected": 0.50386,
        "ci": [0.40098, 0.60675],
        "stddev": 0.03386,
        "p_value": 0.0,
    }


def test_gbstats_sequential_test_runs_ra():
    # gbstats 0.8.0 tests/frequentist/test_tests.py
    #   ::TestSequentialTTest::test_sequential_test_runs_ra
    control = {**GB_SEQ_A, "pre_sum": 16.87, "pre_sum_squares": 527.9767, "sum_of_products": 1}
    treatment = {**GB_MEAN_B, "pre_sum": 22.7, "pre_sum_squares": 1348.29, "sum_of_products": 1}
    result = analyze(control, treatment, sequential_tuning=DEFAULT_SEQUENTIAL_TUNING)
    assert _frequentist_view(result) == {
        "expected": 0.50338,
        "ci": [-0.50969, 1.51646],
        "stddev": 0.33341,
        "p_value": 1,
    }


def test_gbstats_sequential_test_tuning_as_expected():
    # gbstats 0.8.0 tests/frequentist/test_tests.py
    #   ::TestSequentialTTest::test_sequential_test_tuning_as_expected
    below, near, above = (analyze(GB_SEQ_A, GB_MEAN_B, sequential_tuning=t) for t in (10, 6461, 10000))
    assert below["ci_low"] < above["ci_low"] and below["ci_high"] > above["ci_high"]
    assert below["ci_low"] < near["ci_low"] and below["ci_high"] > near["ci_high"]
    assert above["ci_low"] < near["ci_low"] and above["ci_high"] > near["ci_high"]


def test_gbstats_bayesian_binomial_ab_test():
    # gbstats 0.8.0 tests/bayesian/test_tests.py::TestBinom::test_bayesian_binomial_ab_test
    result = analyze(
        {"n": 100, "sum": 49}, {"n": 100, "sum": 51}, engine="bayesian", metric_type="proportion"
    )
    assert _bayesian_view(result) == {
        "expected": 0.04082,
        "ci": [-0.24779, 0.32943],
        "stddev": 0.14725,
        "chance_to_win": 0.60918,
        "risk": [0.0814, 0.04058],
    }
    assert result["risk_type"] == "relative"


@pytest.mark.parametrize(
    ("metric_type", "arm"),
    [("proportion", {"n": 0, "sum": 0}), ("mean", {"n": 0, "sum": 0, "sum_squares": 0})],
)
def test_gbstats_bayesian_missing_data(metric_type, arm):
    # gbstats 0.8.0 tests/bayesian/test_tests.py
    #   ::TestBinom::test_missing_data and TestNorm::test_missing_data
    result = analyze(arm, arm, engine="bayesian", metric_type=metric_type)
    assert result["chance_to_win"] == 0.5
    assert result["lift"] == 0


GB_NORM_A = {"n": 10, "sum": 100, "sum_squares": 1002.25}
GB_NORM_B = {"n": 10, "sum": 105, "sum_squares": 1111.5}


def test_gbstats_bayesian_gaussian_ab_test():
    # gbstats 0.8.0 tests/bayesian/test_tests.py::TestNorm::test_bayesian_gaussian_ab_test
    result = analyze(GB_NORM_A, GB_NORM_B, engine="bayesian")
    assert _bayesian_view(result) == {
        "expected": 0.05,
        "ci": [-0.02, 0.12],
        "stddev": 0.03572,
        "chance_to_win": 0.91923,
        "risk": [0.05131, 0.00131],
    }


def test_gbstats_bayesian_gaussian_ab_test_informative():
    # gbstats 0.8.0 tests/bayesian/test_tests.py
    #   ::TestNorm::test_bayesian_gaussian_ab_test_informative
    result = analyze(
        GB_NORM_A,
        GB_NORM_B,
        engine="bayesian",
        prior={"mean": 0.1, "variance": 0.1, "proper": True},
    )
    assert _bayesian_view(result) == {
        "expected": 0.05063,
        "ci": [-0.01893, 0.12019],
        "stddev": 0.03549,
        "chance_to_win": 0.92315,
        "risk": [0.05186, 0.00123],
    }


def test_gbstats_bayesian_effect_relative_effect():
    # gbstats 0.8.0 tests/bayesian/test_tests.py::TestGaussianEffectRelativeAbsolutePriors
    #   ::test_bayesian_effect_relative_effect (the prior, on the relative scale, is rescaled)
    control = {"n": 100, "sum": 1000, "sum_squares": 200000}
    treatment = {"n": 100, "sum": 1100, "sum_squares": 200005}
    prior = {"mean": 1, "variance": 1, "proper": True}
    absolute = analyze(control, treatment, engine="bayesian", relative=False, prior=prior)
    relative = analyze(control, treatment, engine="bayesian", relative=True, prior=prior)
    assert absolute["chance_to_win"] == pytest.approx(relative["chance_to_win"], abs=0.005)


SHARED_METRIC_1 = np.array([0.3, 0.5, 0.9, 22])
SHARED_METRIC_3 = np.array([2, 1, 5, 3])


def test_gbstats_sample_mean_statistic():
    # gbstats 0.8.0 tests/test_shared_models.py::TestSampleMeanStatistic::test_sample_mean_statistic
    arm = arm_from_values(SHARED_METRIC_1)
    result = analyze(arm, arm, relative=False)
    assert result["control_mean"] == np.mean(SHARED_METRIC_1)
    assert result["control_stddev"] ** 2 == pytest.approx(np.var(SHARED_METRIC_1, ddof=1), rel=1e-12)


def test_gbstats_compute_theta():
    # gbstats 0.8.0 tests/test_shared_models.py::TestComputeTheta::test_returns_0_no_variance
    # (METRIC_1 is the pre-exposure covariate, METRIC_3 the metric, in both arms)
    arm = arm_from_values(SHARED_METRIC_3, pre_values=SHARED_METRIC_1)
    assert round5(cuped_theta(arm, arm)) == 0.01864
    no_pre_variance = {**arm, "pre_sum": 0, "pre_sum_squares": 0}
    assert cuped_theta(no_pre_variance, no_pre_variance) == 0


# gbstats 0.8.0 tests/test_gbstats.py: MULTI_DIMENSION_STATISTICS_DF, dimension "one"
GB_DIM_CONTROL = {"n": 100, "sum": 270, "sum_squares": 848.79}
GB_DIM_TREATMENT = {"n": 120, "sum": 300, "sum_squares": 869}


def test_gbstats_analyze_metric_df_frequentist():
    # gbstats 0.8.0 tests/test_gbstats.py
    #   ::TestAnalyzeMetricDfFrequentist::test_get_metric_df_frequentist
    result = analyze(GB_DIM_CONTROL, GB_DIM_TREATMENT)
    assert _rounded(result, ("control_mean", "treatment_mean", "lift", "p_value"), round9) == {
        "control_mean": 2.7,
        "treatment_mean": 2.5,
        "lift": -0.074074074,
        "p_value": 0.145219005,
    }


def test_gbstats_analyze_metric_df_bayesian():
    # gbstats 0.8.0 tests/test_gbstats.py::TestAnalyzeMetricDfBayesian::test_get_metric_df_new
    # (v1_risk[1] is the treatment's risk; v1_prob_beat_baseline the chance to win)
    result = analyze(GB_DIM_CONTROL, GB_DIM_TREATMENT, engine="bayesian")
    assert _rounded(result, ("lift", "risk_treatment", "chance_to_win"), round9) == {
        "lift": -0.074074074,
        "risk_treatment": 0.075691131,
        "chance_to_win": 0.071834168,
    }


def test_gbstats_analyze_metric_df_sequential():
    # gbstats 0.8.0 tests/test_gbstats.py
    #   ::TestAnalyzeMetricDfSequential::test_analyze_metric_df_sequential
    result = analyze(GB_DIM_CONTROL, GB_DIM_TREATMENT, sequential_tuning=600)
    assert _rounded(result, ("lift", "p_value", "ci_low"), round9) == {
        "lift": -0.074074074,
        "p_value": 0.892332229,
        "ci_low": -0.233322085,
    }
    bad_tuning = analyze(GB_DIM_CONTROL, GB_DIM_TREATMENT, sequential_tuning=1)
    assert result["ci_low"] > bad_tuning["ci_low"]


def test_gbstats_analyze_metric_df_zero_val():
    # gbstats 0.8.0 tests/test_gbstats.py
    #   ::TestAnalyzeMetricDfFrequentist::test_get_metric_df_zero_val
    # (ONE_USER_DF; the runner's v1_expected of -0.85 is its own fallback, not the test's output)
    result = analyze({"n": 3, "sum": 20, "sum_squares": 443}, {"n": 1, "sum": 1, "sum_squares": 1})
    assert round9(result["control_mean"]) == 6.666666667
    assert result["treatment_mean"] == 1
    assert result["p_value"] == 1
    assert result["error"] == ZERO_VARIANCE_MESSAGE


# gbstats 0.8.0 tests/test_gbstats.py: RA_STATISTICS_DF (variation "zero" is the baseline)
GB_RA_CONTROL = {
    "n": 3001,
    "sum": 300,
    "sum_squares": 600,
    "pre_sum": 210,
    "pre_sum_squares": 415,
    "sum_of_products": -20,
}
GB_RA_TREATMENT = {
    "n": 3000,
    "sum": 222,
    "sum_squares": 555,
    "pre_sum": 120,
    "pre_sum_squares": 405,
    "sum_of_products": -10,
}


def test_gbstats_analyze_metric_df_ra():
    # gbstats 0.8.0 tests/test_gbstats.py
    #   ::TestAnalyzeMetricDfRegressionAdjustment::test_analyze_metric_df_ra
    result = analyze(GB_RA_CONTROL, GB_RA_TREATMENT)
    assert _rounded(result, ("control_mean", "treatment_mean", "lift", "p_value"), round9) == {
        "control_mean": 0.099966678,
        "treatment_mean": 0.074,
        "lift": -0.281707154,
        "p_value": 0.003736297,
    }


def test_gbstats_analyze_metric_df_ra_proportion():
    # gbstats 0.8.0 tests/test_gbstats.py::TestAnalyzeMetricDfRegressionAdjustment
    #   ::test_analyze_metric_df_ra_proportion (sums of squares are unused for proportions)
    result = analyze(GB_RA_CONTROL, GB_RA_TREATMENT, metric_type="proportion")
    assert _rounded(result, ("control_mean", "treatment_mean", "lift", "p_value"), round9) == {
        "control_mean": 0.099966678,
        "treatment_mean": 0.074,
        "lift": -0.316211568,
        "p_value": 0.00000035,
    }


# --- 2. gbstats run on further inputs (tests/data/growthbook/reference_cases.json) --------


def test_reference_data_comes_from_gbstats_0_8_0():
    # tests/data/growthbook/make_reference.py records the gbstats version it ran
    assert REFERENCE["gbstats_version"] == "0.8.0"
    assert len(REFERENCE["analyze_cases"]) >= 20


@pytest.mark.parametrize("case", REFERENCE["analyze_cases"], ids=lambda case: case["name"])
def test_matches_gbstats_reference(case):
    # gbstats 0.8.0 outputs generated by tests/data/growthbook/make_reference.py
    result = analyze(**case["args"])
    for key, expected in case["expected"].items():
        if isinstance(expected, (float, list)):
            # within 1e-6 absolutely, and relatively for the tiny p-values and risks
            assert result[key] == pytest.approx(expected, rel=0, abs=1e-6), key
            assert result[key] == pytest.approx(expected, rel=1e-6, abs=1e-12), key
        else:
            assert result[key] == expected, key


@pytest.mark.parametrize("case", REFERENCE["srm_cases"], ids=lambda case: str(case["observed_counts"]))
def test_srm_matches_gbstats_reference(case):
    # gbstats 0.8.0 check_srm outputs generated by tests/data/growthbook/make_reference.py
    assert srm_p_value(case["observed_counts"], case["expected_weights"]) == pytest.approx(
        case["p_value"], abs=1e-6
    )


# --- 3. hand and scipy checks on raw data ------------------------------------------------


@pytest.fixture(scope="module")
def raw_arms():
    """Skewed revenue-like values for a control and a treatment arm of unequal sizes."""
    rng = np.random.default_rng(7)
    control = rng.lognormal(3.0, 1.0, 700) * rng.binomial(1, 0.4, 700)
    treatment = rng.lognormal(3.1, 1.1, 820) * rng.binomial(1, 0.42, 820)
    return control, treatment


def test_absolute_welch_matches_scipy_ttest_ind(raw_arms):
    # scipy.stats.ttest_ind(equal_var=False) is the same Welch test on the raw values
    control, treatment = raw_arms
    result = analyze(arm_from_values(control), arm_from_values(treatment), relative=False, alpha=0.1)
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    interval = welch.confidence_interval(0.9)
    assert result["p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
    assert result["dof"] == pytest.approx(welch.df, rel=1e-9)
    assert result["lift"] == pytest.approx(treatment.mean() - control.mean(), rel=1e-12)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_relative_lift_uses_the_delta_method(raw_arms):
    # hand computation: Var(mean_b / mean_a) by the delta method, t quantile on Welch dof
    control, treatment = raw_arms
    result = analyze(arm_from_values(control), arm_from_values(treatment))
    m_a, m_b = control.mean(), treatment.mean()
    v_a, v_b = control.var(ddof=1) / control.size, treatment.var(ddof=1) / treatment.size
    se = np.sqrt(v_b / m_a**2 + v_a * m_b**2 / m_a**4)
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    assert result["lift"] == pytest.approx(m_b / m_a - 1, rel=1e-12)
    assert result["se"] == pytest.approx(se, rel=1e-9)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(m_b / m_a - 1) / se, welch.df), rel=1e-9)


def test_proportion_variance_is_p_times_one_minus_p():
    # hand computation: GrowthBook's proportion variance p(1 - p), no n/(n-1) correction
    result = analyze({"n": 400, "sum": 100}, {"n": 500, "sum": 150}, metric_type="proportion", relative=False)
    assert result["se"] == pytest.approx(np.sqrt(0.25 * 0.75 / 400 + 0.3 * 0.7 / 500), rel=1e-12)


def test_cuped_equals_welch_on_adjusted_values():
    # hand computation: CUPED lift and se are those of y - theta * x, theta = pooled OLS slope
    rng = np.random.default_rng(11)
    x_a, x_b = rng.normal(20, 5, 600), rng.normal(20, 5, 650)
    y_a, y_b = 0.9 * x_a + rng.normal(3, 2, 600), 0.9 * x_b + rng.normal(3.4, 2, 650)
    control, treatment = arm_from_values(y_a, x_a), arm_from_values(y_b, x_b)
    theta = np.polyfit(np.concatenate([x_a, x_b]), np.concatenate([y_a, y_b]), 1)[0]
    adjusted_a, adjusted_b = y_a - theta * x_a, y_b - theta * x_b
    result = analyze(control, treatment, relative=False)
    plain = analyze(
        {k: control[k] for k in ("n", "sum", "sum_squares")},
        {k: treatment[k] for k in ("n", "sum", "sum_squares")},
        relative=False,
    )
    welch = stats.ttest_ind(adjusted_b, adjusted_a, equal_var=False)
    assert result["cuped_theta"] == pytest.approx(theta, rel=1e-9)
    assert result["lift"] == pytest.approx(adjusted_b.mean() - adjusted_a.mean(), rel=1e-9)
    assert result["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert result["se"] < plain["se"] / 2
    assert result["control_mean"] == pytest.approx(y_a.mean(), rel=1e-12)


def test_bayesian_risks_differ_by_the_posterior_mean():
    # hand identity: E[max(D, 0)] - E[max(-D, 0)] = E[D]; flat prior: P(D > 0) = Phi(mean / sd)
    result = analyze(GB_DIM_CONTROL, GB_DIM_TREATMENT, engine="bayesian", relative=False)
    assert result["risk_control"] - result["risk_treatment"] == pytest.approx(result["lift"], abs=1e-12)
    assert result["chance_to_win"] == pytest.approx(stats.norm.cdf(result["lift"] / result["se"]), rel=1e-12)
    assert result["risk"] == [result["risk_control"], result["risk_treatment"]]
    assert result["risk_type"] == "absolute"


def test_sequential_interval_is_wider_than_fixed_horizon():
    # the always-valid interval pays for peeking: wider than the t interval on the same data
    fixed = analyze(GB_MEAN_A, GB_MEAN_B)
    sequential = analyze(GB_MEAN_A, GB_MEAN_B, sequential_tuning=5000)
    assert sequential["lift"] == fixed["lift"]
    assert sequential["ci_low"] < fixed["ci_low"] and sequential["ci_high"] > fixed["ci_high"]
    assert sequential["p_value"] >= fixed["p_value"]


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ([1000, 1000], [0.5, 0.5]),
        ([1000, 1200], [0.5, 0.5]),
        ([310, 290, 420], [0.3, 0.3, 0.4]),
        ([2000, 6150], [1, 3]),
    ],
)
def test_srm_matches_scipy_chisquare(counts, weights):
    # scipy.stats.chisquare with expected counts total * weight / sum(weights)
    expected = np.asarray(weights) / np.sum(weights) * np.sum(counts)
    assert srm_p_value(counts, weights) == pytest.approx(stats.chisquare(counts, expected).pvalue, rel=1e-12)


def test_srm_even_split_and_clear_mismatch():
    # hand cases: a perfect 50/50 split has no evidence of mismatch; 1000 vs 1200 has plenty
    assert srm_p_value([1000, 1000], [0.5, 0.5]) == pytest.approx(1.0)
    assert srm_p_value([1000, 1200], [0.5, 0.5]) < 0.001
    assert srm_p_value([0, 0], [0.5, 0.5]) == 1.0


def test_arm_from_values():
    # hand computation of the sufficient statistics
    assert arm_from_values([1, 0, 1, 1]) == {"n": 4, "sum": 3.0, "sum_squares": 3.0}
    assert arm_from_values([2.0, 3.0], pre_values=[1.0, 4.0]) == {
        "n": 2,
        "sum": 5.0,
        "sum_squares": 13.0,
        "pre_sum": 5.0,
        "pre_sum_squares": 17.0,
        "sum_of_products": 14.0,
    }
    with pytest.raises(ValueError):
        arm_from_values([1.0, 2.0], pre_values=[1.0])


def test_declined_analyses_return_growthbook_messages():
    # GrowthBook declines a zero control mean (relative) and an empty arm (Bayesian)
    zero = {"n": 50, "sum": 0}
    assert analyze(zero, {"n": 50, "sum": 5}, metric_type="proportion")["error"] == BASELINE_ZERO_MESSAGE
    empty = analyze(
        {"n": 50, "sum": 5},
        {"n": 0, "sum": 0},
        engine="bayesian",
        metric_type="proportion",
        relative=False,
    )
    assert empty["error"] == NO_UNITS_MESSAGE
    assert empty["chance_to_win"] == 0.5 and empty["risk"] == [0.0, 0.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"engine": "bootstrap"},
        {"metric_type": "ratio"},
        {"alpha": 1.5},
        {"engine": "bayesian", "sequential_tuning": 5000},
        {"sequential_tuning": 0},
        {"prior": {"mean": 0, "variance": 1}},
        {"engine": "bayesian", "prior": {"proper": True}},
    ],
)
def test_invalid_arguments_are_rejected(kwargs):
    # API contract: arguments outside the documented choices raise ValueError
    with pytest.raises(ValueError):
        analyze(GB_MEAN_A, GB_MEAN_B, **kwargs)


def test_arms_must_agree_on_cuped_and_carry_sums():
    # API contract: CUPED needs pre-exposure sums in both arms; mean metrics need sum_squares
    with pytest.raises(ValueError):
        analyze(GB_RA_CONTROL, GB_MEAN_B)
    with pytest.raises(ValueError):
        analyze({"n": 10, "sum": 4}, {"n": 10, "sum": 5})


# --- 4. the API contract: result keys, messages, edge cases ------------------------------

COMMON_KEYS = {
    "engine",
    "metric_type",
    "relative",
    "control_n",
    "treatment_n",
    "control_mean",
    "treatment_mean",
    "control_stddev",
    "treatment_stddev",
    "cuped_theta",
    "error",
    "lift",
    "se",
    "ci_low",
    "ci_high",
}
FREQUENTIST_KEYS = COMMON_KEYS | {"p_value", "dof"}
BAYESIAN_KEYS = COMMON_KEYS | {"chance_to_win", "risk", "risk_control", "risk_treatment", "risk_type"}


def test_results_carry_the_documented_keys_and_echo_the_arguments():
    fixed = analyze(GB_MEAN_A, GB_MEAN_B)
    assert fixed.keys() == FREQUENTIST_KEYS
    assert (fixed["engine"], fixed["metric_type"], fixed["relative"]) == ("frequentist", "mean", True)
    assert (fixed["control_n"], fixed["treatment_n"]) == (3407, 3461)
    assert fixed["treatment_stddev"] ** 2 == pytest.approx((134698.29 - 2422.7**2 / 3461) / 3460, rel=1e-12)
    sequential = analyze(GB_MEAN_A, GB_MEAN_B, sequential_tuning=DEFAULT_SEQUENTIAL_TUNING)
    assert sequential.keys() == FREQUENTIST_KEYS and sequential["dof"] is None
    bayes = analyze(
        {"n": 40, "sum": 10},
        {"n": 50, "sum": 20},
        engine="bayesian",
        metric_type="proportion",
        relative=False,
    )
    assert bayes.keys() == BAYESIAN_KEYS
    assert (bayes["engine"], bayes["metric_type"], bayes["relative"]) == ("bayesian", "proportion", False)
    assert bayes["risk_type"] == "absolute"


def test_declined_analyses_have_every_key_of_the_neutral_result():
    declined = analyze({"n": 50, "sum": 0}, {"n": 50, "sum": 5}, metric_type="proportion")
    assert declined.keys() == FREQUENTIST_KEYS
    assert (declined["p_value"], declined["dof"]) == (1.0, None)
    empty = analyze(
        {"n": 50, "sum": 5}, {"n": 0, "sum": 0}, engine="bayesian", metric_type="proportion", relative=False
    )
    assert empty.keys() == BAYESIAN_KEYS
    assert (empty["risk_control"], empty["risk_treatment"]) == (0.0, 0.0)
    assert (empty["lift"], empty["se"], empty["ci_low"], empty["ci_high"]) == (0.0, 0.0, 0.0, 0.0)
    # an arm without units has a mean of 0
    assert empty["treatment_mean"] == 0.0


def test_which_zero_control_means_are_declined():
    zero = {"n": 50, "sum": 0}
    some = {"n": 50, "sum": 5}
    proportion = partial(analyze, metric_type="proportion")
    # frequentist: also for an absolute difference; Bayesian: only for the relative lift
    assert proportion(zero, some, relative=False)["error"] == BASELINE_ZERO_MESSAGE
    assert proportion(zero, some, engine="bayesian")["error"] == BASELINE_ZERO_MESSAGE
    assert proportion(zero, some, engine="bayesian", relative=False)["error"] == ZERO_VARIANCE_MESSAGE
    # CUPED: an unadjusted control mean of 0 is declined even when the adjusted mean is not
    control = {"n": 50, "sum": 0, "pre_sum": 20, "sum_of_products": 0}
    treatment = {"n": 50, "sum": 10, "pre_sum": 20, "sum_of_products": 8}
    cuped = proportion(control, treatment)
    assert cuped["cuped_theta"] != 0
    assert cuped["error"] == BASELINE_ZERO_MESSAGE
    # a control mean of exactly 1 is a mean like any other
    ones = {"n": 4, "sum": 4, "sum_squares": 6}
    assert analyze(ones, {"n": 4, "sum": 6, "sum_squares": 12})["error"] is None


def test_a_single_unit_arm_has_no_variance_whatever_the_engine():
    single = {"n": 1, "sum": 3, "sum_squares": 9}
    other = {"n": 5, "sum": 10, "sum_squares": 30}
    assert analyze(single, other, engine="bayesian")["error"] == ZERO_VARIANCE_MESSAGE
    assert analyze(other, single)["error"] == ZERO_VARIANCE_MESSAGE


def test_two_units_give_the_sample_variance():
    result = analyze(arm_from_values([1.0, 3.0]), arm_from_values([2.0, 6.0, 7.0]), relative=False)
    assert result["control_stddev"] == pytest.approx(np.sqrt(2.0), rel=1e-12)
    assert result["error"] is None


def test_cuped_theta_by_hand_on_three_units():
    # pooled y = 0, 1, 2 (sample variance exactly 1), x = 1, 2, 4: cov 1.5, var(x) 7/3
    control = arm_from_values([0.0, 1.0], pre_values=[1.0, 2.0])
    treatment = arm_from_values([2.0], pre_values=[4.0])
    assert cuped_theta(control, treatment) == pytest.approx(9 / 14, rel=1e-12)
    # two units: cov(x, y) = 1, var(x) = 1/2
    pair = (arm_from_values([1.0], pre_values=[1.0]), arm_from_values([3.0], pre_values=[2.0]))
    assert cuped_theta(*pair) == pytest.approx(2.0, rel=1e-12)


def test_cuped_with_a_one_unit_or_two_unit_arm():
    rng = np.random.default_rng(5)
    x_a = rng.normal(10, 2, 30)
    y_a = x_a + rng.normal(0, 1, 30)
    control = arm_from_values(y_a, pre_values=x_a)
    one = analyze(control, arm_from_values([12.0], pre_values=[11.0]), relative=False)
    assert one["cuped_theta"] != 0
    assert one["error"] == ZERO_VARIANCE_MESSAGE
    x_b, y_b = np.array([9.0, 13.0]), np.array([10.0, 15.0])
    two = analyze(control, arm_from_values(y_b, pre_values=x_b), relative=False)
    theta = two["cuped_theta"]
    assert theta == pytest.approx(
        np.polyfit(np.concatenate([x_a, x_b]), np.concatenate([y_a, y_b]), 1)[0], rel=1e-9
    )
    assert two["error"] is None
    assert two["treatment_stddev"] == pytest.approx(np.std(y_b - theta * x_b, ddof=1), rel=1e-9)


def test_cuped_proportions_need_no_sums_of_squares():
    control = {"n": 100, "sum": 30, "pre_sum": 25, "sum_of_products": 20}
    treatment = {"n": 100, "sum": 40, "pre_sum": 28, "sum_of_products": 25}
    # pooled: p = 0.35, pre p = 0.265, cov = (45 - 53 * 70 / 200) / 199
    theta = cuped_theta(control, treatment, "proportion")
    assert theta == pytest.approx(((45 - 53 * 70 / 200) / 199) / (0.265 * 0.735), rel=1e-12)
    # a sum of squares in one arm only is not used
    assert cuped_theta({**control, "pre_sum_squares": 25}, treatment, "proportion") == theta
    assert analyze(control, treatment, metric_type="proportion")["cuped_theta"] == theta


def test_a_prior_without_proper_is_proper():
    prior = {"mean": 0.1, "variance": 0.1}
    informative = analyze(GB_NORM_A, GB_NORM_B, engine="bayesian", prior=prior)
    flat = analyze(GB_NORM_A, GB_NORM_B, engine="bayesian")
    assert informative == analyze(GB_NORM_A, GB_NORM_B, engine="bayesian", prior={**prior, "proper": True})
    assert informative["lift"] != flat["lift"]
    assert analyze(GB_NORM_A, GB_NORM_B, engine="bayesian", prior={**prior, "proper": False}) == flat


def test_boolean_values_count_as_zero_and_one():
    assert arm_from_values([True, True, False]) == {"n": 3, "sum": 2.0, "sum_squares": 2.0}
    arm = arm_from_values([1.0, 2.0], pre_values=[True, True])
    assert (arm["pre_sum"], arm["pre_sum_squares"], arm["sum_of_products"]) == (2.0, 2.0, 3.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "bootstrap"}, "engine must be one of ('frequentist', 'bayesian'), not 'bootstrap'"),
        ({"metric_type": "ratio"}, "metric_type must be one of ('mean', 'proportion'), not 'ratio'"),
        ({"alpha": 0}, "alpha must be between 0 and 1"),
        ({"alpha": 1}, "alpha must be between 0 and 1"),
        (
            {"sequential_tuning": -1.0},
            "sequential_tuning must be a positive number, for the frequentist engine",
        ),
        (
            {"engine": "bayesian", "prior": {"mean": 0}},
            "prior needs 'mean' and 'variance', for the bayesian engine",
        ),
    ],
)
def test_invalid_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError) as error:
        analyze(GB_MEAN_A, GB_MEAN_B, **kwargs)
    assert str(error.value) == message


def test_a_prior_with_exactly_mean_and_variance_is_accepted():
    result = analyze(GB_NORM_A, GB_NORM_B, engine="bayesian", prior={"mean": 0.0, "variance": 1.0})
    assert result["error"] is None


def test_missing_sums_are_named_per_arm():
    with pytest.raises(ValueError) as control:
        analyze({"n": 10, "sum": 4}, {"n": 10, "sum": 5, "sum_squares": 9})
    assert str(control.value) == "control arm lacks ['sum_squares']"
    with pytest.raises(ValueError) as treatment:
        analyze({"n": 10, "sum": 4, "sum_squares": 9}, {"n": 10, "sum": 5})
    assert str(treatment.value) == "treatment arm lacks ['sum_squares']"
    # a CUPED mean metric needs the covariate's sum of squares
    cuped = {"n": 10, "sum": 4, "sum_squares": 9, "pre_sum": 3, "sum_of_products": 2}
    with pytest.raises(ValueError) as pre:
        analyze(cuped, cuped)
    assert str(pre.value) == "control arm lacks ['pre_sum_squares']"
    with pytest.raises(ValueError) as one_sided:
        analyze(GB_MEAN_A, {**cuped, "pre_sum_squares": 4})
    assert str(one_sided.value) == "pre-exposure sums must be given for both arms or for neither"
    with pytest.raises(ValueError) as theta:
        cuped_theta(cuped, cuped)
    assert str(theta.value) == "a mean metric needs the sum of squares for its variance"


def test_other_messages():
    with pytest.raises(ValueError) as pre:
        arm_from_values([1.0, 2.0], pre_values=[1.0])
    assert str(pre.value) == "pre_values must have one value per unit of values"
    with pytest.raises(ValueError) as srm:
        srm_p_value([10, 20], [0.5, 0.3, 0.2])
    assert str(srm.value) == "one expected weight is needed per observed count"
