"""What every endpoint shares: table checks, filters, date ranges and row conversion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from .catalog import metrics_of
from .models import DataValidationError, MetricCalculationError, json_value

MARTS = "marts"
FILTER_KEYS = ("sku", "asin", "marketplace", "channel")
# what each filter applies to, for the message of a filter an endpoint cannot apply
FILTER_SCOPE = {
    "sku": "SKU-level Amazon data (sales, inventory, returns)",
    "asin": "SKU-level Amazon data (sales, inventory, returns)",
    "marketplace": "Amazon store data (sales, comparison, inventory, returns)",
    "channel": "web-shop data with a channel (funnels, attribution)",
}
MAX_YEARS = 3
MAX_FILTER_VALUES = 500


def exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (sql.Identifier(schema, table).as_string(conn),))
    found = row.fetchone()
    return bool(found and found[0])


def require(conn: psycopg.Connection, schema: str, *tables: str) -> None:
    """MetricCalculationError when one of the tables is missing (the warehouse is not built yet)."""
    missing = [f"{schema}.{t}" for t in tables if not exists(conn, schema, t)]
    if missing:
        raise MetricCalculationError(
            f"{', '.join(missing)} does not exist yet: build the warehouse (nexus run) before asking for these metrics"
        )


def dict_rows(cursor: psycopg.Cursor) -> list[dict[str, Any]]:
    names = [c.name for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def convert(
    endpoint: str, row: Mapping[str, Any], keys: Sequence[str], selected: Sequence[str]
) -> dict[str, Any]:
    """``row`` as JSON: its key columns (dates as ISO strings) and the selected metrics, rounded by unit."""
    units = metrics_of(endpoint)
    out = {k: json_value(row[k], "text") for k in keys}
    for name in selected:
        if name in row:
            out[name] = json_value(row[name], units[name].unit)
    return out


def check_filters(
    filters: Mapping[str, Sequence[str]] | None, allowed: Iterable[str], endpoint: str
) -> dict[str, list[str]]:
    """The request's filters, each a non-empty list of strings; DataValidationError naming the
    filter when it is unknown, empty or not applicable to ``endpoint``."""
    allowed = set(allowed)
    out: dict[str, list[str]] = {}
    for key, values in (filters or {}).items():
        if key not in FILTER_KEYS:
            raise DataValidationError(
                f"unknown filter {str(key)[:60]!r}; filters: {', '.join(FILTER_KEYS)}", field=str(key)[:60]
            )
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise DataValidationError(f"filter {key} must be a list of values", field=key)
        kept = [v.strip() for v in values if isinstance(v, str) and v.strip()]
        if len(kept) != len(values):
            raise DataValidationError(f"filter {key} has an empty or non-text value", field=key)
        if not kept:
            continue
        if len(kept) > MAX_FILTER_VALUES:
            raise DataValidationError(f"filter {key} has more than {MAX_FILTER_VALUES} values", field=key)
        if key not in allowed:
            raise DataValidationError(
                f"filter {key} cannot be applied to {endpoint}: it applies to {FILTER_SCOPE[key]}", field=key
            )
        out[key] = kept
    return out


def shift_years(day: dt.date, years: int) -> dt.date:
    """The same date ``years`` later (earlier when negative); 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def check_dates(start: dt.date, end: dt.date) -> None:
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        raise DataValidationError("start and end must be dates", field="start")
    if end < start:
        raise DataValidationError(
            f"end ({end.isoformat()}) is before start ({start.isoformat()})", field="end"
        )
    if end >= shift_years(start, MAX_YEARS):
        raise DataValidationError(
            f"the range {start.isoformat()} .. {end.isoformat()} is longer than {MAX_YEARS} years",
            field="end",
        )


def check_span(
    start: dt.date, end: dt.date, span: tuple[dt.date, dt.date] | None, what: str
) -> tuple[dt.date, dt.date]:
    """``span`` (first and last day of data); DataValidationError when there is none or when the
    range lies entirely outside it."""
    if span is None:
        raise DataValidationError(f"{what} has no data yet", field="start")
    first, last = span
    if end < first or start > last:
        raise DataValidationError(
            f"the range {start.isoformat()} .. {end.isoformat()} is outside the data of {what}, "
            f"which covers {first.isoformat()} .. {last.isoformat()}",
            field="start" if start > last else "end",
        )
    return span


def period(start: dt.date, end: dt.date, grain: str, **extra: Any) -> dict[str, str]:
    out = {"start": start.isoformat(), "end": end.isoformat(), "grain": grain}
    for key, value in extra.items():
        if value is not None:
            out[key] = value.isoformat() if isinstance(value, dt.date) else str(value)
    return out
