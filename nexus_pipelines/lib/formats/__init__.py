"""Landing-file parsers and the registry of raw tables they fill.

``SOURCES`` maps every raw table name to its ``SourceSpec``: the landing glob of its files
(relative to the landing folder), its typed columns and its parser. The loader globs, builds a
``ParseContext`` per file (``partition_date_from_name``, ``store_id_from_path``), runs the
parser and COPYs the rows; rejected rows go to quarantine.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path, PurePosixPath

from .amazon_flat import parse_inventory, parse_orders, parse_returns
from .base import (
    Column,
    ParseContext,
    ParsedRow,
    Parser,
    ParseResult,
    Rejected,
    SourceSpec,
    UnreadableFile,
)
from .columns import (
    AMAZON_INVENTORY,
    AMAZON_ORDERS,
    AMAZON_RETURNS,
    EVENTS,
    MARKETING_SPEND,
    SALES_TRAFFIC_BY_ASIN,
    SALES_TRAFFIC_BY_DATE,
    STORES,
)
from .events import parse_events
from .marketing import parse_marketing_spend
from .sales_traffic import parse_sales_traffic_by_asin, parse_sales_traffic_by_date
from .stores import parse_stores

_SOURCE_LIST = (
    SourceSpec(
        "amazon_orders",
        "Amazon All Orders report: one row per order item and file; the newest"
        " last_updated_date of an order wins downstream",
        "amazon/*/orders/*.txt",
        AMAZON_ORDERS,
        parse_orders,
    ),
    SourceSpec(
        "amazon_sales_traffic_by_date",
        "Amazon Sales and Traffic report: sales and traffic per day",
        "amazon/*/sales_traffic/*.json",
        SALES_TRAFFIC_BY_DATE,
        parse_sales_traffic_by_date,
    ),
    SourceSpec(
        "amazon_sales_traffic_by_asin",
        "Amazon Sales and Traffic report: sales and traffic per ASIN/SKU over the report's range",
        "amazon/*/sales_traffic/*.json",
        SALES_TRAFFIC_BY_ASIN,
        parse_sales_traffic_by_asin,
    ),
    SourceSpec(
        "amazon_inventory",
        "Amazon FBA Manage Inventory: one row per SKU per daily snapshot",
        "amazon/*/inventory/*.txt",
        AMAZON_INVENTORY,
        parse_inventory,
    ),
    SourceSpec(
        "amazon_returns",
        "Amazon FBA customer returns: one row per returned unit batch",
        "amazon/*/returns/*.txt",
        AMAZON_RETURNS,
        parse_returns,
    ),
    SourceSpec(
        "events",
        "Segment-spec product events (track, page, identify and others), re-sends included",
        "events/*.jsonl*",
        EVENTS,
        parse_events,
    ),
    SourceSpec(
        "marketing_spend",
        "Marketing spend per day, channel and campaign",
        "marketing/spend/*.csv",
        MARKETING_SPEND,
        parse_marketing_spend,
    ),
    SourceSpec(
        "stores",
        "The seller's stores and their currency and time zone",
        "stores.yaml",
        STORES,
        parse_stores,
        partitioned=False,
    ),
)
SOURCES: dict[str, SourceSpec] = {spec.name: spec for spec in _SOURCE_LIST}

_DATE_IN_NAME = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])")


def partition_date_from_name(path: str | Path) -> dt.date:
    """The partition a landing file belongs to: the ``YYYY-MM-DD`` in its file name."""
    name = PurePosixPath(str(path).replace("\\", "/")).name
    match = _DATE_IN_NAME.search(name)
    if match is None:
        raise ValueError(f"{path}: the file name has no YYYY-MM-DD partition date")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        problem = f"{match[0]!r} in the file name is not a valid date ({exc})"
        raise ValueError(f"{path}: {problem}") from None


def store_id_from_path(relative_path: str | Path) -> str | None:
    """The store of an Amazon file (``amazon/<store_id>/...``); None for other sources."""
    parts = PurePosixPath(str(relative_path).replace("\\", "/")).parts
    if len(parts) >= 3 and parts[0] == "amazon":
        return parts[1]
    return None


__all__ = [
    "SOURCES",
    "Column",
    "ParseContext",
    "ParseResult",
    "ParsedRow",
    "Parser",
    "Rejected",
    "SourceSpec",
    "UnreadableFile",
    "partition_date_from_name",
    "store_id_from_path",
]
