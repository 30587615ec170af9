"""Web-store users and the timeline of their sessions over the window.

Each user first visits at a time drawn uniformly over the whole window (``FIRST_VISIT_WINDOW_SHARE``
of its days), so every cohort gets new users, and keeps coming back (a session every
``PROSPECT_SESSION_GAP_DAYS`` on average) until a session ends in an order or they give up. That
first order is the customer's birth. From then on, purchases follow the BG/NBD process (Fader,
Hardie & Lee 2005): exponential gaps with the customer's rate lambda, and after each repeat
purchase the customer drops out with probability p. Order values follow the Gamma-Gamma model:
each customer has a rate nu and every order value is Gamma(p, nu). A live customer also visits
without buying. A customer born late in the window is observed for a shorter time (a smaller T),
which the BG/NBD likelihood accounts for.

Users have one or two devices (one anonymousId each); each device logs in (identify) at some
session no later than its first checkout, and only from then on do its events carry the userId.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .params import (
    BGNBD,
    BROWSE_RATE_BASE,
    BROWSE_RATE_PER_PURCHASE_RATE,
    EXPERIMENT,
    FIRST_VISIT_WINDOW_SHARE,
    GAMMA_GAMMA,
    MOBILE_SHARE,
    PLUS_PLAN_SHARE,
    PROSPECT_GIVE_UP,
    PROSPECT_SESSION_GAP_DAYS,
    REFUND_DELAY_DAYS,
    REFUND_SHARE,
    SECOND_DEVICE_SHARE,
)
from .streams import stream, uuid_strings
from .web_sessions import (
    CHECKOUT,
    DAY,
    ORDERED,
    Device,
    SessionFactory,
    WebSession,
    WebUser,
    to_seconds,
)

SESSION_GAP = 3600  # seconds between the end of a user's session and the start of the next
PRIMARY_DEVICE_SHARE = 0.7  # of a two-device user's sessions
LOGIN_PER_SESSION = 0.4  # chance a device logs in at a session (at the latest before checkout)

DESKTOP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
)
MOBILE_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
)


@dataclass(frozen=True)
class Refund:
    at: int  # seconds since the window start
    user_id: str
    order_id: str
    amount_cents: int


@dataclass(frozen=True)
class WebPlan:
    users: tuple[WebUser, ...]
    sessions: list[WebSession]  # sorted by start
    refunds: list[Refund]  # sorted by time


def variation_of(user_id: str) -> str:
    """Deterministic 50/50 (``EXPERIMENT.treatment_share``) assignment by a hash of the userId."""
    digest = hashlib.sha256(f"{EXPERIMENT.experiment_id}:{user_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 10_000
    return (
        EXPERIMENT.variations[1] if bucket < EXPERIMENT.treatment_share * 10_000 else EXPERIMENT.variations[0]
    )


def random_devices(rng: np.random.Generator, n: int, mobile: np.ndarray) -> list[Device]:
    """``n`` devices with their own anonymousId, user agent and (documentation-range) IP."""
    ids = uuid_strings(rng, n)
    agent = rng.integers(0, 4, size=n)
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113"], size=n)
    host = rng.integers(1, 255, size=n)
    return [
        Device(
            ids[i],
            bool(mobile[i]),
            (MOBILE_AGENTS if mobile[i] else DESKTOP_AGENTS)[agent[i]],
            f"{net[i]}.{host[i]}",
        )
        for i in range(n)
    ]


def build_users(seed: int, n_users: int, days: int) -> tuple[WebUser, ...]:
    rng = stream(seed, "web-users")
    rate = rng.gamma(BGNBD.r, 1 / BGNBD.alpha, n_users)
    dropout = rng.beta(BGNBD.a, BGNBD.b, n_users)
    spend_rate = rng.gamma(GAMMA_GAMMA.q, 1 / GAMMA_GAMMA.v, n_users)
    first_visit = rng.uniform(0, FIRST_VISIT_WINDOW_SHARE * days, n_users)
    plus = rng.random(n_users) < PLUS_PLAN_SHARE
    second = rng.random(n_users) < SECOND_DEVICE_SHARE
    primary_mobile = rng.random(n_users) < MOBILE_SHARE
    primary = random_devices(rng, n_users, primary_mobile)
    secondary = random_devices(rng, n_users, ~primary_mobile)
    width = max(5, len(str(n_users)))
    users = []
    for i in range(n_users):
        user_id = f"user-{i + 1:0{width}d}"
        users.append(
            WebUser(
                index=i,
                user_id=user_id,
                email=f"customer{i + 1}@example.com",
                plan="plus" if plus[i] else "free",
                variation=variation_of(user_id),
                devices=(primary[i], secondary[i]) if second[i] else (primary[i],),
                purchase_rate=float(rate[i]),
                dropout=float(dropout[i]),
                spend_rate=float(spend_rate[i]),
                first_visit=float(first_visit[i]),
            )
        )
    return tuple(users)


def purchase_to_browse_ratio() -> float:
    """Expected repeat purchases per non-buying session of a live customer."""
    mean_rate = BGNBD.r / BGNBD.alpha
    return mean_rate / (BROWSE_RATE_PER_PURCHASE_RATE * mean_rate + BROWSE_RATE_BASE)


def plan_web_sessions(seed: int, catalog: Catalog, users: tuple[WebUser, ...], days: int) -> WebPlan:
    """Every user's sessions, with order ids (in time order) and the refunds that follow."""
    rng = stream(seed, "web-timelines")
    factory = SessionFactory(catalog, purchase_to_browse_ratio())
    end = days * DAY
    sessions: list[WebSession] = []
    for user in users:
        sessions += _user_sessions(rng, factory, user, days, end)
    sessions.sort(key=lambda s: (s.start, s.owner.index))

    refunds = []
    refund_rng = stream(seed, "web-refunds")
    orders = [s for s in sessions if s.stage == ORDERED]
    refunded = refund_rng.random(len(orders)) < REFUND_SHARE
    delay = refund_rng.uniform(*REFUND_DELAY_DAYS, size=len(orders))
    for n, session in enumerate(orders):
        session.order_id = f"W{100_001 + n}"
        at = session.start + session.max_duration + int(delay[n] * DAY)
        if refunded[n] and at < end:
            refunds.append(Refund(at, session.owner.user_id, session.order_id, session.revenue_cents))
    refunds.sort(key=lambda r: (r.at, r.order_id))
    return WebPlan(users, sessions, refunds)


