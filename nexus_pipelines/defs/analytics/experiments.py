"""experiment_results: A/B test results per experiment x variation x metric x engine."""

import datetime as dt

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset

from ...lib.analytics.charts import grouped_bar_png
from ...lib.analytics.experiments import ENGINES, analyze, srm_p_value
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource
from .metadata import chart, preview
from .queries import load_sql
from .tables import Table, analytics_schema, model

CONTROL_NAME = "control"
# metric -> (metric_type, arm sums, CUPED covariate sums)
METRICS = {
    "conversion": (
        "proportion",
        {"n": "users", "sum": "converted"},
        {
            "pre_sum": "converted_before",
            "pre_sum_squares": "converted_before",
            "sum_of_products": "converted_both",
        },
    ),
    "revenue_per_user": (
        "mean",
        {"n": "users", "sum": "revenue_sum", "sum_squares": "revenue_sum_squares"},
        {
            "pre_sum": "pre_revenue_sum",
            "pre_sum_squares": "pre_revenue_sum_squares",
            "sum_of_products": "revenue_sum_of_products",
        },
    ),
}
COLUMN_TYPES = {
    "experiment_id": "text",
    "variation_id": "text",
    "is_control": "boolean",
    "metric": "text",
    "metric_type": "text",
    "engine": "text",
    "users": "bigint",
    "numerator": "double precision",
    "mean": "double precision",
    "control_mean": "double precision",
    "abs_lift": "double precision",
    "lift": "double precision",
    "ci_low": "double precision",
    "ci_high": "double precision",
    "p_value": "double precision",
    "chance_to_win": "double precision",
    "risk": "double precision",
    "cuped_lift": "double precision",
    "srm_p_value": "double precision",
    "multi_variation_users": "bigint",
    "first_exposed_at": "timestamptz",
    "last_exposed_at": "timestamptz",
    "error": "text",
    "computed_at": "timestamptz",
}
EXPERIMENT_RESULTS = Table(
    "experiment_results",
    COLUMN_TYPES,
    "A/B test results per experiment x variation x metric (conversion, revenue per user) "
    "x engine (frequentist, bayesian): lift, interval, p-value, chance to win, risk, CUPED lift and "
    "sample-ratio-mismatch p-value.",
    indexes=(("experiment_id",),),
)


class ExperimentConfig(Config):
    alpha: float = 0.05  # 1 - confidence (credible) level of the intervals


def control_of(variations: list[str]) -> str:
    """The variation named "control", else the first alphabetically."""
    return CONTROL_NAME if CONTROL_NAME in variations else sorted(variations)[0]


def arm(row: pd.Series, fields: dict[str, str]) -> dict:
    return {key: float(row[column]) for key, column in fields.items()}


def experiment_rows(arms: pd.DataFrame, alpha: float, computed_at: dt.datetime) -> list[dict]:
    """Result rows of one experiment (``arms``: its rows of experiment_arms.sql)."""
    arms = arms.set_index("variation_id", drop=False)
    variations = sorted(arms.index)
    control_id = control_of(variations)
    control = arms.loc[control_id]
    srm = srm_p_value([int(arms.loc[v, "users"]) for v in variations], [1.0] * len(variations))
    rows = []
    for metric, (metric_type, fields, pre_fields) in METRICS.items():
        has_pre = float(arms[pre_fields["pre_sum"]].sum()) > 0
        control_mean = float(control[fields["sum"]]) / float(control["users"])
        for variation in variations:
            row = arms.loc[variation]
            base = {
                "experiment_id": row["experiment_id"],
                "variation_id": variation,
                "is_control": variation == control_id,
                "metric": metric,
                "metric_type": metric_type,
                "users": int(row["users"]),
                "numerator": float(row[fields["sum"]]),
                "mean": float(row[fields["sum"]]) / float(row["users"]),
                "control_mean": control_mean,
                "srm_p_value": srm,
                "multi_variation_users": int(row["multi_variation_users"]),
                "first_exposed_at": row["first_exposed_at"],
                "last_exposed_at": row["last_exposed_at"],
                "computed_at": computed_at,
            }
            for engine in ENGINES:
                rows.append(
                    {
                        **base,
                        "engine": engine,
                        **_compare(
                            control,
                            row,
                            variation == control_id,
                            engine,
                            metric_type,
                            fields,
                            pre_fields,
                            has_pre,
                            alpha,
                        ),
                    }
                )
    return rows


