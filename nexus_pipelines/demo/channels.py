"""Marketing channels of the web store: how sessions arrive, what they cost, how well they convert.

A session's channel shows in its events the way a real collector records it: UTM tags in
``context.campaign`` (and in the landing URL's query string) and the external referrer in
``context.page.referrer``. Direct sessions carry neither. Each channel has a planted conversion
multiplier on the step Product Viewed -> Product Added (the other funnel steps are the same for
every channel), so orders per session differ by channel in that proportion.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Campaign:
    name: str  # utm_campaign
    source: str  # utm_source
    medium: str  # utm_medium
    term: str | None = None  # utm_term (search keywords)
    cost_per_click: float = 0.0  # USD per click (CPC campaigns)
    daily_fee: float = 0.0  # USD per day (email platform)
    commission: float = 0.0  # share of attributed order revenue (affiliates)

    def utm_query(self) -> str:
        query = f"?utm_source={self.source}&utm_medium={self.medium}&utm_campaign={self.name}"
        if self.term:
            query += f"&utm_term={self.term.replace(' ', '+')}"
        return query

    def context(self) -> dict:
        out = {"source": self.source, "medium": self.medium, "name": self.name}
        if self.term:
            out["term"] = self.term
        return out


@dataclass(frozen=True)
class Channel:
    name: str  # the channel grouping of macros/channel_grouping.sql
    share: float  # share of sessions
    conversion_multiplier: float  # relative P(Product Added | Product Viewed); Direct = 1
    referrers: tuple[str, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    landing: tuple[str, ...] = ("home", "collection")  # landing page kinds to draw from


CLICKS_PER_SESSION = 1 / 0.85  # not every paid click lands as a tracked session

CHANNELS: tuple[Channel, ...] = (
    Channel("Direct", 0.22, 1.0, landing=("home", "home", "collection")),
    Channel(
        "Organic Search",
        0.20,
        1.1,
        referrers=("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"),
        landing=("collection", "home", "search"),
    ),
    Channel(
        "Paid Search",
        0.14,
        1.5,
        referrers=("https://www.google.com/",),
        campaigns=(
            Campaign("brand-search", "google", "cpc", "demo outdoor", cost_per_click=0.55),
            Campaign("generic-search", "google", "cpc", "camping gear", cost_per_click=1.20),
        ),
        landing=("collection", "search"),
    ),
    Channel(
        "Paid Social",
        0.12,
        0.6,
        referrers=("https://l.facebook.com/", "https://www.facebook.com/"),
        campaigns=(
            Campaign("fb-prospecting", "facebook", "paid_social", cost_per_click=0.80),
            Campaign("fb-retargeting", "facebook", "paid_social", cost_per_click=0.60),
        ),
        landing=("collection", "sale"),
    ),
    Channel(
        "Organic Social",
        0.07,
        0.5,
        referrers=("https://www.instagram.com/", "https://l.instagram.com/"),
        landing=("home", "collection"),
    ),
    Channel(
        "Email",
        0.09,
        1.8,
        campaigns=(
            Campaign("weekly-newsletter", "newsletter", "email", daily_fee=5.0),
            Campaign("winback", "newsletter", "email", daily_fee=3.0),
        ),
        landing=("sale", "collection"),
    ),
    Channel(
        "Affiliates",
        0.05,
        1.3,
        referrers=("https://www.outdoordeals.example/",),
        campaigns=(Campaign("partner-program", "outdoordeals", "affiliate", commission=0.10),),
        landing=("collection",),
    ),
    Channel(
        "Display",
        0.05,
        0.35,
        referrers=("https://googleads.g.doubleclick.net/",),
        campaigns=(Campaign("display-remarketing", "google", "display", cost_per_click=0.35),),
        landing=("home", "sale"),
    ),
    Channel(
        "Referral",
        0.06,
        0.9,
        referrers=(
            "https://www.reddit.com/r/CampingGear/",
            "https://trailblog.example.org/reviews/",
        ),
        landing=("collection", "home"),
    ),
)


def channels_truth() -> dict:
    """The planted channel definitions for truth.json."""
    return {
        c.name: {
            "share": c.share,
            "conversion_multiplier": c.conversion_multiplier,
            "referrers": list(c.referrers),
            "campaigns": [
                {
                    "name": k.name,
                    "source": k.source,
                    "medium": k.medium,
                    "term": k.term,
                    "cost_per_click": k.cost_per_click,
                    "clicks_per_session": (round(CLICKS_PER_SESSION, 6) if k.cost_per_click else None),
                    "daily_fee": k.daily_fee,
                    "commission": k.commission,
                }
                for k in c.campaigns
            ],
        }
        for c in CHANNELS
    }