def _order_value_cents(rng: np.random.Generator, user: WebUser) -> int:
    return max(1, round(100 * rng.gamma(GAMMA_GAMMA.p, 1 / user.spend_rate)))


def _user_sessions(rng, factory: SessionFactory, user: WebUser, days: int, end: int) -> list[WebSession]:
    n_devices = len(user.devices)

    def device() -> Device:
        if n_devices == 1 or rng.random() < PRIMARY_DEVICE_SHARE:
            return user.devices[0]
        return user.devices[1]

    # before the first purchase: sessions until one ends in an order or the visitor gives up
    planned: list[tuple[float, WebSession]] = []
    t = user.first_visit
    birth = None
    while t < days:
        session = factory.prospect(rng, 0, user, device(), _order_value_cents(rng, user))
        planned.append((t, session))
        if session.stage == ORDERED:
            birth = t
            break
        if rng.random() < PROSPECT_GIVE_UP:
            break
        t += rng.exponential(PROSPECT_SESSION_GAP_DAYS)

    if birth is not None:
        # repeat purchases (BG/NBD), then visits without a purchase while alive
        alive_until = float(days)
        t = birth
        while True:
            t += rng.exponential(1 / user.purchase_rate)
            if t >= days:
                break
            planned.append((t, factory.purchase(rng, 0, user, device(), _order_value_cents(rng, user))))
            if rng.random() < user.dropout:
                alive_until = t
                break
        browse_rate = BROWSE_RATE_PER_PURCHASE_RATE * user.purchase_rate + BROWSE_RATE_BASE
        n_browse = rng.poisson(browse_rate * (alive_until - birth))
        for t in np.sort(rng.uniform(birth, alive_until, n_browse)):
            planned.append((float(t), factory.browse(rng, 0, user, device())))

    planned.sort(key=lambda item: item[0])
    starts = to_seconds(np.array([t for t, _ in planned]))
    kept: list[WebSession] = []
    earliest = 0
    for start, (_, session) in zip(starts, planned):
        session.start = max(int(start), earliest)
        if session.start + session.max_duration >= end:
            break
        earliest = session.start + session.max_duration + SESSION_GAP
        kept.append(session)
    _assign_logins(rng, user, kept)
    return kept


def _assign_logins(rng: np.random.Generator, user: WebUser, sessions: list[WebSession]) -> None:
    """Each device logs in once: at a random session, at the latest its first checkout (or its
    last session). Sessions from the login on carry the userId."""
    for device in user.devices:
        mine = [s for s in sessions if s.device is device]
        if not mine:
            continue
        checkouts = [i for i, s in enumerate(mine) if s.stage >= CHECKOUT]
        login = min(int(rng.geometric(LOGIN_PER_SESSION)) - 1, len(mine) - 1, *checkouts[:1])
        mine[login].identify = True
        for s in mine[login:]:
            s.logged_in = True
