"""Amazon orders of one store and day, and how their status changes.

Orders arrive at random times of the day; each has one to three lines (SKUs drawn by their
demand share, repeated SKUs merged) and a quantity per line. Lines of a SKU are only accepted
while the day's fulfillable units last, so a stocked-out SKU sells nothing. An order is
Shipped, Cancelled or Pending in its first file; a Pending order shows up again in the next
day's file, Shipped or Cancelled, with a newer last-updated-date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Store
from .params import (
    BUSINESS_ORDER_SHARE,
    CANCELLED_AT_ORDER,
    LINES_PER_ORDER,
    PENDING_AT_ORDER,
    PENDING_AT_ORDER_LAST_DAY,
    PENDING_LATER_CANCELLED,
    PROMOTION_SHARE,
    PROMOTION_TIERS,
    UNITS_PER_LINE,
)

DAY = 86_400
SHIPPED, PENDING, CANCELLED = "Shipped", "Pending", "Cancelled"
UNITS_PER_ORDER = sum(k * p for k, p in LINES_PER_ORDER.items()) * sum(
    k * p for k, p in UNITS_PER_LINE.items()
)


@dataclass(frozen=True)
class OrderLine:
    sku: int
    quantity: int
    item_price_cents: int  # unit price x quantity
    discount_cents: int
    promotion_id: str


@dataclass(frozen=True)
class AmazonOrder:
    order_id: str
    purchased_at: int  # seconds since the window start
    updated_at: int  # last-updated-date in its first file
    status: str  # order-status in its first file
    final_status: str  # order-status in its newest file
    resolved_at: int | None  # last-updated-date in the next day's file (Pending orders)
    lines: tuple[OrderLine, ...]
    ship_service_level: str
    address: tuple[str, str, str]
    business: bool

    @property
    def counts_as_sale(self) -> bool:
        return self.final_status != CANCELLED


class OrderBook:
    """Draws the orders of one store, day by day, with unique order ids."""

    def __init__(self, rng: np.random.Generator, store: Store, prices_cents: np.ndarray, days: int):
        self.rng = rng
        self.store = store
        self.prices_cents = prices_cents
        self.days = days
        self.next_sequence = int(rng.integers(1_000_000, 2_000_000))
        self.lo, self.hi = (h * 3600 for h in store.safe_utc_hours)

    def draw_day(self, day: int, expected_units: np.ndarray, fulfillable: np.ndarray) -> list[AmazonOrder]:
        """The orders placed on ``day``; ``expected_units`` per SKU, capped by ``fulfillable``."""
        rng = self.rng
        n_skus = len(expected_units)
        n_orders = int(rng.poisson(expected_units.sum() / UNITS_PER_ORDER))
        if n_orders == 0:
            return []
        line_counts = rng.choice(list(LINES_PER_ORDER), p=list(LINES_PER_ORDER.values()), size=n_orders)
        order_of_line = np.repeat(np.arange(n_orders), line_counts)
        cumulative = np.cumsum(expected_units / expected_units.sum())
        skus = np.minimum(
            np.searchsorted(cumulative, rng.random(len(order_of_line)), side="right"), n_skus - 1
        )
        units = rng.choice(list(UNITS_PER_LINE), p=list(UNITS_PER_LINE.values()), size=len(skus))
        keys, inverse = np.unique(order_of_line * n_skus + skus, return_inverse=True)
        units = np.bincount(inverse, weights=units).astype(np.int64)
        order_of_line, skus = keys // n_skus, keys % n_skus
        accepted = _within_stock(order_of_line, skus, units, fulfillable)

        times = np.sort(rng.integers(self.lo, self.hi, size=n_orders)) + day * DAY
        status_draw = rng.random(n_orders)
        pending_share = PENDING_AT_ORDER_LAST_DAY if day == self.days - 1 else PENDING_AT_ORDER
        later_cancelled = rng.random(n_orders) < PENDING_LATER_CANCELLED
        update_delay = rng.integers(120, 8 * 3600, size=n_orders)
        resolve_time = rng.integers(0, DAY, size=n_orders) + (day + 1) * DAY
        levels = rng.choice(["Standard", "Expedited", "SecondDay"], p=[0.7, 0.25, 0.05], size=n_orders)
        address = rng.integers(0, len(self.store.addresses), size=n_orders)
        business = rng.random(n_orders) < BUSINESS_ORDER_SHARE
        promoted = rng.random(len(skus)) < PROMOTION_SHARE
        tier = rng.integers(0, len(PROMOTION_TIERS), size=len(skus))
        tiers = list(PROMOTION_TIERS.items())

        lines_by_order: dict[int, list[OrderLine]] = {}
        for i in np.flatnonzero(accepted):
            price = int(self.prices_cents[skus[i]] * units[i])
            promo, share = tiers[tier[i]] if promoted[i] else ("", 0.0)
            lines_by_order.setdefault(int(order_of_line[i]), []).append(
                OrderLine(int(skus[i]), int(units[i]), price, round(price * share), promo)
            )

        orders = []
        for o, lines in lines_by_order.items():
            if status_draw[o] < CANCELLED_AT_ORDER:
                status = final = CANCELLED
            elif status_draw[o] < CANCELLED_AT_ORDER + pending_share:
                status = PENDING
                final = PENDING if day == self.days - 1 else CANCELLED if later_cancelled[o] else SHIPPED
            else:
                status = final = SHIPPED
            purchased = int(times[o])
            orders.append(
                AmazonOrder(
                    order_id=self._new_order_id(),
                    purchased_at=purchased,
                    updated_at=min(purchased + int(update_delay[o]), (day + 1) * DAY - 1),
                    status=status,
                    final_status=final,
                    resolved_at=(int(resolve_time[o]) if status == PENDING and final != PENDING else None),
                    lines=tuple(lines),
                    ship_service_level=str(levels[o]),
                    address=self.store.addresses[address[o]],
                    business=bool(business[o]),
                )
            )
        return orders

    def _new_order_id(self) -> str:
        self.next_sequence += int(self.rng.integers(1, 10))
        tail = int(self.rng.integers(0, 10_000_000))
        return f"{self.store.order_id_prefix}-{self.next_sequence:07d}-{tail:07d}"


def _within_stock(
    order_of_line: np.ndarray, skus: np.ndarray, units: np.ndarray, fulfillable: np.ndarray
) -> np.ndarray:
    """Accept lines in order of arrival while each SKU's cumulative units fit its stock."""
    by_sku = np.lexsort((order_of_line, skus))
    sorted_units = units[by_sku]
    sorted_skus = skus[by_sku]
    running = np.cumsum(sorted_units)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_skus)) + 1]
    group_sizes = np.diff(np.r_[starts, len(sorted_units)])
    before_group = np.repeat(running[starts] - sorted_units[starts], group_sizes)
    accepted = np.empty(len(units), dtype=bool)
    accepted[by_sku] = running - before_group <= fulfillable[sorted_skus]
    return accepted
