"""Web-store sessions: who, when, from which channel, how far down the funnel, what was bought.

A ``WebSession`` is a plan; ``events.SessionRenderer`` turns it into Segment events. The plan
knows how many events it will produce, so the longest a session can last is known before its
events are drawn (consecutive events are at most ``MAX_EVENT_GAP`` seconds apart).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .channels import CHANNELS, Campaign, Channel
from .params import ANONYMOUS_FUNNEL, BROWSING_FUNNEL, EXPERIMENT, FUNNEL

DAY = 86_400
MAX_EVENT_GAP = 90  # seconds
BROWSE_PAGES_MEAN = 0.8  # extra collection/search pages per session (Poisson)
EXTRA_PRODUCTS_MEAN = 0.6  # products viewed beyond the first (Poisson)
# sessions started per UTC hour (the shop's customers are mostly in the Americas)
HOURLY_WEIGHTS = np.array(
    [6, 5, 4, 3, 2, 1.5, 1.2, 1, 1.2, 1.5, 2, 3, 4, 5, 6, 6.5, 7, 7, 7, 7.5, 8, 8, 7.5, 7]
)
_HOUR_CDF = np.r_[0.0, np.cumsum(HOURLY_WEIGHTS) / HOURLY_WEIGHTS.sum()]

# stages a session reaches
PAGES_ONLY, VIEWED, ADDED, CHECKOUT, ORDERED = range(5)


def to_seconds(day_time: np.ndarray | float) -> np.ndarray:
    """Continuous day numbers to whole seconds, keeping the day and the order within a day but
    moving times of day towards the busy hours of ``HOURLY_WEIGHTS``."""
    t = np.asarray(day_time, dtype=float)
    day = np.floor(t)
    hours = np.interp(t - day, _HOUR_CDF, np.arange(25))
    return (day * DAY + np.minimum(hours * 3600, DAY - 1)).astype(np.int64)


@dataclass(frozen=True)
class Device:
    anonymous_id: str
    mobile: bool
    user_agent: str
    ip: str


@dataclass(frozen=True)
class WebUser:
    index: int
    user_id: str
    email: str
    plan: str
    variation: str
    devices: tuple[Device, ...]
    purchase_rate: float  # BG/NBD lambda, purchases per day
    dropout: float  # BG/NBD p
    spend_rate: float  # Gamma-Gamma nu
    first_visit: float  # day number (continuous)


@dataclass(frozen=True)
class CartLine:
    product: int
    quantity: int
    unit_cents: int


@dataclass
class WebSession:
    kind: str  # prospect (before the first purchase), purchase, browse, anonymous
    start: int  # seconds since the window start
    user: WebUser | None
    device: Device
    channel: Channel
    campaign: Campaign | None
    referrer: str
    landing: str  # home, collection, sale or search
    browse_pages: int
    viewed: tuple[int, ...]
    cart: tuple[CartLine, ...]
    stage: int
    exposed: bool = False  # sees the checkout experiment
    identify: bool = False  # the device logs in during this session
    logged_in: bool = False  # events carry the userId (from the identify call on)
    order_id: str | None = None

    @property
    def owner(self) -> WebUser:
        """The user of a session that has one (every kind but anonymous)."""
        if self.user is None:
            raise ValueError(f"a {self.kind} session has no user")
        return self.user

    @property
    def revenue_cents(self) -> int:
        return sum(line.unit_cents * line.quantity for line in self.cart) if self.stage == ORDERED else 0

    @property
    def event_count(self) -> int:
        n = 1 + int(self.identify) + self.browse_pages + 2 * len(self.viewed)
        if self.stage >= ADDED:
            n += len(self.cart) + 1  # Product Added per line, cart page
        if self.stage >= CHECKOUT:
            n += int(self.exposed) + 2  # Experiment Viewed, checkout page, Checkout Started
        if self.stage == ORDERED:
            n += 2  # Order Completed, confirmation page
        return n

    @property
    def max_duration(self) -> int:
        return (self.event_count - 1) * MAX_EVENT_GAP


class SessionFactory:
    """Draws the content of sessions; all randomness comes from the given generator."""

    def __init__(self, catalog: Catalog, purchase_to_browse: float):
        self.shares = catalog.demand_shares
        self.share_cumulative = np.cumsum(self.shares).tolist()
        self.prices = np.array([p.list_price_cents for p in catalog.products])
        share = np.array([c.share for c in CHANNELS])
        power = np.array([c.conversion_multiplier for c in CHANNELS])
        session_mix = share / share.sum()
        # purchases of customers come through channels in proportion to share x multiplier;
        # their non-buying sessions are drawn so that all customer sessions keep the shares
        purchase_mix = session_mix * power / (session_mix * power).sum()
        browse_mix = np.maximum(session_mix * (1 + purchase_to_browse) - purchase_to_browse * purchase_mix, 0)
        self.session_cumulative = np.cumsum(session_mix).tolist()
        self.purchase_cumulative = np.cumsum(purchase_mix).tolist()
        self.browse_cumulative = np.cumsum(browse_mix).tolist()

    def expected_anonymous_events(self) -> float:
        viewed = ANONYMOUS_FUNNEL["product_viewed"]
        added = viewed * ANONYMOUS_FUNNEL["product_added_given_viewed"]
        return 1 + BROWSE_PAGES_MEAN + viewed * 2 * (1 + EXTRA_PRODUCTS_MEAN) + added * 2

    def _arrival(
        self, rng: np.random.Generator, mix: list[float]
    ) -> tuple[Channel, Campaign | None, str, str]:
        channel = CHANNELS[_pick(rng, mix)]
        campaign = channel.campaigns[rng.integers(len(channel.campaigns))] if channel.campaigns else None
        referrer = channel.referrers[rng.integers(len(channel.referrers))] if channel.referrers else ""
        landing = channel.landing[rng.integers(len(channel.landing))]
        return channel, campaign, referrer, landing

    def _viewed(self, rng: np.random.Generator, must_include: tuple[int, ...] = ()) -> tuple[int, ...]:
        """Distinct products by demand share, starting with ``must_include``."""
        n = max(min(1 + int(rng.poisson(EXTRA_PRODUCTS_MEAN)), len(self.shares)), len(must_include))
        chosen = list(must_include)
        while len(chosen) < n:
            k = _pick(rng, self.share_cumulative)
            if k not in chosen:
                chosen.append(k)
        return tuple(chosen)

    def _session(self, kind, rng, start, user, device, mix, stage_of, order_cents=0) -> WebSession:
        channel, campaign, referrer, landing = self._arrival(rng, mix)
        stage = stage_of(channel)
        viewed: tuple[int, ...] = ()
        cart: tuple[CartLine, ...] = ()
        if stage == ORDERED:
            cart = self.basket(rng, order_cents)
            viewed = self._viewed(rng, tuple(line.product for line in cart))
        elif stage >= VIEWED:
            viewed = self._viewed(rng)
            if stage >= ADDED:
                cart = (CartLine(viewed[0], 1, int(self.prices[viewed[0]])),)
        return WebSession(
            kind=kind,
            start=start,
            user=user,
            device=device,
            channel=channel,
            campaign=campaign,
            referrer=referrer,
            landing=landing,
            browse_pages=min(int(rng.poisson(BROWSE_PAGES_MEAN)), 4),
            viewed=viewed,
            cart=cart,
            stage=stage,
            exposed=kind == "prospect" and stage >= CHECKOUT,
        )

    def prospect(self, rng, start, user: WebUser, device: Device, order_cents: int) -> WebSession:
        """A session before the user's first purchase: the full funnel; channel and arm matter."""
        order_rate = FUNNEL["order_completed_given_checkout"]
        if user.variation == EXPERIMENT.variations[1]:
            order_rate *= 1 + EXPERIMENT.relative_lift

        def stage_of(channel: Channel) -> int:
            steps = (
                FUNNEL["product_viewed"],
                min(1.0, FUNNEL["product_added_given_viewed"] * channel.conversion_multiplier),
                FUNNEL["checkout_started_given_added"],
                order_rate,
            )
            return _stage(rng, steps)

        return self._session(
            "prospect", rng, start, user, device, self.session_cumulative, stage_of, order_cents
        )

    def purchase(self, rng, start, user: WebUser, device: Device, order_cents: int) -> WebSession:
        """A customer's repeat purchase (a BG/NBD transaction)."""
        return self._session(
            "purchase",
            rng,
            start,
            user,
            device,
            self.purchase_cumulative,
            lambda c: ORDERED,
            order_cents,
        )

    def browse(self, rng, start, user: WebUser, device: Device) -> WebSession:
        """A live customer's visit without a purchase."""
        steps = (BROWSING_FUNNEL["product_viewed"], BROWSING_FUNNEL["product_added_given_viewed"])
        return self._session(
            "browse", rng, start, user, device, self.browse_cumulative, lambda c: _stage(rng, steps)
        )

    def anonymous(self, rng, start, device: Device) -> WebSession:
        """A visitor who never logs in."""
        steps = (ANONYMOUS_FUNNEL["product_viewed"], ANONYMOUS_FUNNEL["product_added_given_viewed"])
        return self._session(
            "anonymous",
            rng,
            start,
            None,
            device,
            self.session_cumulative,
            lambda c: _stage(rng, steps),
        )

    def basket(self, rng: np.random.Generator, order_cents: int) -> tuple[CartLine, ...]:
        """Products worth about ``order_cents`` at list price, re-priced to exactly that value.

        Up to four products are picked by demand share among those that still fit the budget;
        the unit prices are then scaled by one factor (a cart-level discount or surcharge) so that
        the order's revenue equals the drawn Gamma-Gamma value to the cent (up to rounding).
        """
        remaining = order_cents
        chosen: dict[int, int] = {}
        for _ in range(4):
            fits = self.prices <= remaining * 1.25
            fits[list(chosen)] = False
            if not fits.any():
                break
            p = np.where(fits, self.shares, 0.0)
            k = int(rng.choice(len(p), p=p / p.sum()))
            quantity = int(min(4, max(1, round(remaining / self.prices[k]))))
            chosen[k] = quantity
            remaining -= quantity * self.prices[k]
            if remaining < 0.15 * order_cents:
                break
        if not chosen:
            chosen[int(np.argmin(self.prices))] = 1
        subtotal = sum(q * self.prices[k] for k, q in chosen.items())
        scale = order_cents / subtotal
        return tuple(CartLine(k, q, max(1, round(self.prices[k] * scale))) for k, q in chosen.items())


def _pick(rng: np.random.Generator, cumulative: list[float]) -> int:
    """An index drawn with the probabilities whose running sums are ``cumulative``."""
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def _stage(rng: np.random.Generator, step_probabilities: tuple[float, ...]) -> int:
    stage = PAGES_ONLY
    for p in step_probabilities:
        if rng.random() >= p:
            break
        stage += 1
    return stage
