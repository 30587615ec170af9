"""Segment-spec events (analytics.js style) of planned web sessions, serialised as JSON lines.

``SessionRenderer`` turns a ``WebSession`` into page / identify / track events with
``context.page``, ``context.campaign`` (UTM tags, kept for the whole session), ``context.ip``
and ``context.userAgent``. ``finish_day`` takes the events whose timestamp falls on one UTC day
(a session that crosses midnight lands in two files), gives them messageIds, sentAt and
receivedAt, and adds the planted re-sends.
"""

from __future__ import annotations

import json
from collections import defaultdict
from operator import itemgetter

import numpy as np

from .catalog import Catalog, Product
from .customers import Refund
from .params import EXPERIMENT, RESEND_SHARE, WEB_CURRENCY
from .streams import uuid_strings
from .web_sessions import ADDED, CHECKOUT, MAX_EVENT_GAP, ORDERED, WebSession
from .writers import Clock

SITE = "https://shop.example.com"
SHOP = "Demo Outdoor Co."
SEARCH_TERMS = ("tent", "sleeping bag", "headlamp", "rain jacket", "water filter", "stove")
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.3.2"}
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _amount(cents: int) -> float:
    return round(cents / 100, 2)


class SessionRenderer:
    def __init__(self, catalog: Catalog):
        self.products = catalog.products
        self.categories = sorted({p.category for p in catalog.products})

    def _page(self, rng, kind: str, product: Product | None = None, query: str = "") -> dict:
        """``context.page`` of a page of the shop, without the referrer."""
        search = query
        if kind == "home":
            path, title = "/", f"{SHOP} | Gear for every trail"
        elif kind == "collection":
            category = self.categories[rng.integers(len(self.categories))]
            path, title = (
                f"/collections/{category}",
                f"{category.replace('-', ' ').title()} | {SHOP}",
            )
        elif kind == "sale":
            path, title = "/sale", f"Sale | {SHOP}"
        elif kind == "search":
            term = SEARCH_TERMS[rng.integers(len(SEARCH_TERMS))]
            path, title = "/search", f"Search: {term} | {SHOP}"
            search = f"?q={term.replace(' ', '+')}" + (query.replace("?", "&") if query else "")
        elif kind == "product":
            assert product is not None, "a product page needs its product"
            path, title = f"/products/{product.slug}", f"{product.title} | {SHOP}"
        elif kind == "cart":
            path, title = "/cart", f"Your cart | {SHOP}"
        elif kind == "checkout":
            path, title = "/checkout", f"Checkout | {SHOP}"
        else:
            path, title = "/checkout/thank-you", f"Thank you | {SHOP}"
        return {"path": path, "search": search, "title": title, "url": SITE + path + search}

    def render(self, rng: np.random.Generator, session: WebSession) -> list[tuple[int, dict]]:
        """The session's events as (timestamp in seconds, event); messageId, sentAt and
        receivedAt are added when the day is written."""
        events: list[tuple[int, dict]] = []
        gaps = 1 + np.minimum(rng.gamma(2.0, 12.0, size=session.event_count).astype(int), MAX_EVENT_GAP - 1)
        t = session.start
        user_id = session.owner.user_id if session.logged_in and not session.identify else None
        campaign = session.campaign.context() if session.campaign else None
        current_page: dict = {}
        referrer = session.referrer

        def emit(event: dict) -> None:
            nonlocal t
            if events:
                t += int(gaps[len(events)])
            context = {
                "ip": session.device.ip,
                "userAgent": session.device.user_agent,
                "page": current_page,
            }
            if campaign:
                context["campaign"] = campaign
            event.update({"userId": user_id, "anonymousId": session.device.anonymous_id, "context": context})
            events.append((t, event))

        def page(name: str, kind: str, product: Product | None = None, query: str = "") -> None:
            nonlocal current_page, referrer
            current_page = {**self._page(rng, kind, product, query), "referrer": referrer}
            referrer = current_page["url"]
            properties = {
                "path": current_page["path"],
                "title": current_page["title"],
                "url": current_page["url"],
            }
            emit({"type": "page", "name": name, "properties": properties})

        def track(name: str, properties: dict) -> None:
            emit({"type": "track", "event": name, "properties": properties})

        landing_names = {
            "home": "Home",
            "collection": "Collection",
            "sale": "Sale",
            "search": "Search",
        }
        utm = session.campaign.utm_query() if session.campaign else ""
        page(landing_names[session.landing], session.landing, query=utm)
        if session.identify:
            user_id = session.owner.user_id
            emit(
                {
                    "type": "identify",
                    "traits": {"email": session.owner.email, "plan": session.owner.plan},
                }
            )
        for _ in range(session.browse_pages):
            kind = "collection" if rng.random() < 0.7 else "search"
            page(landing_names[kind], kind)
        cart_prices = {line.product: line.unit_cents for line in session.cart}
        for k in session.viewed:
            product = self.products[k]
            page("Product", "product", product)
            track(
                "Product Viewed",
                self._product(product, cart_prices.get(k, product.list_price_cents)),
            )
        if session.stage >= ADDED:
            for line in session.cart:
                item = self._product(self.products[line.product], line.unit_cents)
                track("Product Added", {**item, "quantity": line.quantity})
            page("Cart", "cart")
        if session.stage >= CHECKOUT:
            page("Checkout", "checkout")
            if session.exposed:
                track(
                    "Experiment Viewed",
                    {
                        "experiment_id": EXPERIMENT.experiment_id,
                        "variation_id": session.owner.variation,
                    },
                )
            value = sum(line.unit_cents * line.quantity for line in session.cart)
            track(
                "Checkout Started",
                {
                    "value": _amount(value),
                    "currency": WEB_CURRENCY,
                    "products": self._lines(session),
                },
            )
        if session.stage == ORDERED:
            track(
                "Order Completed",
                {
                    "order_id": session.order_id,
                    "revenue": _amount(session.revenue_cents),
                    "currency": WEB_CURRENCY,
                    "products": self._lines(session),
                },
            )
            page("Order Confirmation", "thank-you")
        return events

    @staticmethod
    def _product(product: Product, price_cents: int) -> dict:
        return {
            "product_id": product.asin,
            "sku": product.sku,
            "name": product.title,
            "category": product.category,
            "price": _amount(price_cents),
            "currency": WEB_CURRENCY,
        }

    def _lines(self, session: WebSession) -> list[dict]:
        return [
            {
                "product_id": self.products[line.product].asin,
                "sku": self.products[line.product].sku,
                "price": _amount(line.unit_cents),
                "quantity": line.quantity,
            }
            for line in session.cart
        ]


