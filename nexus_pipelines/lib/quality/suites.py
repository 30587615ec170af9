"""The expectation suites: one per raw table and per key mart, declared here and reviewed like code.

A suite is plain data (no Great Expectations import at module load): each ``Expect`` names a Great
Expectations expectation class and its arguments, its severity and what it protects. ``validate.py``
turns them into GX objects and runs them in PostgreSQL on the rows of the run's window.

Severity decides what a failure does (README, "Data quality"):

* ``critical`` — the row cannot be right (a missing key, a duplicate, a quantity below one, a
  date outside the plausible window, a wrong column type): the ``gx_critical`` asset check fails
  with ERROR and is blocking, so nothing downstream of the table runs on it;
* ``warning`` — worth a look but not wrong on its face (an order status Amazon added, a row that
  breaks an inventory identity, a day with a third of the usual rows): ``gx_warning`` warns.

To move an expectation from one to the other, change its ``severity`` here.

``column_types`` are checked on the table itself (they are the table's, not the rows'); every
other expectation runs on the window's rows. Row expectations with SQL use ``{batch}`` for those
rows, as Great Expectations' ``UnexpectedRowsExpectation`` defines it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CRITICAL = "critical"
WARNING = "warning"

EARLIEST_DATE = "1995-01-01"  # no seller report or event predates Amazon's marketplace
DAYS_AFTER_FILE_DATE = 2  # a value may be at most this many days after its file's date
MAX_PRICE = 1_000_000  # a price of a million or more is a typo, not a sale
DRIFT_FACTOR = 3  # a day with under a third, or over three times, its trailing mean row count
DRIFT_DAYS = 28
DRIFT_MIN_HISTORY_DAYS = 7  # fewer days of history say nothing about what is usual
DRIFT_MIN_MEAN_ROWS = 20  # below this, a day's count varies by chance more than by a factor of 3

ORDER_STATUSES = (
    "Pending",
    "Pending - Waiting for Pick Up",
    "Unshipped",
    "PartiallyShipped",
    "Shipping",
    "Shipped",
    "Shipped - Delivered to Buyer",
    "Shipped - Out for Delivery",
    "Shipped - Picked Up",
    "Shipped - Returned to Seller",
    "Shipped - Returning to Seller",
    "Shipped - Rejected by Buyer",
    "Shipped - Lost in Transit",
    "Shipped - Damaged",
    "Shipped - Undeliverable",
    "Complete",
    "Cancelled",
    "Canceled",
)
ITEM_STATUSES = ("Unshipped", "Pending", "Shipping", "Shipped", "Cancelled", "Canceled")
FULFILLMENT_CHANNELS = ("Amazon", "Merchant")
RETURN_DISPOSITIONS = (
    "SELLABLE",
    "DAMAGED",
    "CUSTOMER_DAMAGED",
    "DEFECTIVE",
    "CARRIER_DAMAGED",
    "DISTRIBUTOR_DAMAGED",
    "WAREHOUSE_DAMAGED",
    "EXPIRED",
)
RETURN_REASONS = (
    "NOT_AS_DESCRIBED",
    "DEFECTIVE",
    "UNWANTED_ITEM",
    "ORDERED_WRONG_ITEM",
    "SWITCHEROO",
    "MISSED_ESTIMATED_DELIVERY",
    "QUALITY_UNACCEPTABLE",
    "FOUND_BETTER_PRICE",
    "NOT_COMPATIBLE",
    "PART_NOT_COMPATIBLE",
    "MISSING_PARTS",
    "DAMAGED_BY_FC",
    "DAMAGED_BY_CARRIER",
    "EXTRA_ITEM",
    "UNAUTHORIZED_PURCHASE",
    "NO_REASON_GIVEN",
    "APPAREL_TOO_SMALL",
    "APPAREL_TOO_LARGE",
    "APPAREL_STYLE",
    "NEVER_ARRIVED",
    "UNDELIVERABLE_REFUSED",
    "UNDELIVERABLE_UNKNOWN",
    "UNDELIVERABLE_INSUFFICIENT_ADDRESS",
    "UNDELIVERABLE_FAILED_DELIVERY_ATTEMPTS",
    "UNDELIVERABLE_CARRIER_MISS_SORTED",
)
EVENT_TYPES = ("track", "page", "identify", "screen", "group", "alias")

RAW_ROW_ID = ("_source_file", "_row_number")  # where a failing raw row came from: file and line


@dataclass(frozen=True)
class Expect:
    """One expectation: a Great Expectations class name, its arguments, severity and purpose."""

    kind: str  # e.g. "ExpectColumnValuesToNotBeNull"
    severity: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short stable name: the kind and its column(s), or the description for SQL rules."""
        target = self.kwargs.get("column") or ",".join(self.kwargs.get("column_list", ()))
        return f"{self.kind}({target})" if target else f"{self.kind}: {self.description}"


