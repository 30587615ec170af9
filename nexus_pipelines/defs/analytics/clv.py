"""clv_model and customer_ltv: BG/NBD + Gamma-Gamma churn and lifetime value of web customers.

clv_model fits the models on the RFM summary of every identified customer and appends the
parameters to analytics.clv_model_params (history kept, one set per fitted_at), with a
calibration-vs-holdout accuracy report in analytics.clv_calibration. customer_ltv scores every
customer with the latest parameters into analytics.customer_ltv.

One fit per distinct input: ``input_hash`` (``lib.analytics.clv.fit_input_hash``) covers the RFM
summary the models are fitted on, the customer-days of the calibration fit, the settings
(observation end, holdout, penalizer) and the fitting code. A run whose input hash is stored
already fits nothing and appends nothing: the stored fit stands (re-stamped as the latest when a
newer fit of other data was stored since, so that "latest fit" readers get the fit of the current
data). Both tables have a unique index on the input hash (with model and parameter, or the
calibration bucket) and a fit's rows are written in one transaction under an advisory lock, so
two concurrent runs over the same input store one fit.
"""

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import psycopg
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, multi_asset
from psycopg import sql

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
    fit_input_hash,
)
from ...lib.warehouse import locks
from ...lib.warehouse.connection import scalar
from ...lib.warehouse.frames import ensure_table, read_frame, replace_table
from ..resources import WarehouseResource
from .engagement import USER_ENGAGEMENT
from .metadata import chart, preview, table_metadata
from .queries import load_sql
from .tables import Table, analytics_schema, model

MIN_HOLDOUT_DAYS = 7
BGNBD_PENALIZER = 0.0  # L2 shrinkage of the BG/NBD fit (fit_bgnbd's penalizer): none
FIT_LOCK = "analytics:clv_model"  # advisory lock around a fit's writes (lib/warehouse/locks.py)
# what the fit is computed from: the RFM summary columns the models read, the customer-days of the
# calibration fit (calibration_holdout counts purchase days, it does not read the revenue)
FIT_COLUMNS = ("user_id", "frequency", "recency", "T", "monetary_value")
CALIBRATION_COLUMNS = ("user_id", "order_date")
PARAM_TYPES = {
    "fitted_at": "timestamptz",
    "model": "text",
    "parameter": "text",
    "value": "double precision",
    "log_likelihood": "double precision",
    "n_customers": "integer",
    "observation_end": "date",
    "time_unit": "text",
    "input_hash": "text",
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
    "input_hash": "text",
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
    "BG/NBD and Gamma-Gamma parameters of every distinct fit (history kept, one set per fitted_at and "
    "input_hash), fitted on the RFM summary of identified web customers (days).",
    indexes=(("fitted_at",),),
)
CLV_CALIBRATION = Table(
    "clv_calibration",
    CALIBRATION_TYPES,
    "Calibration vs holdout accuracy of each clv_model fit, per calibration frequency.",
    indexes=(("fitted_at",),),
)
# the unique keys that keep one fit per input hash (rows of older versions have no hash: NULLs
# never conflict)
FIT_KEYS = {
    CLV_MODEL_PARAMS.name: ("input_hash", "model", "parameter"),
    CLV_CALIBRATION.name: ("input_hash", "calibration_frequency"),
}
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


def input_hash(
    summary: pd.DataFrame, days: pd.DataFrame | None, observation_end: dt.date, holdout: int
) -> str:
    """The hash of a fit's input: RFM summary, calibration customer-days (None: no report), settings."""
    frames = {"rfm_summary": summary[list(FIT_COLUMNS)]}
    if days is not None:
        frames["calibration_days"] = days[list(CALIBRATION_COLUMNS)]
    settings = {
        "observation_end": observation_end.isoformat(),
        "time_unit": "days",
        "bgnbd_penalizer": BGNBD_PENALIZER,
        "calibration": {"holdout_days": holdout, "freq": "D"} if days is not None else None,
    }
    return fit_input_hash(frames, settings)


