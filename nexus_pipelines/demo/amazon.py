"""Day-by-day simulation of one Amazon store: orders, FBA stock, returns and the daily reports.

A day runs in this order: yesterday's Pending orders are resolved (cancelled units go back on
the shelf), today's returns arrive, shipments are received and replenishment ordered, the
inventory snapshot is taken, orders are drawn against the snapshot's fulfillable units, and the
returns of the shipped lines are scheduled for later days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from .amazon_files import inventory_rows, order_rows, return_rows
from .amazon_orders import CANCELLED, PENDING, SHIPPED, AmazonOrder, OrderBook
from .amazon_returns import CustomerReturn, draw_returns
from .catalog import Catalog, Store
from .inventory import FbaInventory
from .params import STOCKOUT_SKUS_PER_STORE, TREND_PER_DAY, WEEKLY_SEASONALITY
from .sales_traffic import DaySales, build_report
from .streams import stream
from .writers import Clock


@dataclass(frozen=True)
class AmazonDayFiles:
    orders: list[list[str]]
    inventory: list[list[str]]
    returns: list[list[str]]
    sales_traffic: dict


def expected_demand(store: Store, catalog: Catalog, start: date, days: int) -> np.ndarray:
    """Expected units ordered per day and SKU: base x weekly seasonality x linear trend."""
    weekday = np.array([(start + timedelta(days=d)).weekday() for d in range(days)])
    day_factor = np.asarray(WEEKLY_SEASONALITY)[weekday] * (1 + TREND_PER_DAY * np.arange(days))
    return store.units_per_day * np.outer(day_factor, catalog.demand_shares)


class AmazonStore:
    """One store's state across the window; ``step`` simulates a day and returns its files."""

    def __init__(self, seed: int, store: Store, catalog: Catalog, start: date, days: int):
        self.store = store
        self.products = catalog.products
        self.days = days
        self.expected = expected_demand(store, catalog, start, days)
        n_skus = len(self.products)
        traits = stream(seed, "amazon-traits", store.store_id)
        self.conversion = traits.uniform(0.08, 0.16, n_skus)
        self.buy_box = traits.uniform(90.0, 99.5, n_skus)
        high_return = {catalog.by_sku()[s].index for s in catalog.high_return_skus}
        popular = [
            k for k in np.argsort(-catalog.demand_shares)[: max(2, n_skus // 2)] if k not in high_return
        ]
        planted = np.sort(
            traits.choice(popular, size=min(STOCKOUT_SKUS_PER_STORE, len(popular)), replace=False)
        )
        self.inventory = FbaInventory(stream(seed, "inventory", store.store_id), self.expected, planted, days)
        prices = np.array([p.local_price_cents(store) for p in self.products], dtype=np.int64)
        self.book = OrderBook(stream(seed, "orders", store.store_id), store, prices, days)
        self.return_rates = np.array([p.return_rate for p in self.products])
        self.returns_rng = stream(seed, "returns", store.store_id)
        self.traffic_rng = stream(seed, "traffic", store.store_id)
        self.pending: list[AmazonOrder] = []
        self.scheduled_returns: dict[int, list[CustomerReturn]] = {}
        self.fulfillable = np.zeros((days, n_skus), dtype=np.int64)

    def step(self, day: int, clock: Clock) -> AmazonDayFiles:
        n_skus = len(self.products)
        restocked = np.zeros(n_skus, dtype=np.int64)
        damaged = np.zeros(n_skus, dtype=np.int64)
        for order in self.pending:
            if order.final_status == CANCELLED:
                for line in order.lines:
                    restocked[line.sku] += line.quantity
        returns = self.scheduled_returns.pop(day, [])
        for r in returns:
            (restocked if r.disposition == "SELLABLE" else damaged)[r.sku] += r.quantity
        self.inventory.start_day(day, restocked, damaged)
        snapshot = self.inventory.snapshot(day)
        self.fulfillable[day] = snapshot.fulfillable

        orders = self.book.draw_day(day, self.expected[day], snapshot.fulfillable)
        sold = np.zeros(n_skus, dtype=np.int64)
        for order in orders:
            if order.status != CANCELLED:
                for line in order.lines:
                    sold[line.sku] += line.quantity
        self.inventory.sell(sold)
        for r in draw_returns(self.returns_rng, self.store, orders, self.return_rates, self.days):
            self.scheduled_returns.setdefault(r.day, []).append(r)

        rows = []
        for order in self.pending:  # yesterday's Pending orders, now with their new status
            assert order.resolved_at is not None, "a Pending order carried over has its resolution time"
            rows += order_rows(order, order.final_status, order.resolved_at, self.store, self.products, clock)
        for order in orders:
            rows += order_rows(order, order.status, order.updated_at, self.store, self.products, clock)

        report = build_report(
            self.traffic_rng,
            self.store,
            clock.iso_date(day),
            self.products,
            self._day_sales(orders, returns),
            self.expected[day],
            self.conversion,
            self.buy_box,
            offers=int((snapshot.fulfillable > 0).sum()),
        )
        self.pending = [o for o in orders if o.status == PENDING and o.final_status != PENDING]
        return AmazonDayFiles(
            orders=rows,
            inventory=inventory_rows(snapshot, self.store, self.products),
            returns=return_rows(returns, self.products, clock),
            sales_traffic=report,
        )

    def _day_sales(self, orders: list[AmazonOrder], returns: list[CustomerReturn]) -> DaySales:
        n_skus = len(self.products)
        units = np.zeros(n_skus, dtype=np.int64)
        sales = np.zeros(n_skus, dtype=np.int64)
        items = np.zeros(n_skus, dtype=np.int64)
        counted = [o for o in orders if o.counts_as_sale]
        for order in counted:
            for line in order.lines:
                units[line.sku] += line.quantity
                sales[line.sku] += line.item_price_cents
                items[line.sku] += 1
        shipped = [o for o in orders if o.status == SHIPPED]
        shipped += [o for o in self.pending if o.final_status == SHIPPED]
        return DaySales(
            units=units,
            sales_cents=sales,
            items=items,
            orders=len(counted),
            shipped_sales_cents=sum(line.item_price_cents for o in shipped for line in o.lines),
            shipped_units=sum(line.quantity for o in shipped for line in o.lines),
            shipped_orders=len(shipped),
            refunded_units=sum(r.quantity for r in returns),
        )

    def stockout_episodes(self, clock: Clock) -> list[dict]:
        """Runs of days whose snapshot shows 0 fulfillable units, per SKU; an episode is planted
        when it starts before the delayed replenishment of a planted SKU arrives."""
        arrival = {p.sku: p.arrival_day for p in self.inventory.planted}
        episodes = []
        for k, product in enumerate(self.products):
            out = np.r_[False, self.fulfillable[:, k] == 0, False].astype(np.int8)
            edges = np.diff(out)
            for first, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
                episodes.append(
                    {
                        "store_id": self.store.store_id,
                        "sku": product.sku,
                        "first_date": clock.iso_date(int(first)),
                        "last_date": clock.iso_date(int(end) - 1),
                        "days": int(end - first),
                        "planted": bool(first < arrival.get(k, 0)),
                    }
                )
        return episodes

    def truth(self, clock: Clock) -> dict:
        return {
            "currency": self.store.currency,
            "skus": {
                p.sku: {
                    "price": p.local_price_cents(self.store) / 100,
                    "base_units_per_day": round(float(self.store.units_per_day * p.demand_share), 4),
                    "sessions_per_unit": round(float(1 / self.conversion[k]), 4),
                }
                for k, p in enumerate(self.products)
            },
            "planted_supplier_delays": [
                {
                    "sku": self.products[p.sku].sku,
                    "stock_planned_to_last_until": clock.iso_date(min(p.planned_runout_day, self.days - 1)),
                    "replenishment_received": (
                        clock.iso_date(p.arrival_day) if p.arrival_day < self.days else None
                    ),
                }
                for p in self.inventory.planted
            ],
        }
