"""Every metric the engine serves: its name (the mart or analytics column it comes from, where
there is one), definition, unit, grain, source table and endpoint.

The unit decides how a value is rounded in a response (``models.UNIT_SCALE``). ``endpoint`` is the
route suffix under ``/v1/stores/{id}/`` that serves the metric; the sales metrics (endpoint
``metrics``) are also those of ``comparison``, and the inventory metrics those of
``inventory/stock-at-risk`` (``Metric.endpoints``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .models import UnknownMetric

SALES = "metrics"
COMPARISON = "comparison"
INVENTORY = "inventory/health"
STOCK_AT_RISK = "inventory/stock-at-risk"
RETURNS = "returns"
FUNNELS = "funnels"
COHORTS = "cohorts"
ACTIVE_USERS = "active-users"
ATTRIBUTION = "attribution"
CLV = "clv/segments"
EXPERIMENTS = "experiments"

# endpoints that take the metric names of another one
SHARED_ENDPOINTS: dict[str, tuple[str, ...]] = {
    SALES: (SALES, COMPARISON),
    INVENTORY: (INVENTORY, STOCK_AT_RISK),
}


@dataclass(frozen=True)
class Metric:
    name: str
    definition: str
    unit: str
    grain: str
    source_table: str
    endpoint: str

    @property
    def endpoints(self) -> tuple[str, ...]:
        return SHARED_ENDPOINTS.get(self.endpoint, (self.endpoint,))

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "endpoints": list(self.endpoints)}


_SALES_GRAIN = "store × day, ISO week, month or the requested range"
_DSP = "marts.fct_daily_store_performance"
_SKU_NOTE = " With a sku or asin filter: from marts.fct_daily_sales (and marts.fct_returns)."


def _sales(name: str, definition: str, unit: str, *, sku: bool = True) -> Metric:
    note = _SKU_NOTE if sku else " Not available with a sku or asin filter (store-level traffic)."
    return Metric(name, definition + note, unit, _SALES_GRAIN, _DSP, SALES)


def _m(name: str, definition: str, unit: str, grain: str, table: str, endpoint: str) -> Metric:
    return Metric(name, definition, unit, grain, table, endpoint)


_INV_GRAIN = "store × SKU, as of the SKU's latest inventory snapshot"
_INV = "marts.fct_inventory_health"
_RET_GRAIN = "store over the range (by return date unless stated)"
_RET = "marts.fct_returns"
_REASON_GRAIN = "store × reason (reasons) or × detailed disposition (dispositions) over the range"
_FUN_GRAIN = "funnel × step × breakdown value, all tracked history"
_FUN = "marts.fct_funnel_steps"
_COH_GRAIN = (
    "grain (week or month) × mode × cohort_start × period_offset, for the cohorts whose week or month "
    "overlaps the range"
)
_COH = "analytics.cohort_retention"
_AU = "marts.fct_active_users"
_LC = "marts.fct_user_lifecycle"
_ATT_GRAIN = "model × channel (channels) or model (models) over the range, by conversion day"
_ATT = "analytics.channel_attribution_daily"
_CLV_GRAIN = "churn_risk segment (active, at_risk, churned), latest fit"
_CLV = "analytics.customer_ltv"
_EXP_GRAIN = "experiment × variation × metric × engine, experiments exposed during the range"
_EXP = "analytics.experiment_results"

CATALOG: list[Metric] = [
    # ---------------------------------------------------------------- sales (and comparison)
    _sales(
        "ordered_product_sales",
        "Σ item-price of the non-cancelled order lines, by purchase date.",
        "currency",
    ),
    _sales("units_ordered", "Σ quantity of those lines.", "units"),
    _sales(
        "orders",
        "Distinct orders with such a line (an order falls on one day). With a sku or asin filter: "
        "Σ fct_daily_sales.orders over the SKUs, so an order of two of the SKUs counts twice.",
        "count",
    ),
    _sales("order_items", "Number of such order lines.", "count"),
    _sales("average_order_value", "ordered_product_sales / orders over the range.", "currency"),
    _sales("average_selling_price", "ordered_product_sales / units_ordered over the range.", "currency"),
    _sales(
        "sessions",
        "Σ sessions of the Sales and Traffic report; null when no report covers the range.",
        "count",
        sku=False,
    ),
    _sales("page_views", "Σ page views of the Sales and Traffic report.", "count", sku=False),
    _sales(
        "unit_session_percentage",
        "Units ordered on the days that have traffic ÷ sessions × 100 (Amazon's conversion rate).",
        "percent",
        sku=False,
    ),
    _sales(
        "order_item_session_percentage",
        "Order items on the days that have traffic ÷ sessions × 100.",
        "percent",
        sku=False,
    ),
    _sales(
        "buy_box_percentage",
        "The reported daily featured-offer percentage, averaged weighted by page views "
        "(unweighted when there are no page views).",
        "percent",
        sku=False,
    ),
    _sales("units_refunded", "Σ units returned, by return date.", "units"),
    _sales("refund_rate", "units_refunded / units_ordered × 100 over the range.", "percent"),
    _sales(
        "refunds_amount",
        "Σ returned units × the order line's unit price, by return date (returns with a known order line).",
        "currency",
    ),
    _sales("item_promotion_discount", "Σ item-promotion-discount of the non-cancelled lines.", "currency"),
    _sales("net_sales", "ordered_product_sales − item_promotion_discount − refunds_amount.", "currency"),
    # ---------------------------------------------------------------- inventory
    _m(
        "fulfillable_quantity",
        "Fulfillable units at the latest snapshot.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m("reserved_quantity", "Reserved units at the latest snapshot.", "units", _INV_GRAIN, _INV, INVENTORY),
    _m(
        "unsellable_quantity",
        "Unfulfillable (unsellable) units at the latest snapshot.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "inbound_quantity",
        "Inbound working + shipped + receiving units at the latest snapshot.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m("on_hand_quantity", "fulfillable + reserved units.", "units", _INV_GRAIN, _INV, INVENTORY),
    _m(
        "units_sold_t7",
        "Units ordered in the 7 days ending on the snapshot.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "units_sold_t30",
        "Units ordered in the 30 days ending on the snapshot.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "units_sold_t90",
        "Units ordered in the 90 days ending on the snapshot.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "average_daily_units_t30",
        "units_sold_t30 / 30, the daily demand forecast.",
        "number",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "days_of_supply",
        "fulfillable / (units_sold_t30 / 30); null when nothing sold in 30 days. In totals: recomputed "
        "from the sums of the SKUs listed.",
        "days",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "weeks_of_cover_t30",
        "on_hand / (units_sold_t30 / 30 × 7).",
        "weeks",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "weeks_of_cover_t90",
        "on_hand / (units_sold_t90 / 90 × 7).",
        "weeks",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "sell_through_rate_90d",
        "Units sold in 90 days / average on-hand units over the snapshots of those 90 days (a ratio).",
        "ratio",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "in_stock_rate_30d",
        "Snapshot days of the last 30 with fulfillable > 0 ÷ snapshot days × 100.",
        "percent",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "stockout_days_30d",
        "Snapshot days of the last 30 with fulfillable = 0 after sales in the 30 days before.",
        "count",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "excess_units",
        "on_hand − 3 × units_sold_t30 when positive, else 0.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "aged_0_90_units",
        "On-hand units received 0–90 days ago (FIFO).",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m("aged_91_180_units", "On-hand units aged 91–180 days.", "units", _INV_GRAIN, _INV, INVENTORY),
    _m("aged_181_270_units", "On-hand units aged 181–270 days.", "units", _INV_GRAIN, _INV, INVENTORY),
    _m("aged_271_365_units", "On-hand units aged 271–365 days.", "units", _INV_GRAIN, _INV, INVENTORY),
    _m("aged_365_plus_units", "On-hand units aged more than 365 days.", "units", _INV_GRAIN, _INV, INVENTORY),
    _m("lead_time_days", "Replenishment lead time used for the store.", "days", _INV_GRAIN, _INV, INVENTORY),
    _m(
        "safety_stock",
        "z × σ of the daily units of the last 30 days × √lead_time_days.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "reorder_point",
        "ceil(lead-time demand + safety stock): reorder when on-hand + inbound falls to it.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "suggested_reorder_qty",
        "Units to send now so that on-hand + inbound reaches the reorder point.",
        "units",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    _m(
        "stockout_risk",
        "days_of_supply < lead_time_days (false when nothing sold). In totals: skus_at_risk.",
        "flag",
        _INV_GRAIN,
        _INV,
        INVENTORY,
    ),
    # ---------------------------------------------------------------- returns
    _m(
        "units_ordered",
        "Non-cancelled units ordered in the range (by purchase date).",
        "units",
        "store over the range (by purchase date)",
        "marts.fct_daily_sales",
        RETURNS,
    ),
    _m(
        "return_lines",
        "Returned lines (batches) with a return date in the range.",
        "count",
        _RET_GRAIN,
        _RET,
        RETURNS,
    ),
    _m("units_returned", "Σ quantity returned in the range.", "units", _RET_GRAIN, _RET, RETURNS),
    _m(
        "return_rate",
        "units_returned / units_ordered × 100, both of the range (the calendar view of fct_return_rates).",
        "percent",
        _RET_GRAIN,
        _RET,
        RETURNS,
    ),
    _m(
        "cohort_units_returned",
        "Units returned, at any date, of the order lines purchased in the range.",
        "units",
        "store over the range (by purchase date)",
        _RET,
        RETURNS,
    ),
    _m(
        "cohort_return_rate",
        "cohort_units_returned / units_ordered × 100 (the cohort view of fct_return_rates).",
        "percent",
        "store over the range (by purchase date)",
        _RET,
        RETURNS,
    ),
    _m(
        "resellable_share",
        "SELLABLE units ÷ units_returned × 100 (also per reason).",
        "percent",
        _RET_GRAIN,
        _RET,
        RETURNS,
    ),
    _m(
        "refunds_amount",
        "Σ refund_amount (quantity × the order line's unit price) of the returns in the range.",
        "currency",
        _RET_GRAIN,
        _RET,
        RETURNS,
    ),
    _m(
        "share_of_returns",
        "units_returned of the reason (or disposition) ÷ all units returned in the range × 100.",
        "percent",
        _REASON_GRAIN,
        _RET,
        RETURNS,
    ),
    # ---------------------------------------------------------------- funnels
    _m(
        "users_entered_funnel",
        "Users who did step 1, within the breakdown value.",
        "users",
        _FUN_GRAIN,
        _FUN,
        FUNNELS,
    ),
    _m(
        "users_entering_step",
        "Users who reached the previous step (step 1: users_entered_funnel).",
        "users",
        _FUN_GRAIN,
        _FUN,
        FUNNELS,
    ),
    _m(
        "users_converted", "Users who reached the step within the window.", "users", _FUN_GRAIN, _FUN, FUNNELS
    ),
    _m("users_dropped_off", "users_entering_step − users_converted.", "users", _FUN_GRAIN, _FUN, FUNNELS),
    _m(
        "conversion_rate_from_start",
        "users_converted / users_entered_funnel.",
        "ratio",
        _FUN_GRAIN,
        _FUN,
        FUNNELS,
    ),
    _m(
        "conversion_rate_from_previous",
        "users_converted / users_entering_step.",
        "ratio",
        _FUN_GRAIN,
        _FUN,
        FUNNELS,
    ),
    _m(
        "median_seconds_to_convert",
        "Median seconds from the entry to the step, over users_converted.",
        "seconds",
        _FUN_GRAIN,
        _FUN,
        FUNNELS,
    ),
    # ---------------------------------------------------------------- cohorts
    _m("cohort_size", "Users in the cohort.", "users", _COH_GRAIN, _COH, COHORTS),
    _m(
        "retained",
        "Cohort users with a session in the period at that offset.",
        "users",
        _COH_GRAIN,
        _COH,
        COHORTS,
    ),
    _m("retention_rate", "retained / cohort_size.", "ratio", _COH_GRAIN, _COH, COHORTS),
    _m("churn_rate", "1 − retention_rate.", "ratio", _COH_GRAIN, _COH, COHORTS),
    _m(
        "period_churn",
        "1 − retained / retained at the previous offset (null at offset 0).",
        "ratio",
        _COH_GRAIN,
        _COH,
        COHORTS,
    ),
    _m(
        "is_complete",
        "False when the period extends past the last day with sessions.",
        "flag",
        _COH_GRAIN,
        _COH,
        COHORTS,
    ),
    # ---------------------------------------------------------------- active users
    _m("dau", "Distinct users active on the day (UTC).", "users", "UTC day in the range", _AU, ACTIVE_USERS),
    _m(
        "wau",
        "Distinct users active in the 7 days ending on the day.",
        "users",
        "UTC day in the range",
        _AU,
        ACTIVE_USERS,
    ),
    _m(
        "mau",
        "Distinct users active in the 30 days ending on the day.",
        "users",
        "UTC day in the range",
        _AU,
        ACTIVE_USERS,
    ),
    _m("stickiness", "dau / mau.", "ratio", "UTC day in the range", _AU, ACTIVE_USERS),
    _m(
        "average_dau",
        "Mean of dau over the days of the range that have data.",
        "users",
        "the range",
        _AU,
        ACTIVE_USERS,
    ),
    _m(
        "period_active_users",
        "Distinct users with a session covering at least one day (UTC) of the range.",
        "users",
        "the range",
        "marts.fct_sessions",
        ACTIVE_USERS,
    ),
    _m(
        "new_users",
        "Users active this week for the first time ever.",
        "users",
        "ISO week overlapping the range",
        _LC,
        ACTIVE_USERS,
    ),
    _m(
        "returning_users",
        "Users active this week and the week before.",
        "users",
        "ISO week overlapping the range",
        _LC,
        ACTIVE_USERS,
    ),
    _m(
        "resurrecting_users",
        "Users active this week, not the week before, but in an earlier week.",
        "users",
        "ISO week overlapping the range",
        _LC,
        ACTIVE_USERS,
    ),
    _m(
        "dormant_users",
        "Users active the week before but not this week.",
        "users",
        "ISO week overlapping the range",
        _LC,
        ACTIVE_USERS,
    ),
    _m(
        "active_users",
        "new_users + returning_users + resurrecting_users.",
        "users",
        "ISO week overlapping the range",
        _LC,
        ACTIVE_USERS,
    ),
    # ---------------------------------------------------------------- attribution
    _m(
        "conversions",
        "Σ credit: fractional conversions credited.",
        "conversions",
        _ATT_GRAIN,
        _ATT,
        ATTRIBUTION,
    ),
    _m(
        "revenue", "Σ credited revenue (web orders' own currency).", "currency", _ATT_GRAIN, _ATT, ATTRIBUTION
    ),
    _m(
        "spend",
        "Σ marketing spend of the channel group (null without spend).",
        "currency",
        _ATT_GRAIN,
        _ATT,
        ATTRIBUTION,
    ),
    _m(
        "roas",
        "revenue / spend over the range (null without spend); for a model: all its revenue over all "
        "spend (blended).",
        "ratio",
        _ATT_GRAIN,
        _ATT,
        ATTRIBUTION,
    ),
    # ---------------------------------------------------------------- CLV segments
    _m("customers", "Identified customers in the segment.", "customers", _CLV_GRAIN, _CLV, CLV),
    _m("total_clv_12m", "Σ 12-month customer lifetime value.", "currency", _CLV_GRAIN, _CLV, CLV),
    _m("average_clv_12m", "Mean 12-month customer lifetime value.", "currency", _CLV_GRAIN, _CLV, CLV),
    _m(
        "average_p_alive",
        "Mean BG/NBD probability that the customer is still active.",
        "probability",
        _CLV_GRAIN,
        _CLV,
        CLV,
    ),
    _m(
        "average_expected_purchases_90d",
        "Mean expected purchase days in the next 90 days.",
        "number",
        _CLV_GRAIN,
        _CLV,
        CLV,
    ),
    _m("total_revenue", "Σ web order revenue of the segment's customers.", "currency", _CLV_GRAIN, _CLV, CLV),
    # ---------------------------------------------------------------- experiments
    _m(
        "users",
        "Exposed users of the variation (users seen in several variations excluded).",
        "users",
        _EXP_GRAIN,
        _EXP,
        EXPERIMENTS,
    ),
    _m("mean", "Conversions or revenue per user of the variation.", "number", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m("control_mean", "The same for the control.", "number", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m("abs_lift", "mean − control_mean.", "number", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m("lift", "Relative lift (mean − control_mean) / control_mean.", "ratio", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m("ci_low", "Lower end of the relative lift's interval.", "ratio", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m("ci_high", "Upper end of the relative lift's interval.", "ratio", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m("p_value", "Two-sided p-value (frequentist engine).", "probability", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m(
        "chance_to_win",
        "Posterior P(lift > 0) (Bayesian engine).",
        "probability",
        _EXP_GRAIN,
        _EXP,
        EXPERIMENTS,
    ),
    _m(
        "risk",
        "Expected relative loss of shipping the variation (Bayesian).",
        "ratio",
        _EXP_GRAIN,
        _EXP,
        EXPERIMENTS,
    ),
    _m("cuped_lift", "CUPED-adjusted relative lift.", "ratio", _EXP_GRAIN, _EXP, EXPERIMENTS),
    _m(
        "srm_p_value",
        "Sample-ratio-mismatch p-value (chi-square against equal weights).",
        "probability",
        _EXP_GRAIN,
        _EXP,
        EXPERIMENTS,
    ),
]

_BY_ENDPOINT: dict[str, dict[str, Metric]] = {}
for _metric in CATALOG:
    _BY_ENDPOINT.setdefault(_metric.endpoint, {})[_metric.name] = _metric


def metrics_of(endpoint: str) -> dict[str, Metric]:
    """The metrics of ``endpoint`` by name, in catalog order."""
    for owner, shared in SHARED_ENDPOINTS.items():
        if endpoint in shared:
            endpoint = owner
    return _BY_ENDPOINT[endpoint]


def select(endpoint: str, requested: list[str] | None) -> list[str]:
    """The metric names to compute: ``requested`` in catalog order, or all of them when empty.

    Raises UnknownMetric naming the unknown ones and listing the valid ones."""
    known = metrics_of(endpoint)
    if not requested:
        return list(known)
    unknown = [name for name in requested if name not in known]
    if unknown:
        shown = ", ".join(repr(name[:60]) for name in unknown[:5])
        raise UnknownMetric(f"unknown metric(s) for {endpoint}: {shown}; valid metrics: {', '.join(known)}")
    wanted = set(requested)
    return [name for name in known if name in wanted]


def unit_of(endpoint: str, name: str) -> str:
    return metrics_of(endpoint)[name].unit
