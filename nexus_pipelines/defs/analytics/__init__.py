"""Python analytics assets: SQL aggregates in, statistics in lib/analytics, COPY out.

``analytics_assets`` go into the root Definitions; ``analytics_checks`` are their asset checks.
"""

from .attribution import channel_attribution
from .checks import attribution_credits_balance, clv_fit_is_current, sample_ratio_mismatch
from .clv import clv_model, customer_ltv
from .cohorts import cohort_retention
from .engagement import user_engagement
from .experiments import experiment_results
from .store_summary import store_daily_summary

analytics_assets = [
    store_daily_summary,
    cohort_retention,
    channel_attribution,
    user_engagement,
    clv_model,
    customer_ltv,
    experiment_results,
]
analytics_checks = [sample_ratio_mismatch, attribution_credits_balance, clv_fit_is_current]
