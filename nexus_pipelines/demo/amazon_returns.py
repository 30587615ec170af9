"""FBA customer returns: which shipped order lines come back, when, why and in what state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .amazon_orders import DAY, SHIPPED, AmazonOrder
from .catalog import Store
from .params import (
    DISPOSITIONS,
    PRODUCT_FAULT_DISPOSITIONS,
    PRODUCT_FAULT_REASONS,
    RETURN_LAG_DAYS,
    RETURN_REASONS,
)
from .streams import alphanumeric_codes

COMMENTS = {
    "UNWANTED_ITEM": "No longer needed",
    "DEFECTIVE": "Zipper broke after the first trip",
    "NOT_AS_DESCRIBED": "Smaller than the photos suggest",
    "ORDERED_WRONG_ITEM": "Ordered the wrong size",
    "QUALITY_UNACCEPTABLE": "Stitching came apart",
    "MISSED_ESTIMATED_DELIVERY": "Arrived after my trip",
}
STATUS_BY_DISPOSITION = {
    "SELLABLE": "Unit returned to inventory",
    "DAMAGED": "Reimbursed",
    "CARRIER_DAMAGED": "Reimbursed",
}


@dataclass(frozen=True)
class CustomerReturn:
    returned_at: int  # seconds since the window start
    order_id: str
    sku: int
    quantity: int
    fulfillment_center: str
    disposition: str
    reason: str
    status: str
    license_plate: str
    comment: str

    @property
    def day(self) -> int:
        return self.returned_at // DAY


def draw_returns(
    rng: np.random.Generator,
    store: Store,
    orders: list[AmazonOrder],
    return_rates: np.ndarray,
    days: int,
) -> list[CustomerReturn]:
    """Returns of the shipped lines of ``orders`` that fall inside the window."""
    candidates = [(o, line) for o in orders if o.final_status == SHIPPED for line in o.lines]
    if not candidates:
        return []
    n = len(candidates)
    returned = rng.random(n) < return_rates[[line.sku for _, line in candidates]]
    lag = np.clip(np.rint(RETURN_LAG_DAYS[0] + rng.gamma(2.0, 6.0, size=n)), *RETURN_LAG_DAYS).astype(int)
    full = rng.random(n) < 0.7
    partial_units = rng.random(n)
    reasons = rng.choice(list(RETURN_REASONS), p=list(RETURN_REASONS.values()), size=n)
    fault_disp = rng.choice(
        list(PRODUCT_FAULT_DISPOSITIONS), p=list(PRODUCT_FAULT_DISPOSITIONS.values()), size=n
    )
    other_disp = rng.choice(list(DISPOSITIONS), p=list(DISPOSITIONS.values()), size=n)
    first_hour, last_hour = store.safe_utc_hours
    seconds = rng.integers(first_hour * 3600, last_hour * 3600, size=n)
    centers = rng.integers(0, len(store.fulfillment_centers), size=n)
    commented = rng.random(n) < 0.3
    plates = alphanumeric_codes(rng, n, 10)

    out = []
    for i in np.flatnonzero(returned):
        order, line = candidates[i]
        day = order.purchased_at // DAY + int(lag[i])
        if day >= days:
            continue
        quantity = line.quantity if full[i] else 1 + int(partial_units[i] * line.quantity)
        reason = str(reasons[i])
        disposition = str(fault_disp[i] if reason in PRODUCT_FAULT_REASONS else other_disp[i])
        out.append(
            CustomerReturn(
                returned_at=day * DAY + int(seconds[i]),
                order_id=order.order_id,
                sku=line.sku,
                quantity=quantity,
                fulfillment_center=store.fulfillment_centers[centers[i]],
                disposition=disposition,
                reason=reason,
                status=STATUS_BY_DISPOSITION.get(disposition, "Unit returned to inventory"),
                license_plate=f"LPN{plates[i]}",
                comment=COMMENTS.get(reason, "") if commented[i] else "",
            )
        )
    return out