def refund_event(refund: Refund) -> tuple[int, dict]:
    """A server-side Order Refunded event (userId only, no page)."""
    return refund.at, {
        "type": "track",
        "event": "Order Refunded",
        "userId": refund.user_id,
        "anonymousId": None,
        "properties": {
            "order_id": refund.order_id,
            "total": _amount(refund.amount_cents),
            "revenue": _amount(refund.amount_cents),
            "currency": WEB_CURRENCY,
        },
        "context": {"library": SERVER_LIBRARY},
    }


def finish_day(
    rng: np.random.Generator,
    clock: Clock,
    events: list[tuple[int, int, dict]],
) -> tuple[list[str], np.ndarray]:
    """Serialise one day's ``(timestamp, sequence, event)`` items into lines.

    Returns the lines, in timestamp order with each planted re-send (an exact copy) placed
    somewhere after its original, and a mask of the lines that are a re-send or its original.
    """
    events = sorted(events, key=itemgetter(0, 1))
    n = len(events)
    ids = uuid_strings(rng, n)
    at = np.array([e[0] for e in events], dtype=np.int64)
    sent = at + rng.integers(0, 3, size=n)
    received = sent + rng.integers(1, 4, size=n)
    times, sent_times, received_times = (
        clock.timestamps(at),
        clock.timestamps(sent),
        clock.timestamps(received),
    )
    lines = [
        _encode(
            {
                "type": event["type"],
                "messageId": ids[i],
                "timestamp": times[i],
                "sentAt": sent_times[i],
                "receivedAt": received_times[i],
                **event,
            }
        )
        for i, (_, _, event) in enumerate(events)
    ]

    resent = np.flatnonzero(rng.random(n) < RESEND_SHARE)
    copies_at: dict[int, list[int]] = defaultdict(list)
    for original in resent:
        copies_at[int(rng.integers(original, n))].append(int(original))
    originals = set(resent.tolist())
    out: list[str] = []
    in_pair: list[bool] = []
    for i, line in enumerate(lines):
        out.append(line)
        in_pair.append(i in originals)
        for copy_of in copies_at.get(i, ()):
            out.append(lines[copy_of])
            in_pair.append(True)
    return out, np.array(in_pair, dtype=bool)
