"""Write reference_cases.json: GrowthBook's own results on a set of A/B test inputs.

gbstats is not a dependency of NEXUS (it pins numpy<2); run this script in a separate
virtual environment only:

    python3 -m venv /tmp/gbstats-venv
    /tmp/gbstats-venv/bin/pip install gbstats==0.8.0
    /tmp/gbstats-venv/bin/python tests/data/growthbook/make_reference.py

Each case is stated in the argument form of ``nexus_pipelines.lib.analytics.experiments``
(``analyze`` / ``srm_p_value``) and mapped here onto gbstats's statistics and tests the way
GrowthBook's analysis runner does.  tests/unit/test_experiments.py reads the JSON.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np
import scipy
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

OUT = Path(__file__).with_name("reference_cases.json")


def arm(values, pre_values=None) -> dict:
    """Sums of one arm from per-unit values (same fields as ``arm_from_values``)."""
    y = np.asarray(values, dtype=float)
    result = {"n": int(y.size), "sum": float(y.sum()), "sum_squares": float(y @ y)}
    if pre_values is not None:
        x = np.asarray(pre_values, dtype=float)
        result.update(pre_sum=float(x.sum()), pre_sum_squares=float(x @ x), sum_of_products=float(x @ y))
    return result


def conversions(values) -> dict:
    """Units and conversions of one arm of a proportion metric."""
    return {"n": len(values), "sum": int(np.sum(values))}


def make_inputs() -> list[dict]:
    """The analysed cases, from seeded random data."""
    rng = np.random.default_rng(20240601)
    conv_a, conv_b = rng.binomial(1, 0.10, 4000), rng.binomial(1, 0.115, 4100)
    rev_a = rng.gamma(2.0, 15.0, 900) * rng.binomial(1, 0.6, 900)
    rev_b = rng.gamma(2.0, 16.0, 950) * rng.binomial(1, 0.6, 950)
    pre_a, pre_b = rng.normal(50, 10, 1500), rng.normal(50, 10, 1450)
    post_a = 0.8 * pre_a + rng.normal(10, 6, 1500)
    post_b = 0.8 * pre_b + rng.normal(11, 6, 1450)
    pconv_a, pconv_b = rng.binomial(1, 0.3, 2000), rng.binomial(1, 0.3, 2100)
    pc_a = np.where(rng.random(2000) < 0.7, pconv_a, rng.binomial(1, 0.3, 2000))
    pc_b = np.where(rng.random(2100) < 0.7, pconv_b, rng.binomial(1, 0.33, 2100))
    big_a, big_b = rng.binomial(1, 0.2, 50000), rng.binomial(1, 0.19, 50000)

    prop = {
        "control": conversions(conv_a),
        "treatment": conversions(conv_b),
        "metric_type": "proportion",
    }
    mean = {"control": arm(rev_a), "treatment": arm(rev_b), "metric_type": "mean"}
    cuped = {"control": arm(post_a, pre_a), "treatment": arm(post_b, pre_b), "metric_type": "mean"}
    cuped_prop = {
        "control": arm(pconv_a, pc_a),
        "treatment": arm(pconv_b, pc_b),
        "metric_type": "proportion",
    }
    big = {
        "control": conversions(big_a),
        "treatment": conversions(big_b),
        "metric_type": "proportion",
    }
    zero = {
        "control": {"n": 500, "sum": 0},
        "treatment": {"n": 510, "sum": 7},
        "metric_type": "proportion",
    }
    informative = {"mean": 0.02, "variance": 0.05**2, "proper": True}

    cases = [
        ("proportion, frequentist, relative", prop, {}),
        ("proportion, frequentist, absolute", prop, {"relative": False}),
        ("mean, frequentist, relative", mean, {}),
        ("mean, frequentist, absolute, alpha 0.1", mean, {"relative": False, "alpha": 0.1}),
        ("mean, sequential 5000, relative", mean, {"sequential_tuning": 5000}),
        (
            "proportion, sequential 1000, absolute",
            prop,
            {"relative": False, "sequential_tuning": 1000},
        ),
        ("proportion, sequential 20000, relative", big, {"sequential_tuning": 20000}),
        ("proportion, bayesian, relative", prop, {"engine": "bayesian"}),
        ("proportion, bayesian, absolute", prop, {"engine": "bayesian", "relative": False}),
        ("mean, bayesian, relative", mean, {"engine": "bayesian"}),
        (
            "mean, bayesian, absolute, alpha 0.1",
            mean,
            {"engine": "bayesian", "relative": False, "alpha": 0.1},
        ),
        (
            "mean, bayesian, relative, proper prior",
            mean,
            {"engine": "bayesian", "prior": informative},
        ),
        (
            "proportion, bayesian, absolute, proper prior",
            prop,
            {"engine": "bayesian", "relative": False, "prior": informative},
        ),
        (
            "mean, bayesian, improper prior",
            mean,
            {"engine": "bayesian", "prior": {**informative, "proper": False}},
        ),
        ("proportion, large negative effect, frequentist", big, {}),
        ("proportion, large negative effect, bayesian", big, {"engine": "bayesian"}),
        ("mean, CUPED, frequentist, relative", cuped, {}),
        ("mean, CUPED, frequentist, absolute", cuped, {"relative": False}),
        ("mean, CUPED, sequential 5000, relative", cuped, {"sequential_tuning": 5000}),
        ("mean, CUPED, bayesian, relative", cuped, {"engine": "bayesian"}),
        ("proportion, CUPED, frequentist, relative", cuped_prop, {}),
        (
            "proportion, CUPED, bayesian, absolute",
            cuped_prop,
            {"engine": "bayesian", "relative": False},
        ),
        ("proportion, zero control, frequentist", zero, {}),
        (
            "proportion, zero control, bayesian, absolute",
            zero,
            {"engine": "bayesian", "relative": False},
        ),
    ]
    return [{"name": name, "args": {**data, **options}} for name, data, options in cases]


def statistic(arm_sums: dict, metric_type: str):
    """The gbstats statistic of one arm, regression-adjusted when it has pre-exposure sums."""
    if metric_type == "proportion":
        post = ProportionStatistic(n=arm_sums["n"], sum=arm_sums["sum"])
    else:
        post = SampleMeanStatistic(n=arm_sums["n"], sum=arm_sums["sum"], sum_squares=arm_sums["sum_squares"])
    if "pre_sum" not in arm_sums:
        return post
    if metric_type == "proportion":
        pre = ProportionStatistic(n=arm_sums["n"], sum=arm_sums["pre_sum"])
    else:
        pre = SampleMeanStatistic(
            n=arm_sums["n"], sum=arm_sums["pre_sum"], sum_squares=arm_sums["pre_sum_squares"]
        )
    return RegressionAdjustedStatistic(
        n=arm_sums["n"],
        post_statistic=post,
        pre_statistic=pre,
        post_pre_sum_of_products=arm_sums["sum_of_products"],
        theta=0,
    )


def gbstats_test(args: dict):
    """The configured gbstats test for one case, as GrowthBook's runner builds it."""
    stat_a = statistic(args["control"], args["metric_type"])
    stat_b = statistic(args["treatment"], args["metric_type"])
    common = {
        "difference_type": "relative" if args.get("relative", True) else "absolute",
        "alpha": args.get("alpha", 0.05),
    }
    if args.get("engine", "frequentist") == "bayesian":
        prior = args.get("prior") or {"mean": 0, "variance": 1, "proper": False}
        config = EffectBayesianConfig(**common, prior_effect=GaussianPrior(**prior), prior_type="relative")
        return EffectBayesianABTest(stat_a, stat_b, config)
    if args.get("sequential_tuning") is not None:
        config = SequentialConfig(**common, sequential_tuning_parameter=args["sequential_tuning"])
        return SequentialTwoSidedTTest(stat_a, stat_b, config)
    return TwoSidedTTest(stat_a, stat_b, FrequentistConfig(**common))