def _compare(control, row, is_control, engine, metric_type, fields, pre_fields, has_pre, alpha) -> dict:
    """Lift, interval, p-value or chance to win and risk of one variation against control."""
    if is_control:
        return {}
    a, b = arm(control, fields), arm(row, fields)
    result = analyze(a, b, engine=engine, metric_type=metric_type, relative=True, alpha=alpha)
    out = {
        "abs_lift": b["sum"] / b["n"] - a["sum"] / a["n"],
        "lift": result["lift"],
        "ci_low": result["ci_low"],
        "ci_high": result["ci_high"],
        "p_value": result.get("p_value"),
        "chance_to_win": result.get("chance_to_win"),
        "risk": result.get("risk_treatment"),
        "error": result["error"],
    }
    if has_pre:
        adjusted = analyze(
            {**a, **arm(control, pre_fields)},
            {**b, **arm(row, pre_fields)},
            engine=engine,
            metric_type=metric_type,
            relative=True,
            alpha=alpha,
        )
        out["cuped_lift"] = adjusted["lift"] if adjusted["error"] is None else None
    return out


def results_table(arms: pd.DataFrame, alpha: float, computed_at: dt.datetime) -> pd.DataFrame:
    rows = [
        r
        for _, group in arms.groupby("experiment_id", sort=True)
        for r in experiment_rows(group, alpha, computed_at)
    ]
    return pd.DataFrame(rows).reindex(columns=list(COLUMN_TYPES))


def _lift_chart(results: pd.DataFrame, alpha: float) -> MetadataValue:
    treated = results[~results["is_control"].astype(bool)]
    labels = sorted({(r.experiment_id, r.variation_id, r.metric) for r in treated.itertuples()})
    series, intervals = {}, {}
    for engine in ENGINES:
        rows = treated[treated["engine"] == engine].set_index(["experiment_id", "variation_id", "metric"])
        rows = rows.reindex(labels)
        series[engine] = (rows["lift"] * 100).tolist()
        intervals[engine] = ((rows["ci_low"] * 100).tolist(), (rows["ci_high"] * 100).tolist())
    png = grouped_bar_png(
        [f"{m} · {v}" if len({e for e, _, _ in labels}) == 1 else f"{e}: {m} · {v}" for e, v, m in labels],
        series,
        f"Relative lift vs control (%) with {100 * (1 - alpha):g}% interval",
        ylabel="lift (%)",
        intervals=intervals,
    )
    return chart(png, "relative lift with intervals")


@multi_asset(
    specs=[
        EXPERIMENT_RESULTS.spec(
            [model("stg_events__tracks"), model("int_identity_map"), model("fct_orders_web")]
        )
    ],
    name="experiment_results",
)
def experiment_results(
    context: AssetExecutionContext, config: ExperimentConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    if not 0 < config.alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    arms = read_frame(warehouse.url, load_sql("experiment_arms"))
    computed_at = dt.datetime.now(dt.UTC)
    table = (
        results_table(arms, config.alpha, computed_at)
        if len(arms)
        else pd.DataFrame(columns=list(COLUMN_TYPES))
    )
    rows = replace_table(
        warehouse.url,
        analytics_schema(),
        EXPERIMENT_RESULTS.name,
        table,
        EXPERIMENT_RESULTS.columns,
        indexes=EXPERIMENT_RESULTS.indexes,
    )
    srm = table.groupby("experiment_id")["srm_p_value"].first() if rows else pd.Series(dtype=float)
    shown = table[table["engine"] == "frequentist"][
        ["experiment_id", "variation_id", "metric", "users", "mean", "lift", "ci_low", "ci_high", "p_value"]
    ]
    first, last = (
        (arms["first_exposed_at"].min(), arms["last_exposed_at"].max()) if len(arms) else (None, None)
    )
    return MaterializeResult(
        metadata={
            "row_count": MetadataValue.int(rows),
            "date_range": MetadataValue.text(f"{first} .. {last}" if rows else "empty"),
            "preview": preview(shown),
            "experiments": MetadataValue.int(int(arms["experiment_id"].nunique()) if len(arms) else 0),
            "srm_p_values": MetadataValue.md(
                srm.round(4).to_frame().to_markdown() if len(srm) else "no experiments"
            ),
            "lift_chart": _lift_chart(table, config.alpha) if rows else MetadataValue.md("no experiments"),
        }
    )
