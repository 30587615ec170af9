"""Daily marketing spend per paid channel and campaign, consistent with the tracked sessions.

CPC campaigns cost their clicks (sessions x ``CLICKS_PER_SESSION``) at the campaign's cost per
click with a little daily noise; email campaigns cost a flat daily platform fee; the affiliate
programme costs a commission on the revenue of the orders placed in its sessions.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .channels import CHANNELS, CLICKS_PER_SESSION
from .params import WEB_CURRENCY
from .web_sessions import WebSession
from .writers import money

SPEND_COLUMNS = ("date", "channel", "campaign", "spend", "currency")


def spend_rows(rng: np.random.Generator, date: str, sessions: list[WebSession]) -> list[list[str]]:
    """One row per paid campaign (every day, zero included) for the sessions started on ``date``."""
    visits = Counter(s.campaign.name for s in sessions if s.campaign)
    revenue: Counter[str] = Counter()
    for s in sessions:
        if s.campaign:
            revenue[s.campaign.name] += s.revenue_cents
    rows = []
    for channel in CHANNELS:
        for campaign in channel.campaigns:
            noise = rng.lognormal(0.0, 0.08)
            cents = (
                visits[campaign.name] * CLICKS_PER_SESSION * campaign.cost_per_click * 100 * noise
                + campaign.daily_fee * 100
                + campaign.commission * revenue[campaign.name]
            )
            rows.append([date, channel.name, campaign.name, money(round(cents)), WEB_CURRENCY])
    return rows
