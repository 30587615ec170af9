"""The Sales and Traffic report (GET_SALES_AND_TRAFFIC_REPORT, JSON) of one store and day.

Sales figures are those of the day's order lines that count as sales (newest status not
Cancelled): orderedProductSales, unitsOrdered and totalOrderItems reconcile exactly with the
orders files. Traffic is drawn per SKU from a per-SKU conversion rate, so that
unitSessionPercentage = unitsOrdered / sessions x 100 holds by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import Product, Store

MOBILE_APP_SHARE = 0.35  # of sessions and page views
PAGE_VIEWS_PER_SESSION = 0.45  # extra page views per session (Poisson)


@dataclass(frozen=True)
class DaySales:
    """Per-SKU sums of the counted order lines of one purchase date, plus shipments."""

    units: np.ndarray
    sales_cents: np.ndarray
    items: np.ndarray
    orders: int
    shipped_sales_cents: int
    shipped_units: int
    shipped_orders: int
    refunded_units: int


def _money(cents: int | float, currency: str) -> dict:
    return {"amount": round(float(cents) / 100, 2), "currencyCode": currency}


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def build_report(
    rng: np.random.Generator,
    store: Store,
    date: str,
    products: tuple[Product, ...],
    sales: DaySales,
    expected_units: np.ndarray,
    conversion: np.ndarray,
    buy_box: np.ndarray,
    offers: int,
) -> dict:
    """The report for ``date``; ``conversion`` and ``buy_box`` are per-SKU traffic traits."""
    cur = store.currency
    # SKUs without sales still get visits: sessions from their expected demand
    drawn = np.rint(
        np.maximum(sales.units, expected_units) / conversion * rng.lognormal(0, 0.1, len(products))
    )
    sessions = np.maximum(drawn.astype(np.int64), sales.units)
    page_views = sessions + rng.poisson(PAGE_VIEWS_PER_SESSION * sessions)
    mobile_sessions = rng.binomial(sessions, MOBILE_APP_SHARE)
    mobile_views = np.minimum(rng.binomial(page_views, MOBILE_APP_SHARE), page_views)
    buy_box_today = np.clip(buy_box + rng.normal(0, 1.5, len(products)), 85.0, 100.0)

    total_sessions = int(sessions.sum())
    total_views = int(page_views.sum())
    total_mobile_sessions = int(mobile_sessions.sum())
    total_mobile_views = int(mobile_views.sum())
    units, items, sales_cents = (
        int(sales.units.sum()),
        int(sales.items.sum()),
        int(sales.sales_cents.sum()),
    )
    feedback = int(rng.poisson(0.02 * sales.orders))
    negative = int(rng.binomial(feedback, 0.08))

    by_asin = []
    for k in np.flatnonzero(sales.units > 0):
        p = products[k]
        s, v = int(sessions[k]), int(page_views[k])
        ms, mv = int(mobile_sessions[k]), int(mobile_views[k])
        by_asin.append(
            {
                "parentAsin": p.asin,
                "childAsin": p.asin,
                "sku": p.sku,
                "salesByAsin": {
                    "unitsOrdered": int(sales.units[k]),
                    "orderedProductSales": _money(sales.sales_cents[k], cur),
                    "totalOrderItems": int(sales.items[k]),
                },
                "trafficByAsin": {
                    "browserSessions": s - ms,
                    "mobileAppSessions": ms,
                    "sessions": s,
                    "browserSessionPercentage": _pct(s - ms, total_sessions - total_mobile_sessions),
                    "mobileAppSessionPercentage": _pct(ms, total_mobile_sessions),
                    "sessionPercentage": _pct(s, total_sessions),
                    "browserPageViews": v - mv,
                    "mobileAppPageViews": mv,
                    "pageViews": v,
                    "browserPageViewsPercentage": _pct(v - mv, total_views - total_mobile_views),
                    "mobileAppPageViewsPercentage": _pct(mv, total_mobile_views),
                    "pageViewsPercentage": _pct(v, total_views),
                    "buyBoxPercentage": round(float(buy_box_today[k]), 2),
                    "unitSessionPercentage": _pct(int(sales.units[k]), s),
                },
            }
        )

    return {
        "reportSpecification": {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "CHILD"},
            "dataStartTime": date,
            "dataEndTime": date,
            "marketplaceIds": [store.marketplace_id],
        },
        "salesAndTrafficByDate": [
            {
                "date": date,
                "salesByDate": {
                    "orderedProductSales": _money(sales_cents, cur),
                    "unitsOrdered": units,
                    "totalOrderItems": items,
                    "averageSalesPerOrderItem": _money(sales_cents / items if items else 0, cur),
                    "averageUnitsPerOrderItem": round(units / items, 2) if items else 0.0,
                    "averageSellingPrice": _money(sales_cents / units if units else 0, cur),
                    "unitsRefunded": sales.refunded_units,
                    "refundRate": min(100.0, _pct(sales.refunded_units, units)),
                    "claimsGranted": 0,
                    "claimsAmount": _money(0, cur),
                    "shippedProductSales": _money(sales.shipped_sales_cents, cur),
                    "unitsShipped": sales.shipped_units,
                    "ordersShipped": sales.shipped_orders,
                },
                "trafficByDate": {
                    "browserPageViews": total_views - total_mobile_views,
                    "mobileAppPageViews": total_mobile_views,
                    "pageViews": total_views,
                    "browserSessions": total_sessions - total_mobile_sessions,
                    "mobileAppSessions": total_mobile_sessions,
                    "sessions": total_sessions,
                    "buyBoxPercentage": round(float(np.average(buy_box_today, weights=page_views + 1)), 2),
                    "orderItemSessionPercentage": _pct(items, total_sessions),
                    "unitSessionPercentage": _pct(units, total_sessions),
                    "averageOfferCount": offers,
                    "averageParentItems": len(products),
                    "feedbackReceived": feedback,
                    "negativeFeedbackReceived": negative,
                    "receivedNegativeFeedbackRate": _pct(negative, feedback),
                },
            }
        ],
        "salesAndTrafficByAsin": by_asin,
    }
