"""clv_model and customer_ltv: BG/NBD + Gamma-Gamma churn and lifetime value of web customers.

clv_model fits the models on the RFM summary of every identified customer and appends the
parameters to analytics.clv_model_params (history kept, one set per fitted_at), with a
calibration-vs-holdout accuracy report in analytics.clv_calibration. customer_ltv scores every
customer with the latest parameters into analytics.customer_ltv.
"""

import datetime as dt
from collections.abc import Iterator

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset

from ...lib.analytics.charts import bar_png, grouped_bar_png
from ...lib.analytics.clv import (
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    calibration_holdout,
    churn_risk_segment,
    customer_lifetime_value,
    fit_bgnbd,
    fit_gamma_gamma,
)
from ...lib.warehouse.frames import read_frame, replace_table
from ..resources import WarehouseResource
from .engagement import USER_ENGAGEMENT
from .metadata import chart, preview, table_metadata
from .queries import load_sql
from .tables import Table, analytics_schema, model

MIN_HOLDOUT_DAYS = 7
PARAM_TYPES = {
    "fitted_at": "timestamptz",
    "model": "text",
    "parameter": "text",
    "value": "double precision",
    "log_likelihood": "double precision",
    "n_customers": "integer",
    "observation_end": "date",
    "time_unit": "text",
}
CALIBRATION_TYPES = {
    "fitted_at": "timestamptz",
    "calibration_end": "date",
    "observation_end": "date",
    "holdout_days": "integer",
    "calibration_frequency": "text",
    "n_customers": "integer",
    "actual_mean": "double precision",
    "predicted_mean": "double precision",
    "mae": "double precision",
}
LTV_TYPES = {
    "user_id": "text",
    "first_order_date": "date",
    "last_order_date": "date",
    "orders": "integer",
    "total_revenue": "double precision",
    "frequency": "integer",
    "recency_days": "double precision",
    "t_days": "double precision",
    "monetary_value": "double precision",
    "p_alive": "double precision",
    "expected_purchases_30d": "double precision",
    "expected_purchases_90d": "double precision",
    "expected_purchases_365d": "double precision",
    "expected_order_value": "double precision",
    "clv_12m": "double precision",
    "churn_risk": "text",
    "engagement_score": "double precision",
    "engagement_tier": "text",
    "observation_end": "date",
    "fitted_at": "timestamptz",
}

CLV_MODEL_PARAMS = Table(
    "clv_model_params",
    PARAM_TYPES,
    "BG/NBD and Gamma-Gamma parameters of every fit (history kept, one set per fitted_at), fitted on "
    "the RFM summary of identified web customers (days).",
    indexes=(("fitted_at",),),
)
CLV_CALIBRATION = Table(
    "clv_calibration",
    CALIBRATION_TYPES,
    "Calibration vs holdout accuracy of each clv_model fit, per calibration frequency.",
    indexes=(("fitted_at",),),
)
CUSTOMER_LTV = Table(
    "customer_ltv",
    LTV_TYPES,
    "Per identified web customer: P(alive), expected purchases in 30/90/365 days, expected order value, "
    "discounted 12-month CLV, churn-risk segment and engagement score, with the parameters of the "
    "latest clv_model fit.",
    indexes=(("user_id",), ("churn_risk",)),
)


class ClvModelConfig(Config):
    holdout_days: int = (
        60  # calibration/holdout report: the last days held out (capped at a third of the history)
    )


class CustomerLtvConfig(Config):
    months: int = 12  # CLV horizon in months of 30 days
    discount_rate_monthly: float = 0.01  # monthly discount rate of the CLV