def _ident(table: Table) -> sql.Identifier:
    return sql.Identifier(analytics_schema(), table.name)


def _ensure_fit_tables(conn: psycopg.Connection) -> None:
    """Both tables with their columns (input_hash added to older tables), indexes and unique fit keys."""
    for table in (CLV_MODEL_PARAMS, CLV_CALIBRATION):
        ensure_table(conn, analytics_schema(), table.name, table.columns, table.indexes)
        conn.execute(
            sql.SQL("create unique index if not exists {} on {} ({})").format(
                sql.Identifier(f"{table.name}__fit_key"),
                _ident(table),
                sql.SQL(", ").join(map(sql.Identifier, FIT_KEYS[table.name])),
            )
        )


def _analyze(conn: psycopg.Connection) -> None:
    for table in (CLV_MODEL_PARAMS, CLV_CALIBRATION):
        conn.execute(sql.SQL("analyze {}").format(_ident(table)))  # statistics for BI right away


def ensure_fit_tables(url: str) -> None:
    """Create the two tables if missing, changing no row (for customer_ltv to read)."""
    with psycopg.connect(url, autocommit=True) as conn, locks.held(conn, FIT_LOCK), conn.transaction():
        _ensure_fit_tables(conn)
        _analyze(conn)


def _frame(conn: psycopg.Connection, query: sql.Composed, params: tuple) -> pd.DataFrame:
    cur = conn.execute(query, params)
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or ()])