@dataclass(frozen=True)
class Suite:
    name: str  # "<schema>.<table>", also the GX suite name
    schema: str
    table: str
    description: str
    window_column: str | None  # rows of the run's window on this date column; None: every row
    row_id: tuple[str, ...]  # columns that say where a failing row is (file and line for raw)
    column_types: dict[str, str]  # column -> PostgreSQL type name as GX reports it (upper case)
    expectations: tuple[Expect, ...]


def not_null(column: str, severity: str = CRITICAL, mostly: float | None = None) -> Expect:
    kwargs: dict[str, Any] = {"column": column}
    if mostly is not None:
        kwargs["mostly"] = mostly
    share = f" in at least {mostly:.0%} of rows" if mostly is not None else ""
    return Expect("ExpectColumnValuesToNotBeNull", severity, f"{column} is set{share}", kwargs)


def between(
    column: str,
    low: float | None,
    high: float | None = None,
    severity: str = CRITICAL,
    strict_max: bool = False,
) -> Expect:
    kwargs: dict[str, Any] = {"column": column, "min_value": low, "max_value": high}
    if strict_max:
        kwargs["strict_max"] = True
    upper = "" if high is None else (f" and below {high:,}" if strict_max else f" and at most {high:,}")
    lower = "" if low is None else f"at least {low:,}"
    return Expect("ExpectColumnValuesToBeBetween", severity, f"{column} is {lower}{upper}".strip(), kwargs)


def price(column: str) -> Expect:
    return between(column, 0, MAX_PRICE, strict_max=True)


def in_set(column: str, values: tuple[str, ...], severity: str = WARNING) -> Expect:
    return Expect(
        "ExpectColumnValuesToBeInSet",
        severity,
        f"{column} is a known value",
        {"column": column, "value_set": list(values)},
    )


def unique(*columns: str, severity: str = CRITICAL) -> Expect:
    if len(columns) == 1:
        return Expect(
            "ExpectColumnValuesToBeUnique", severity, f"{columns[0]} is unique", {"column": columns[0]}
        )
    return Expect(
        "ExpectCompoundColumnsToBeUnique",
        severity,
        f"({', '.join(columns)}) is unique",
        {"column_list": list(columns)},
    )


def rows(description: str, query: str, severity: str = CRITICAL) -> Expect:
    """No row of ``query`` (SQL over ``{batch}``, the window's rows) may exist."""
    return Expect("UnexpectedRowsExpectation", severity, description, {"unexpected_rows_query": query})


def plausible_dates(column: str, timestamp: bool = False, reference: str = "_partition_date") -> Expect:
    """Not before 1995 and at most two days after the date of the file the row came from.

    ``reference`` is that date: the file name's, or for a report that spans several days (Sales and
    Traffic) the day it was loaded, since a report cannot hold days after it was made.
    """
    day = f"({column} at time zone 'UTC')::date" if timestamp else column
    what = "the file's date" if reference == "_partition_date" else "the day it was loaded"
    return rows(
        f"{column} is between {EARLIEST_DATE} and {what} + {DAYS_AFTER_FILE_DATE} days",
        f"select _source_file, _row_number, {column} from {{batch}} "
        f"where {day} < date '{EARLIEST_DATE}' or {day} > {reference} + {DAYS_AFTER_FILE_DATE}",
    )