def expected_output(args: dict) -> dict:
    """gbstats's numbers for one case, under the names ``analyze`` returns."""
    test = gbstats_test(args)
    result = asdict(test.compute_result())
    output = {
        "lift": result["expected"],
        "ci_low": result["ci"][0],
        "ci_high": result["ci"][1],
        "se": result["uplift"]["stddev"],
        "error": result["error_message"],
        "control_mean": test.stat_a.unadjusted_mean,
        "treatment_mean": test.stat_b.unadjusted_mean,
    }
    if "p_value" in result:
        output["p_value"] = result["p_value"]
        if not isinstance(test, SequentialTwoSidedTTest) and result["error_message"] is None:
            output["dof"] = test.dof
    else:
        output.update(
            chance_to_win=result["chance_to_win"],
            risk=result["risk"],
            risk_type=result["risk_type"],
        )
    if isinstance(test.stat_a, RegressionAdjustedStatistic):
        output["cuped_theta"] = test.stat_a.theta
    return {
        key: float(value) if isinstance(value, (np.floating, np.integer)) else value
        for key, value in output.items()
    }


def srm_cases() -> list[dict]:
    """Sample-ratio-mismatch inputs and gbstats's ``check_srm`` p-values."""
    inputs = [
        ([1000, 1000], [0.5, 0.5]),
        ([1000, 1200], [0.5, 0.5]),
        ([5010, 4890], [0.5, 0.5]),
        ([3300, 3350, 3410], [1, 1, 1]),
        ([2000, 6150], [0.25, 0.75]),
        ([1020, 980, 15], [0.5, 0.5, 0.0]),
        ([0, 0], [0.5, 0.5]),
    ]
    return [
        {
            "observed_counts": counts,
            "expected_weights": weights,
            "p_value": float(check_srm(counts, weights)),
        }
        for counts, weights in inputs
    ]


def main() -> None:
    cases = [{**case, "expected": expected_output(case["args"])} for case in make_inputs()]
    document = {
        "source": "GrowthBook stats engine (gbstats), run by make_reference.py",
        "gbstats_version": importlib.metadata.version("gbstats"),
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "python_version": platform.python_version(),
        "analyze_cases": cases,
        "srm_cases": srm_cases(),
    }
    OUT.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(cases)} analyze cases and {len(document['srm_cases'])} srm cases to {OUT}")


if __name__ == "__main__":
    main()