def stored_fit(url: str, fit_hash: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The rows (parameters, calibration) of the stored fit of ``fit_hash``, or None."""
    with psycopg.connect(url) as conn:
        hashed = scalar(
            conn,
            "select count(*) from information_schema.columns where table_schema = %s "
            "and table_name in (%s, %s) and column_name = 'input_hash'",
            (analytics_schema(), CLV_MODEL_PARAMS.name, CLV_CALIBRATION.name),
        )
        if hashed < 2:  # no table yet, or tables of a version before the input hash
            return None
        rows = [
            _frame(
                conn,
                sql.SQL("select {} from {} where input_hash = %s order by {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, table.columns)),
                    _ident(table),
                    sql.SQL(", ").join(map(sql.Identifier, FIT_KEYS[table.name])),
                ),
                (fit_hash,),
            )
            for table in (CLV_MODEL_PARAMS, CLV_CALIBRATION)
        ]
    return None if rows[0].empty else (rows[0], rows[1])


def _insert(conn: psycopg.Connection, table: Table, frame: pd.DataFrame) -> None:
    columns = list(table.columns)
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    statement = sql.SQL("insert into {} ({}) values ({}) on conflict ({}) do nothing").format(
        _ident(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        sql.SQL(", ").join(map(sql.Identifier, FIT_KEYS[table.name])),
    )
    conn.cursor().executemany(statement, values.itertuples(index=False, name=None))


def append_fit(
    url: str, params: pd.DataFrame, report: pd.DataFrame | None, fit_hash: str
) -> dt.datetime | None:
    """Append a fit's parameters and calibration report in one transaction; returns its fitted_at.

    fitted_at is taken under the lock, so the fit committed last is the latest. Returns None and
    writes nothing when a fit of ``fit_hash`` is stored already (a concurrent run stored it).
    """
    with psycopg.connect(url, autocommit=True) as conn, locks.held(conn, FIT_LOCK), conn.transaction():
        _ensure_fit_tables(conn)
        query = sql.SQL("select exists (select from {} where input_hash = %s)").format(
            _ident(CLV_MODEL_PARAMS)
        )
        if scalar(conn, query, (fit_hash,)):
            return None
        fitted_at = dt.datetime.now(dt.UTC)
        _insert(conn, CLV_MODEL_PARAMS, params.assign(fitted_at=fitted_at, input_hash=fit_hash))
        if report is not None:
            _insert(conn, CLV_CALIBRATION, report.assign(fitted_at=fitted_at, input_hash=fit_hash))
        _analyze(conn)
    return fitted_at


def restamp_as_latest(url: str, fit_hash: str) -> dt.datetime | None:
    """Make the stored fit of ``fit_hash`` the latest one (fitted_at = now in both tables) when a
    fit of other data is newer; returns the new fitted_at, or None when it is the latest already."""
    with psycopg.connect(url, autocommit=True) as conn, locks.held(conn, FIT_LOCK), conn.transaction():
        latest = sql.SQL(
            "select input_hash is not distinct from %s from {} order by fitted_at desc nulls last limit 1"
        )
        if scalar(conn, latest.format(_ident(CLV_MODEL_PARAMS)), (fit_hash,)):
            return None
        fitted_at = dt.datetime.now(dt.UTC)
        for table in (CLV_MODEL_PARAMS, CLV_CALIBRATION):
            conn.execute(
                sql.SQL("update {} set fitted_at = %s where input_hash = %s").format(_ident(table)),
                (fitted_at, fit_hash),
            )
        _analyze(conn)
    return fitted_at


def param_rows(
    bgnbd: BetaGeoModel, gg: GammaGammaModel, summary: pd.DataFrame, observation_end: dt.date
) -> pd.DataFrame:
    """One row per model x parameter (fitted_at and input_hash are set when the fit is stored)."""
    repeaters = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
    rows = [
        ("bgnbd", name, value, bgnbd.log_likelihood, len(summary)) for name, value in bgnbd.params.items()
    ]
    rows += [("gamma_gamma", name, value, gg.log_likelihood, repeaters) for name, value in gg.params.items()]
    frame = pd.DataFrame(rows, columns=["model", "parameter", "value", "log_likelihood", "n_customers"])
    return frame.assign(fitted_at=None, observation_end=observation_end, time_unit="days", input_hash=None)[
        list(PARAM_TYPES)
    ]


def calibration_report(days: pd.DataFrame, observation_end: dt.date, holdout_days: int) -> pd.DataFrame:
    """calibration_holdout on the customer-day transactions, as table rows (no fitted_at, input_hash)."""
    calibration_end = observation_end - dt.timedelta(days=holdout_days)
    _, report = calibration_holdout(days, "user_id", "order_date", calibration_end, observation_end)
    report = report.reset_index()
    return report.assign(
        fitted_at=None,
        calibration_end=calibration_end,
        observation_end=observation_end,
        holdout_days=holdout_days,
        input_hash=None,
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
    context: AssetExecutionContext, days: pd.DataFrame | None, observation_end: dt.date, holdout: int
) -> pd.DataFrame | None:
    """The calibration/holdout report of this fit (None: no report, logged why)."""
    if days is None:
        context.log.info(
            f"clv_model: no calibration report: history too short for a {MIN_HOLDOUT_DAYS}-day holdout"
        )
        return None
    try:
        return calibration_report(days, observation_end, holdout)
    except ValueError as exc:  # ConvergenceError included: too few repeat buyers before the cut-off
        context.log.warning(f"clv_model: no calibration report: the calibration fit failed: {exc}")
        return None


def _calibration_metadata(report: pd.DataFrame, new_fit: bool) -> dict:
    overall = report[report["calibration_frequency"] == "all"].iloc[0]
    return {
        "calibration": preview(report.drop(columns=["fitted_at", "observation_end", "input_hash"])),
        "holdout_days": MetadataValue.int(int(overall["holdout_days"])),
        "holdout_mae": MetadataValue.float(round(float(overall["mae"]), 4)),
        "calibration_chart": _calibration_chart(report),
        "new_fit": MetadataValue.bool(new_fit),
        "fitted_at": MetadataValue.text(pd.Timestamp(overall["fitted_at"]).isoformat()),
    }


def _not_fitted(context: AssetExecutionContext, url: str, base: dict, exc: Exception) -> MaterializeResult:
    context.log.warning(f"clv_model: not fitted: {exc}")
    ensure_fit_tables(url)
    return MaterializeResult(
        asset_key=CLV_MODEL_PARAMS.key,
        metadata={
            **base,
            "row_count": MetadataValue.int(0),
            "fitted": MetadataValue.bool(False),
            "new_fit": MetadataValue.bool(False),
            "reason": MetadataValue.text(str(exc)),
        },
    )


@multi_asset(
    specs=[
        CLV_MODEL_PARAMS.spec([model("fct_orders_web")]),
        CLV_CALIBRATION.spec([model("fct_orders_web")], skippable=True),
    ],
    name="clv_model",
    description="BG/NBD and Gamma-Gamma fitted on the RFM summary of identified web customers (days), "
    "with a calibration-vs-holdout report. An input (data, settings, fitting code) that was fitted "
    "before appends nothing: the stored fit stands (metadata new_fit: false). When the data cannot "
    "support a fit yet (no repeat buyers, no convergence) nothing is appended and the metadata says "
    "why; customer_ltv then keeps using the latest earlier fit, if any.",
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
    if summary.empty:
        yield _not_fitted(context, url, base, ConvergenceError("no identified customer with a web order yet"))
        return
    observation_end = summary["observation_end"].iloc[0]
    holdout = effective_holdout_days(config.holdout_days, summary["first_order_date"].min(), observation_end)
    days = read_frame(url, load_sql("clv_customer_days")) if holdout >= MIN_HOLDOUT_DAYS else None
    fit_hash = input_hash(summary, days, observation_end, holdout)
    stored = stored_fit(url, fit_hash)
    if stored is None:
        try:
            bgnbd = fit_bgnbd(summary, penalizer=BGNBD_PENALIZER)
            gg = fit_gamma_gamma(summary)
        except ValueError as exc:  # ConvergenceError, or a Gamma-Gamma q <= 1
            yield _not_fitted(context, url, base, exc)
            return
        params = param_rows(bgnbd, gg, summary, observation_end)
        report = _calibration(context, days, observation_end, holdout)
        fitted_at = append_fit(url, params, report, fit_hash)
        if fitted_at is not None:
            params["fitted_at"], params["input_hash"] = fitted_at, fit_hash
            if report is not None:
                report["fitted_at"], report["input_hash"] = fitted_at, fit_hash
        else:  # a concurrent run stored the same fit first
            stored = stored_fit(url, fit_hash)
    new_fit = stored is None
    if stored is not None:
        params, report = stored[0], (stored[1] if len(stored[1]) else None)
        restamped = restamp_as_latest(url, fit_hash)
        fitted_at = restamped or params["fitted_at"].iloc[0]
        if restamped is not None:
            params["fitted_at"] = restamped
            if report is not None:
                report["fitted_at"] = restamped
        context.log.info(
            f"clv_model: the input ({fit_hash[:12]}) was fitted before: the stored fit stands, "
            f"nothing appended{' (re-stamped as the latest fit)' if restamped is not None else ''}"
        )
    yield MaterializeResult(
        asset_key=CLV_MODEL_PARAMS.key,
        metadata={
            **base,
            "row_count": MetadataValue.int(len(params)),
            "date_range": MetadataValue.text(f"{summary['first_order_date'].min()} .. {observation_end}"),
            "preview": preview(params[["model", "parameter", "value", "log_likelihood", "n_customers"]]),
            "fitted": MetadataValue.bool(True),
            "new_fit": MetadataValue.bool(new_fit),
            "fitted_at": MetadataValue.text(pd.Timestamp(fitted_at).isoformat()),
            "input_hash": MetadataValue.text(fit_hash),
        },
    )
    if report is not None:
        yield MaterializeResult(
            asset_key=CLV_CALIBRATION.key, metadata=_calibration_metadata(report, new_fit)
        )


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
            "total_clv_12m": MetadataValue.float(round(float(table["clv_12m"].sum()), 2)),
            "mean_p_alive": MetadataValue.float(
                round(float(table["p_alive"].mean()), 4) if table["p_alive"].notna().any() else 0.0
            ),
            "fitted_at": MetadataValue.text(str(fitted_at) if fitted_at is not None else "no fit yet"),
            "clv_by_segment": chart(png, "12-month CLV by churn-risk segment"),
        }
    )