def row_count_drift(table: str, by_store: bool) -> Expect:
    """Each day of the window against the mean of its trailing 28 days, per store."""
    store = "store_id" if by_store else "'all'::text"
    query = f"""
with bounds as (select min(_partition_date) as lo, max(_partition_date) as hi from {{batch}}),
daily as (
    select {store} as store_id, _partition_date as day, count(*) as n
    from raw.{table}, bounds
    where _partition_date between bounds.lo - {DRIFT_DAYS} and bounds.hi
    group by 1, 2
),
history as (
    select store_id, day, n,
        avg(n) over w as mean_rows,
        count(*) over w as history_days
    from daily
    window w as (partition by store_id order by day
                 range between interval '{DRIFT_DAYS} days' preceding and interval '1 day' preceding)
)
select store_id, day, n as row_count, round(mean_rows, 1) as trailing_mean
from history, bounds
where day between bounds.lo and bounds.hi and history_days >= {DRIFT_MIN_HISTORY_DAYS}
  and mean_rows >= {DRIFT_MIN_MEAN_ROWS}
  and (n * {DRIFT_FACTOR} < mean_rows or n > mean_rows * {DRIFT_FACTOR})
"""
    return rows(
        f"each day's row count{' per store' if by_store else ''} is within {DRIFT_FACTOR}x "
        f"of its trailing {DRIFT_DAYS}-day mean",
        " ".join(query.split()),
        WARNING,
    )


def _raw(
    table: str, description: str, types: dict[str, str], *expectations: Expect, partitioned: bool = True
) -> Suite:
    lineage = {"_source_file": "TEXT", "_row_number": "INTEGER"}
    if partitioned:
        lineage["_partition_date"] = "DATE"
    return Suite(
        f"raw.{table}",
        "raw",
        table,
        description,
        "_partition_date" if partitioned else None,
        RAW_ROW_ID,
        {**types, **lineage},
        (unique(*RAW_ROW_ID), *expectations),
    )


MONEY = "NUMERIC(18, 4)"