def effective_holdout_days(requested: int, first_day: dt.date, observation_end: dt.date) -> int:
    """The requested holdout, capped at a third of the observed history (whole days)."""
    return min(requested, (observation_end - first_day).days // 3)


def ensure_params_table(url: str) -> None:
    """Create analytics.clv_model_params if missing, changing nothing else (for customer_ltv to read)."""
    empty = pd.DataFrame({column: pd.Series(dtype=object) for column in PARAM_TYPES})
    replace_table(
        url,
        analytics_schema(),
        CLV_MODEL_PARAMS.name,
        empty,
        PARAM_TYPES,
        where=("false", ()),
        indexes=CLV_MODEL_PARAMS.indexes,
    )


def param_rows(
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel,
    summary: pd.DataFrame,
    fitted_at: dt.datetime,
    observation_end: dt.date,
) -> pd.DataFrame:
    """One row per model x parameter."""
    repeaters = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
    rows = [
        ("bgnbd", name, value, bgnbd.log_likelihood, len(summary)) for name, value in bgnbd.params.items()
    ]
    rows += [("gamma_gamma", name, value, gg.log_likelihood, repeaters) for name, value in gg.params.items()]
    frame = pd.DataFrame(rows, columns=["model", "parameter", "value", "log_likelihood", "n_customers"])
    return frame.assign(fitted_at=fitted_at, observation_end=observation_end, time_unit="days")[
        list(PARAM_TYPES)
    ]


def calibration_report(
    days: pd.DataFrame, observation_end: dt.date, holdout_days: int, fitted_at: dt.datetime
) -> pd.DataFrame:
    """calibration_holdout on the customer-day transactions, as table rows."""
    calibration_end = observation_end - dt.timedelta(days=holdout_days)
    _, report = calibration_holdout(days, "user_id", "order_date", calibration_end, observation_end)
    report = report.reset_index()
    return report.assign(
        fitted_at=fitted_at,
        calibration_end=calibration_end,
        observation_end=observation_end,
        holdout_days=holdout_days,
    )[list(CALIBRATION_TYPES)]


def _calibration_chart(report: pd.DataFrame) -> MetadataValue:
    buckets = report[report["calibration_frequency"] != "all"]
    png = grouped_bar_png(
        list(buckets["calibration_frequency"]),
        {"actual": buckets["actual_mean"].tolist(), "predicted": buckets["predicted_mean"].tolist()},
        "Holdout purchases per customer by calibration frequency",
        ylabel="mean purchases in holdout",
    )
    return chart(png, "actual vs predicted holdout purchases")


def _calibration(
    context: AssetExecutionContext,
    url: str,
    summary: pd.DataFrame,
    observation_end: dt.date,
    requested_days: int,
    fitted_at: dt.datetime,
) -> dict | None:
    """Write the calibration/holdout report of this fit; return its metadata (None: no report, logged why)."""
    holdout = effective_holdout_days(requested_days, summary["first_order_date"].min(), observation_end)
    if holdout < MIN_HOLDOUT_DAYS:
        context.log.info(
            f"clv_model: no calibration report: history too short for a {MIN_HOLDOUT_DAYS}-day holdout"
        )
        return None
    days = read_frame(url, load_sql("clv_customer_days"))
    try:
        report = calibration_report(days, observation_end, holdout, fitted_at)
    except ValueError as exc:  # ConvergenceError included: too few repeat buyers before the cut-off
        context.log.warning(f"clv_model: no calibration report: the calibration fit failed: {exc}")
        return None
    replace_table(
        url,
        analytics_schema(),
        CLV_CALIBRATION.name,
        report,
        CALIBRATION_TYPES,
        where=("fitted_at = %s", (fitted_at,)),
        indexes=CLV_CALIBRATION.indexes,
    )
    overall = report[report["calibration_frequency"] == "all"].iloc[0]
    return {
        "calibration": preview(report.drop(columns=["fitted_at", "observation_end"])),
        "holdout_days": MetadataValue.int(holdout),
        "holdout_mae": MetadataValue.float(float(overall["mae"])),
        "calibration_chart": _calibration_chart(report),
    }


@multi_asset(
    specs=[
        CLV_MODEL_PARAMS.spec([model("fct_orders_web")]),
        CLV_CALIBRATION.spec([model("fct_orders_web")], skippable=True),
    ],
    name="clv_model",
    description="BG/NBD and Gamma-Gamma fitted on the RFM summary of identified web customers (days), "
    "with a calibration-vs-holdout report. When the data cannot support a fit yet (no repeat buyers, "
    "no convergence) nothing is appended and the metadata says why; customer_ltv then keeps using the "
    "latest earlier fit, if any.",
)
def clv_model(
    context: AssetExecutionContext, config: ClvModelConfig, warehouse: WarehouseResource
) -> Iterator[MaterializeResult]:
    url = warehouse.url
    summary = read_frame(url, load_sql("clv_rfm"), {"observation_end": None})
    base = {
        "customers": MetadataValue.int(len(summary)),
        "repeat_customers": MetadataValue.int(int((summary["frequency"] > 0).sum()) if len(summary) else 0),
    }
    try:
        if summary.empty:
            raise ConvergenceError("no identified customer with a web order yet")
        bgnbd, gg = fit_bgnbd(summary), fit_gamma_gamma(summary)
    except ValueError as exc:  # ConvergenceError, or a Gamma-Gamma q <= 1
        context.log.warning(f"clv_model: not fitted: {exc}")
        ensure_params_table(url)
        yield MaterializeResult(
            asset_key=CLV_MODEL_PARAMS.key,
            metadata={
                **base,
                "row_count": MetadataValue.int(0),
                "fitted": MetadataValue.bool(False),
                "reason": MetadataValue.text(str(exc)),
            },
        )
        return
    observation_end = summary["observation_end"].iloc[0]
    fitted_at = dt.datetime.now(dt.UTC)
    params = param_rows(bgnbd, gg, summary, fitted_at, observation_end)
    replace_table(
        url,
        analytics_schema(),
        CLV_MODEL_PARAMS.name,
        params,
        PARAM_TYPES,
        where=("fitted_at = %s", (fitted_at,)),
        indexes=CLV_MODEL_PARAMS.indexes,
    )
    yield MaterializeResult(
        asset_key=CLV_MODEL_PARAMS.key,
        metadata={
            **base,
            "row_count": MetadataValue.int(len(params)),
            "date_range": MetadataValue.text(f"{summary['first_order_date'].min()} .. {observation_end}"),
            "preview": preview(params[["model", "parameter", "value", "log_likelihood", "n_customers"]]),
            "fitted": MetadataValue.bool(True),
            "fitted_at": MetadataValue.text(fitted_at.isoformat()),
        },
    )
    calibration = _calibration(context, url, summary, observation_end, config.holdout_days, fitted_at)
    if calibration is not None:
        yield MaterializeResult(asset_key=CLV_CALIBRATION.key, metadata=calibration)


def latest_models(params: pd.DataFrame) -> tuple[BetaGeoModel, GammaGammaModel]:
    """The fitted models from the rows of one clv_model_params fit."""

    def model_of(name: str) -> tuple[dict, float]:
        rows = params[params["model"] == name]
        return dict(zip(rows["parameter"], rows["value"].astype(float))), float(
            rows["log_likelihood"].iloc[0]
        )

    return BetaGeoModel(*model_of("bgnbd")), GammaGammaModel(*model_of("gamma_gamma"))


def score_customers(
    summary: pd.DataFrame, bgnbd: BetaGeoModel, gg: GammaGammaModel, months: int, discount_rate_monthly: float
) -> pd.DataFrame:
    """P(alive), expected purchases, expected order value, CLV and churn risk per customer."""
    x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
    out = summary.rename(columns={"recency": "recency_days", "T": "t_days"}).copy()
    out["p_alive"] = bgnbd.p_alive(x, t_x, T)
    for days in (30, 90, 365):
        out[f"expected_purchases_{days}d"] = bgnbd.expected_purchases(days, x, t_x, T)
    out["expected_order_value"] = gg.expected_order_value(x, summary["monetary_value"])
    out["clv_12m"] = customer_lifetime_value(
        bgnbd, gg, summary, months=months, discount_rate_monthly=discount_rate_monthly, period_days=1
    ).to_numpy()
    out["churn_risk"] = churn_risk_segment(out["p_alive"]).to_numpy()
    return out


def _segment_chart(table: pd.DataFrame) -> bytes:
    """Total 12-month CLV per churn-risk segment, the customer count in the label."""
    segments = ["active", "at_risk", "churned"]
    counts = table["churn_risk"].value_counts()
    totals = table.groupby("churn_risk")["clv_12m"].sum()
    return bar_png(
        [f"{s} (n={int(counts.get(s, 0))})" for s in segments],
        [round(float(totals.get(s, 0.0)), 2) for s in segments],
        "12-month CLV by churn-risk segment",
        xlabel="segment (customers)",
    )


@multi_asset(
    specs=[CUSTOMER_LTV.spec([CLV_MODEL_PARAMS.key, USER_ENGAGEMENT.key, model("fct_orders_web")])],
    name="customer_ltv",
)
def customer_ltv(
    context: AssetExecutionContext, config: CustomerLtvConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    url = warehouse.url
    params = read_frame(url, load_sql("clv_latest_params"))
    summary = read_frame(url, load_sql("clv_rfm"), {"observation_end": None})
    if params.empty:
        context.log.warning("customer_ltv: no clv_model fit yet; model columns are left empty")
        scored = summary.rename(columns={"recency": "recency_days", "T": "t_days"}).assign(fitted_at=None)
    else:
        bgnbd, gg = latest_models(params)
        scored = score_customers(summary, bgnbd, gg, config.months, config.discount_rate_monthly)
        scored["fitted_at"] = params["fitted_at"].iloc[0]
    engagement = read_frame(url, load_sql("customer_engagement"))
    table = scored.merge(engagement, on="user_id", how="left").reindex(columns=list(LTV_TYPES))
    rows = replace_table(
        url, analytics_schema(), CUSTOMER_LTV.name, table, LTV_TYPES, indexes=CUSTOMER_LTV.indexes
    )
    png = _segment_chart(table)
    fitted_at = params["fitted_at"].iloc[0] if len(params) else None
    context.log.info(f"customer_ltv: {rows} customers scored with the fit of {fitted_at}")
    return MaterializeResult(
        metadata={
            **table_metadata(table.sort_values("clv_12m", ascending=False), rows, "first_order_date"),
            "total_clv_12m": MetadataValue.float(float(table["clv_12m"].sum())),
            "mean_p_alive": MetadataValue.float(
                float(table["p_alive"].mean()) if table["p_alive"].notna().any() else 0.0
            ),
            "fitted_at": MetadataValue.text(str(fitted_at) if fitted_at is not None else "no fit yet"),
            "clv_by_segment": chart(png, "12-month CLV by churn-risk segment"),
        }
    )
