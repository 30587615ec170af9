"""FBA stock of one store: sellable and unsellable units, inbound shipments, daily snapshots.

Each day: shipments finishing their receiving stage and sellable returns go back on the shelf,
damaged returns become unsellable (removed every ``REMOVAL_EVERY_DAYS``), a replenishment
shipment is created when stock plus inbound falls below the reorder point, and then the day's
snapshot is taken. Sales of the day can only use the snapshot's fulfillable units, so a SKU
whose snapshot shows 0 fulfillable sells nothing that day.

A few SKUs per store get a planted supplier delay: they start with stock for only part of the
window and their first replenishment arrives days after that stock is expected to run out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import (
    INBOUND_STAGE_DAYS,
    INITIAL_COVER_DAYS,
    ORDER_COVER_DAYS,
    REMOVAL_EVERY_DAYS,
    REORDER_COVER_DAYS,
    RESERVED_SHARE,
    STOCKOUT_PLAN,
)


@dataclass(frozen=True)
class Shipment:
    sku: int
    quantity: int
    shipped_day: int  # in "working" before this day
    receiving_day: int  # in "shipped" (in transit) before this day
    received_day: int  # in "receiving" before this day; sellable from this day on


@dataclass(frozen=True)
class Snapshot:
    """Per-SKU quantities of one day's Manage Inventory report."""

    fulfillable: np.ndarray
    unsellable: np.ndarray
    reserved: np.ndarray
    inbound_working: np.ndarray
    inbound_shipped: np.ndarray
    inbound_receiving: np.ndarray
    researching: np.ndarray

    @property
    def warehouse(self) -> np.ndarray:
        return self.fulfillable + self.unsellable + self.reserved

    @property
    def total(self) -> np.ndarray:
        return self.warehouse + self.inbound_working + self.inbound_shipped + self.inbound_receiving


@dataclass(frozen=True)
class PlantedDelay:
    sku: int
    planned_runout_day: int
    arrival_day: int


class FbaInventory:
    def __init__(
        self,
        rng: np.random.Generator,
        expected_units: np.ndarray,
        planted_skus: np.ndarray,
        days: int,
    ):
        """``expected_units[day, sku]``: the demand forecast the seller plans with."""
        self.rng = rng
        self.expected_units = expected_units
        n_skus = expected_units.shape[1]
        cover = rng.uniform(*INITIAL_COVER_DAYS, size=n_skus)
        self.sellable = np.ceil(expected_units[0] * cover).astype(np.int64)
        self.unsellable = np.zeros(n_skus, dtype=np.int64)
        self.shipments: list[Shipment] = []
        self.planted: list[PlantedDelay] = []
        for sku in planted_skus:
            self._plant_supplier_delay(int(sku), days)

    def _plant_supplier_delay(self, sku: int, days: int) -> None:
        lo, hi = STOCKOUT_PLAN["runs_out_at_share_of_window"]
        runout = max(2, round(self.rng.uniform(lo, hi) * days))
        first, last = STOCKOUT_PLAN["delay_days"]
        delay = int(self.rng.integers(int(first), int(last) + 1))
        arrival = runout + delay
        self.sellable[sku] = int(0.9 * self.expected_units[:runout, sku].sum())
        quantity = int(np.ceil(self.expected_units[0, sku] * ORDER_COVER_DAYS * 1.5))
        self.shipments.append(Shipment(sku, quantity, 2, max(3, arrival - 3), arrival))
        self.planted.append(PlantedDelay(sku, runout, arrival))

    def start_day(self, day: int, restocked: np.ndarray, damaged: np.ndarray) -> None:
        """Receive shipments, put back ``restocked`` units, add ``damaged`` to unsellable."""
        arriving = [s for s in self.shipments if s.received_day == day]
        for s in arriving:
            self.sellable[s.sku] += s.quantity
        self.shipments = [s for s in self.shipments if s.received_day > day]
        self.sellable += restocked
        self.unsellable += damaged
        if day % REMOVAL_EVERY_DAYS == REMOVAL_EVERY_DAYS - 1:
            self.unsellable[:] = 0
        self._replenish(day)

    def _inbound(self) -> np.ndarray:
        inbound = np.zeros_like(self.sellable)
        for s in self.shipments:
            inbound[s.sku] += s.quantity
        return inbound

    def _replenish(self, day: int) -> None:
        rate = self.expected_units[day]
        position = self.sellable + self._inbound()
        for sku in np.flatnonzero(position < rate * REORDER_COVER_DAYS):
            working, shipped, receiving = (
                int(self.rng.integers(lo, hi + 1)) for lo, hi in INBOUND_STAGE_DAYS.values()
            )
            quantity = max(6, int(np.ceil(rate[sku] * ORDER_COVER_DAYS)))
            self.shipments.append(
                Shipment(
                    int(sku),
                    quantity,
                    day + working,
                    day + working + shipped,
                    day + working + shipped + receiving,
                )
            )

    def snapshot(self, day: int) -> Snapshot:
        reserved = self.rng.binomial(self.sellable, RESERVED_SHARE)
        reserved = np.minimum(reserved, np.maximum(self.sellable - 1, 0))
        stages = np.zeros((3, len(self.sellable)), dtype=np.int64)
        for s in self.shipments:
            stage = 0 if day < s.shipped_day else 1 if day < s.receiving_day else 2
            stages[stage, s.sku] += s.quantity
        researching = (self.rng.random(len(self.sellable)) < 0.02).astype(np.int64)
        return Snapshot(
            fulfillable=self.sellable - reserved,
            unsellable=self.unsellable.copy(),
            reserved=reserved,
            inbound_working=stages[0],
            inbound_shipped=stages[1],
            inbound_receiving=stages[2],
            researching=researching,
        )

    def sell(self, units: np.ndarray) -> None:
        self.sellable -= units
        if (self.sellable < 0).any():
            raise RuntimeError("sold more units than were on hand")