RAW_SUITES = (
    _raw(
        "amazon_orders",
        "All Orders report lines",
        {
            "store_id": "TEXT",
            "amazon_order_id": "TEXT",
            "purchase_date": "TIMESTAMP WITH TIME ZONE",
            "last_updated_date": "TIMESTAMP WITH TIME ZONE",
            "order_status": "TEXT",
            "sku": "TEXT",
            "quantity": "INTEGER",
            "item_price": MONEY,
            "extra_columns": "JSONB",
        },
        not_null("store_id"),
        not_null("amazon_order_id"),
        not_null("sku"),
        not_null("purchase_date"),
        not_null("order_status"),
        not_null("quantity"),
        not_null("currency", WARNING),  # a store missing from stores.yaml must not halt the marts
        not_null("asin", WARNING, mostly=0.95),
        not_null("item_price", WARNING, mostly=0.9),
        rows(
            "quantity is at least 1 on an order line that is not cancelled",
            "select _source_file, _row_number, quantity, order_status from {batch} "
            "where quantity < 0 or (quantity = 0 and lower(order_status) <> 'cancelled' "
            "and lower(coalesce(item_status, '')) <> 'cancelled')",
        ),
        *(price(c) for c in ("item_price", "item_tax", "shipping_price", "shipping_tax")),
        *(price(c) for c in ("gift_wrap_price", "gift_wrap_tax")),
        between("item_promotion_discount", -MAX_PRICE, MAX_PRICE, WARNING, strict_max=True),
        between("ship_promotion_discount", -MAX_PRICE, MAX_PRICE, WARNING, strict_max=True),
        plausible_dates("purchase_date", timestamp=True),
        plausible_dates("last_updated_date", timestamp=True),
        rows(
            "last_updated_date is not before purchase_date",
            "select _source_file, _row_number, purchase_date, last_updated_date from {batch} "
            "where last_updated_date < purchase_date",
            WARNING,
        ),
        in_set("order_status", ORDER_STATUSES),
        in_set("item_status", ITEM_STATUSES),
        in_set("fulfillment_channel", FULFILLMENT_CHANNELS),
        Expect(
            "ExpectColumnValuesToMatchRegex",
            CRITICAL,
            "currency is a three-letter code",
            {"column": "currency", "regex": "^[A-Z]{3}$"},
        ),
        unique("_source_file", "amazon_order_id", "sku", severity=WARNING),
        row_count_drift("amazon_orders", by_store=True),
    ),
    _raw(
        "amazon_sales_traffic_by_date",
        "Sales and Traffic report, per day",
        {
            "store_id": "TEXT",
            "report_date": "DATE",
            "ordered_product_sales": MONEY,
            "units_ordered": "INTEGER",
            "sessions": "INTEGER",
            "payload": "JSONB",
        },
        not_null("store_id"),
        not_null("report_date"),
        not_null("currency", WARNING),
        unique("store_id", "report_date", "_source_file"),
        *(
            between(c, 0)
            for c in ("ordered_product_sales", "units_ordered", "total_order_items", "sessions", "page_views")
        ),
        between("units_refunded", 0),
        between("buy_box_percentage", 0, 100, WARNING),
        between("refund_rate", 0, 100, WARNING),
        between("unit_session_percentage", 0),
        plausible_dates("report_date", reference="(_loaded_at at time zone 'UTC')::date"),
    ),
    _raw(
        "amazon_sales_traffic_by_asin",
        "Sales and Traffic report, per ASIN or SKU",
        {
            "store_id": "TEXT",
            "report_date": "DATE",
            "child_asin": "TEXT",
            "ordered_product_sales": MONEY,
            "units_ordered": "INTEGER",
            "payload": "JSONB",
        },
        not_null("store_id"),
        not_null("report_date"),
        not_null("child_asin", WARNING, mostly=0.95),
        *(between(c, 0) for c in ("ordered_product_sales", "units_ordered", "sessions", "page_views")),
        between("buy_box_percentage", 0, 100, WARNING),
        plausible_dates("report_date", reference="(_loaded_at at time zone 'UTC')::date"),
        unique("_source_file", "parent_asin", "child_asin", "sku", severity=WARNING),
    ),
    _raw(
        "amazon_inventory",
        "FBA Manage Inventory snapshots",
        {
            "store_id": "TEXT",
            "snapshot_date": "DATE",
            "sku": "TEXT",
            "afn_fulfillable_quantity": "INTEGER",
            "your_price": MONEY,
            "extra_columns": "JSONB",
        },
        not_null("store_id"),
        not_null("snapshot_date"),
        not_null("sku"),
        not_null("afn_fulfillable_quantity"),
        *(
            between(c, 0)
            for c in (
                "afn_warehouse_quantity",
                "afn_fulfillable_quantity",
                "afn_unsellable_quantity",
                "afn_reserved_quantity",
                "afn_total_quantity",
                "afn_inbound_working_quantity",
                "afn_inbound_shipped_quantity",
                "afn_inbound_receiving_quantity",
            )
        ),
        price("your_price"),
        unique("_source_file", "sku", severity=WARNING),
        rows(
            "warehouse = fulfillable + unsellable + reserved",
            "select _source_file, _row_number, afn_warehouse_quantity, afn_fulfillable_quantity, "
            "afn_unsellable_quantity, afn_reserved_quantity from {batch} "
            "where afn_warehouse_quantity <> afn_fulfillable_quantity + coalesce(afn_unsellable_quantity, 0) "
            "+ coalesce(afn_reserved_quantity, 0)",
            WARNING,
        ),
        rows(
            "total = warehouse + inbound working + inbound shipped + inbound receiving",
            "select _source_file, _row_number, afn_total_quantity, afn_warehouse_quantity from {batch} "
            "where afn_total_quantity <> afn_warehouse_quantity + coalesce(afn_inbound_working_quantity, 0) "
            "+ coalesce(afn_inbound_shipped_quantity, 0) + coalesce(afn_inbound_receiving_quantity, 0)",
            WARNING,
        ),
        row_count_drift("amazon_inventory", by_store=True),
    ),
    _raw(
        "amazon_returns",
        "FBA customer returns",
        {
            "store_id": "TEXT",
            "return_date": "TIMESTAMP WITH TIME ZONE",
            "order_id": "TEXT",
            "sku": "TEXT",
            "quantity": "INTEGER",
            "extra_columns": "JSONB",
        },
        not_null("store_id"),
        not_null("return_date"),
        not_null("order_id"),
        not_null("sku"),
        not_null("quantity"),
        between("quantity", 1),
        plausible_dates("return_date", timestamp=True),
        in_set("detailed_disposition", RETURN_DISPOSITIONS),
        in_set("reason", RETURN_REASONS),
        row_count_drift("amazon_returns", by_store=True),
    ),
    _raw(
        "events",
        "Segment-spec events",
        {
            "message_id": "TEXT",
            "event_type": "TEXT",
            "event_timestamp": "TIMESTAMP WITH TIME ZONE",
            "context": "JSONB",
            "properties": "JSONB",
        },
        not_null("message_id"),
        not_null("event_type"),
        not_null("event_timestamp"),
        in_set("event_type", EVENT_TYPES),
        rows(
            "a track event has an event name",
            "select _source_file, _row_number, event_type from {batch} "
            "where event_type = 'track' and (event_name is null or event_name = '')",
            WARNING,
        ),
        rows(
            "an event has a user_id or an anonymous_id",
            "select _source_file, _row_number, message_id from {batch} "
            "where user_id is null and anonymous_id is null",
            WARNING,
        ),
        plausible_dates("event_timestamp", timestamp=True),
        row_count_drift("events", by_store=False),
    ),
    _raw(
        "marketing_spend",
        "Marketing spend per day, channel and campaign",
        {"spend_date": "DATE", "channel": "TEXT", "campaign": "TEXT", "spend": MONEY},
        not_null("spend_date"),
        not_null("channel"),
        not_null("spend"),
        price("spend"),
        plausible_dates("spend_date"),
        unique("_source_file", "spend_date", "channel", "campaign", severity=WARNING),
    ),
    _raw(
        "stores",
        "The seller's stores",
        {"store_id": "TEXT", "currency": "TEXT", "timezone": "TEXT"},
        not_null("store_id"),
        not_null("currency"),
        not_null("timezone"),
        unique("store_id"),
        Expect(
            "ExpectColumnValuesToMatchRegex",
            CRITICAL,
            "currency is a three-letter code",
            {"column": "currency", "regex": "^[A-Z]{3}$"},
        ),
        partitioned=False,
    ),
)


