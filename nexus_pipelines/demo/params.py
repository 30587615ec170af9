"""The planted parameters: the behaviour the analytics are expected to find again.

Everything here is written to ``truth.json`` (see ``planted_parameters``), so that a test can
compare an estimate with the value that produced the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# --- Amazon demand -------------------------------------------------------------------------
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKLY_SEASONALITY = (1.0, 1.0, 1.0, 1.0, 1.0, 1.3, 1.3)  # demand multiplier, Monday first
TREND_PER_DAY = 0.001  # demand multiplier 1 + TREND_PER_DAY * day index (linear)
LINES_PER_ORDER = {1: 0.80, 2: 0.15, 3: 0.05}  # before merging repeated SKUs of one order
UNITS_PER_LINE = {1: 0.85, 2: 0.12, 3: 0.03}

# --- Amazon order lifecycle ----------------------------------------------------------------
CANCELLED_AT_ORDER = 0.02  # share of orders cancelled in their first file
PENDING_AT_ORDER = 0.10  # share of orders still Pending in their first file
PENDING_AT_ORDER_LAST_DAY = 0.45  # the newest file holds many not-yet-shipped orders
PENDING_LATER_CANCELLED = 0.10  # Pending orders cancelled (rather than shipped) the next day
PROMOTION_SHARE = 0.07  # order lines with an item-promotion-discount
PROMOTION_TIERS = {"NX-SAVE10": 0.10, "NX-SAVE15": 0.15, "NX-SPRING20": 0.20}
BUSINESS_ORDER_SHARE = 0.02

# --- Amazon returns ------------------------------------------------------------------------
RETURN_RATE_RANGE = (0.02, 0.06)  # per-SKU probability that a shipped line is returned
HIGH_RETURN_SKU_COUNT = 2
HIGH_RETURN_MULTIPLIER = 3.5  # x the mean of RETURN_RATE_RANGE
RETURN_LAG_DAYS = (3, 45)  # days from purchase to return: 3 + Gamma(2, 6), clipped
RETURN_REASONS = {
    "UNWANTED_ITEM": 0.30,
    "DEFECTIVE": 0.16,
    "NOT_AS_DESCRIBED": 0.14,
    "ORDERED_WRONG_ITEM": 0.10,
    "FOUND_BETTER_PRICE": 0.08,
    "QUALITY_UNACCEPTABLE": 0.08,
    "MISSED_ESTIMATED_DELIVERY": 0.05,
    "DAMAGED_BY_CARRIER": 0.05,
    "SWITCHEROO": 0.02,
    "NO_REASON_GIVEN": 0.02,
}
DISPOSITIONS = {  # for all reasons but the product-fault ones below
    "SELLABLE": 0.70,
    "CUSTOMER_DAMAGED": 0.12,
    "DAMAGED": 0.07,
    "CARRIER_DAMAGED": 0.06,
    "DEFECTIVE": 0.04,
    "EXPIRED": 0.01,
}
PRODUCT_FAULT_REASONS = ("DEFECTIVE", "QUALITY_UNACCEPTABLE")
PRODUCT_FAULT_DISPOSITIONS = {
    "DEFECTIVE": 0.60,
    "SELLABLE": 0.20,
    "CUSTOMER_DAMAGED": 0.10,
    "DAMAGED": 0.10,
}

# --- FBA inventory -------------------------------------------------------------------------
INITIAL_COVER_DAYS = (30, 60)  # starting stock of a normal SKU, in days of demand
REORDER_COVER_DAYS = 22  # reorder when stock + inbound falls below this many days of demand
ORDER_COVER_DAYS = 40  # a replenishment shipment holds this many days of demand
INBOUND_STAGE_DAYS = {"working": (2, 4), "shipped": (4, 9), "receiving": (2, 4)}
RESERVED_SHARE = 0.01  # of sellable units held as reserved (FC processing) on a snapshot
REMOVAL_EVERY_DAYS = 30  # unsellable units are removed on this cadence
STOCKOUT_SKUS_PER_STORE = 2  # planted supplier delays
STOCKOUT_PLAN = {"runs_out_at_share_of_window": (0.15, 0.5), "delay_days": (4, 9)}


# --- Web store customers -------------------------------------------------------------------
@dataclass(frozen=True)
class BgNbd:
    """Purchase rate lambda ~ Gamma(shape r, rate alpha) per day; dropout p ~ Beta(a, b)."""

    r: float = 0.6
    alpha: float = 30.0
    a: float = 0.8
    b: float = 4.0


@dataclass(frozen=True)
class GammaGamma:
    """Order value ~ Gamma(shape p, rate nu) with nu ~ Gamma(shape q, rate v) per customer."""

    p: float = 6.0
    q: float = 4.0
    v: float = 25.0


BGNBD = BgNbd()
GAMMA_GAMMA = GammaGamma()
# first visits are spread uniformly over this share of the window's days (1.0: the whole window,
# so that every monthly or weekly cohort gets new users; later cohorts have fewer days to return)
FIRST_VISIT_WINDOW_SHARE = 1.0
PROSPECT_SESSION_GAP_DAYS = 2.0  # mean days between sessions before the first purchase
PROSPECT_GIVE_UP = 0.08  # chance a visitor stops coming after a session without a purchase
BROWSE_RATE_PER_PURCHASE_RATE = 1.5  # non-buying sessions of a live customer: 1.5 lambda
BROWSE_RATE_BASE = 0.02  # + 0.02 per day
FUNNEL = {  # step probabilities in a visitor's session before the first purchase
    "product_viewed": 0.80,
    "product_added_given_viewed": 0.35,  # x the channel's conversion multiplier
    "checkout_started_given_added": 0.60,
    "order_completed_given_checkout": 0.50,  # control; the treatment adds the lift
}
BROWSING_FUNNEL = {"product_viewed": 0.70, "product_added_given_viewed": 0.15}
ANONYMOUS_FUNNEL = {"product_viewed": 0.50, "product_added_given_viewed": 0.08}
ANONYMOUS_SESSIONS_PER_USER_PER_DAY = 0.02  # visitors who never log in (events_per_day=None)
SECOND_DEVICE_SHARE = 0.25
MOBILE_SHARE = 0.55
PLUS_PLAN_SHARE = 0.30
RESEND_SHARE = 0.005  # events sent twice: same messageId, same payload
REFUND_SHARE = 0.04  # web orders followed by an Order Refunded event
REFUND_DELAY_DAYS = (2, 20)
WEB_CURRENCY = "USD"


@dataclass(frozen=True)
class Experiment:
    experiment_id: str = "checkout-redesign"
    variations: tuple[str, str] = ("control", "treatment")
    treatment_share: float = 0.5  # by a hash of the userId
    relative_lift: float = 0.15  # of P(Order Completed | Checkout Started) in the session


EXPERIMENT = Experiment()


def planted_parameters() -> dict:
    """The planted behaviour as plain data for truth.json (channels are added by the caller)."""
    control = FUNNEL["order_completed_given_checkout"]
    return {
        "amazon": {
            "weekly_seasonality": dict(zip(WEEKDAYS, WEEKLY_SEASONALITY)),
            "trend_per_day": TREND_PER_DAY,
            "lines_per_order": LINES_PER_ORDER,
            "units_per_line": UNITS_PER_LINE,
            "cancelled_at_order": CANCELLED_AT_ORDER,
            "pending_at_order": PENDING_AT_ORDER,
            "pending_at_order_last_day": PENDING_AT_ORDER_LAST_DAY,
            "pending_later_cancelled": PENDING_LATER_CANCELLED,
            "promotion_share": PROMOTION_SHARE,
            "promotion_tiers": PROMOTION_TIERS,
            "business_order_share": BUSINESS_ORDER_SHARE,
            "return_rate_range": list(RETURN_RATE_RANGE),
            "high_return_multiplier": HIGH_RETURN_MULTIPLIER,
            "return_lag_days": list(RETURN_LAG_DAYS),
            "return_reasons": RETURN_REASONS,
            "dispositions": DISPOSITIONS,
            "product_fault_reasons": list(PRODUCT_FAULT_REASONS),
            "product_fault_dispositions": PRODUCT_FAULT_DISPOSITIONS,
            "inventory": {
                "initial_cover_days": list(INITIAL_COVER_DAYS),
                "reorder_cover_days": REORDER_COVER_DAYS,
                "order_cover_days": ORDER_COVER_DAYS,
                "inbound_stage_days": {k: list(v) for k, v in INBOUND_STAGE_DAYS.items()},
                "reserved_share": RESERVED_SHARE,
                "removal_every_days": REMOVAL_EVERY_DAYS,
                "stockout_plan": {k: list(v) for k, v in STOCKOUT_PLAN.items()},
            },
        },
        "web": {
            "bgnbd": {**asdict(BGNBD), "time_unit": "days"},
            "gamma_gamma": {**asdict(GAMMA_GAMMA), "currency": WEB_CURRENCY},
            "first_visit_window_share": FIRST_VISIT_WINDOW_SHARE,
            "prospect_session_gap_days": PROSPECT_SESSION_GAP_DAYS,
            "prospect_give_up": PROSPECT_GIVE_UP,
            "browse_rate": {
                "per_purchase_rate": BROWSE_RATE_PER_PURCHASE_RATE,
                "base_per_day": BROWSE_RATE_BASE,
            },
            "funnel": FUNNEL,
            "browsing_funnel": BROWSING_FUNNEL,
            "anonymous_funnel": ANONYMOUS_FUNNEL,
            "second_device_share": SECOND_DEVICE_SHARE,
            "mobile_share": MOBILE_SHARE,
            "resend_share": RESEND_SHARE,
            "refund_share": REFUND_SHARE,
            "experiment": {
                "experiment_id": EXPERIMENT.experiment_id,
                "variations": list(EXPERIMENT.variations),
                "treatment_share": EXPERIMENT.treatment_share,
                "assignment": "sha256('checkout-redesign:' + userId), first 8 bytes mod 10000 "
                "< treatment_share * 10000 -> treatment",
                "exposure": "Experiment Viewed fires just before Checkout Started in the "
                "sessions of users who have not purchased yet",
                "metric": "P(Order Completed in the same session | Checkout Started) in exposed sessions",
                "control_rate": control,
                "treatment_rate": round(control * (1 + EXPERIMENT.relative_lift), 6),
                "relative_lift": EXPERIMENT.relative_lift,
            },
        },
    }