def _mart(
    table: str,
    description: str,
    date_column: str,
    key: tuple[str, ...],
    types: dict[str, str],
    *rules: Expect,
) -> Suite:
    return Suite(f"marts.{table}", "marts", table, description, date_column, key, types, rules)


MART_MONEY = "NUMERIC(18, 2)"

MART_SUITES = (
    _mart(
        "fct_daily_sales",
        "Sales per store, SKU and order date",
        "order_date",
        ("store_id", "sku", "order_date"),
        {"store_id": "TEXT", "sku": "TEXT", "order_date": "DATE", "ordered_product_sales": MART_MONEY},
        not_null("store_id"),
        not_null("sku"),
        not_null("order_date"),
        unique("store_id", "sku", "order_date"),
        *(between(c, 0) for c in ("ordered_product_sales", "units_ordered", "orders", "order_items")),
        rows(
            "units_ordered is at least orders",
            "select store_id, sku, order_date, units_ordered, orders from {batch} where units_ordered < orders",
        ),
        not_null("currency", WARNING),
    ),
    _mart(
        "fct_daily_store_performance",
        "Store performance per day",
        "date_day",
        ("store_id", "date_day"),
        {"store_id": "TEXT", "date_day": "DATE", "net_sales": MART_MONEY, "sessions": "INTEGER"},
        not_null("store_id"),
        not_null("date_day"),
        unique("store_id", "date_day"),
        *(between(c, 0) for c in ("ordered_product_sales", "units_ordered", "orders", "sessions")),
        between("unit_session_percentage", 0),
        between("refund_rate", 0, 100, WARNING),
        between("buy_box_percentage", 0, 100, WARNING),
        not_null("currency", WARNING),
    ),
    _mart(
        "fct_inventory_daily",
        "FBA inventory per store, SKU and day",
        "snapshot_date",
        ("store_id", "sku", "snapshot_date"),
        {"store_id": "TEXT", "sku": "TEXT", "snapshot_date": "DATE", "fulfillable_quantity": "INTEGER"},
        not_null("store_id"),
        not_null("sku"),
        not_null("snapshot_date"),
        unique("store_id", "sku", "snapshot_date"),
        *(
            between(c, 0)
            for c in ("fulfillable_quantity", "reserved_quantity", "unsellable_quantity", "total_quantity")
        ),
        Expect(
            "ExpectColumnValuesToBeInSet",
            WARNING,
            "no row breaks the warehouse identity",
            {"column": "breaks_warehouse_identity", "value_set": [False]},
        ),
    ),
    _mart(
        "fct_returns",
        "FBA customer returns with their order",
        "return_date",
        ("return_id",),
        {"return_id": "TEXT", "store_id": "TEXT", "return_date": "DATE", "quantity": "INTEGER"},
        not_null("return_id"),
        not_null("store_id"),
        not_null("return_date"),
        unique("return_id"),
        between("quantity", 1),
        between("refund_amount", 0, severity=WARNING),
        between("days_to_return", 0, severity=WARNING),
        in_set("detailed_disposition", RETURN_DISPOSITIONS),
        in_set("reason", RETURN_REASONS),
        not_null("order_date", WARNING, mostly=0.9),
    ),
    _mart(
        "fct_sessions",
        "Web sessions",
        "session_date",
        ("session_id",),
        {
            "session_id": "TEXT",
            "session_date": "DATE",
            "started_at": "TIMESTAMP WITH TIME ZONE",
            "events": "INTEGER",
        },
        not_null("session_id"),
        not_null("user_key"),
        not_null("session_date"),
        not_null("started_at"),
        unique("session_id"),
        between("duration_seconds", 0),
        between("events", 1),
        rows(
            "a session does not end before it starts",
            "select session_id, started_at, ended_at from {batch} where ended_at < started_at",
        ),
        not_null("channel", WARNING),
    ),
    _mart(
        "fct_orders_web",
        "Web orders (Order Completed events)",
        "order_date",
        ("order_id",),
        {
            "order_id": "TEXT",
            "order_date": "DATE",
            "revenue": MART_MONEY,
            "ordered_at": "TIMESTAMP WITH TIME ZONE",
        },
        not_null("order_id"),
        not_null("order_date"),
        not_null("user_key"),
        unique("order_id"),
        between("revenue", 0, MAX_PRICE, strict_max=True),
        rows(
            "no more is refunded than was paid",
            "select order_id, revenue, refunded_amount from {batch} where refunded_amount > revenue",
            WARNING,
        ),
        not_null("currency", WARNING),
    ),
)

SUITES: dict[str, Suite] = {suite.name: suite for suite in (*RAW_SUITES, *MART_SUITES)}
