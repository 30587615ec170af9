"""Requests, responses and errors of the metrics engine, and the conversion of values to JSON.

Every value of a response is JSON-ready: whole numbers are ``int``, other numbers ``float``
rounded to the scale of their unit (2 decimals for money and percentages, 4 for ratios), dates
ISO strings. A number goes through ``Decimal`` before it becomes a float, so ``0.1 + 0.2`` comes
out as ``0.3``, not ``0.30000000000000004``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# decimals kept per unit (the unit of a catalog metric); the units in INTEGER_UNITS are counts
UNIT_SCALE: dict[str, int] = {
    "currency": 2,
    "percent": 2,
    "percentage points": 2,
    "ratio": 4,
    "probability": 4,
    "conversions": 4,
    "number": 4,
    "days": 2,
    "weeks": 2,
    "seconds": 1,
    "score": 2,
}
INTEGER_UNITS = frozenset({"units", "count", "users", "customers"})
FLAG_UNITS = frozenset({"flag"})


class AnalyticsError(Exception):
    """Any error of the metrics engine."""


class MetricCalculationError(AnalyticsError):
    """The figures could not be computed: the database failed or a table does not exist yet."""


class DataValidationError(AnalyticsError):
    """The request is invalid; ``field`` names the parameter at fault (None: the request as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownStore(DataValidationError):
    """No store has this id."""

    def __init__(self, message: str, field: str | None = "store_id") -> None:
        super().__init__(message, field)


class UnknownMetric(DataValidationError):
    """A metric (or a funnel) that the endpoint does not serve; the message lists the valid ones."""

    def __init__(self, message: str, field: str | None = "metrics") -> None:
        super().__init__(message, field)


@dataclass(frozen=True)
class AnalyticsRequest:
    store_id: str
    start_date: dt.date
    end_date: dt.date
    filters: dict[str, list[str]] | None = None  # keys: sku, asin, marketplace, channel
    metrics: list[str] = field(default_factory=list)  # [] = every metric of the endpoint


@dataclass(frozen=True)
class AnalyticsResponse:
    store_id: str
    metrics: dict[str, Any]
    period: dict[str, str]  # {"start": ISO, "end": ISO, "grain": ...} and what else the endpoint says
    generated_at: dt.datetime  # UTC

    def to_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "period": jsonable(self.period),
            "generated_at": self.generated_at.astimezone(dt.UTC).isoformat(),
            "metrics": jsonable(self.metrics),
        }


def rounded(value: Any, scale: int) -> Decimal | None:
    """``value`` as a Decimal rounded half away from zero (as PostgreSQL's numeric casts round)."""
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = Decimal(repr(value))
    return Decimal(value).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def number(value: Any, scale: int) -> float | int | None:
    """A JSON number: ``int`` for a whole value at scale 0, else a float rounded to ``scale``."""
    if value is None or isinstance(value, bool):
        return value
    exact = rounded(value, scale)
    if exact is None:
        return None
    return int(exact) if scale == 0 else float(exact)


def json_value(value: Any, unit: str) -> Any:
    """``value`` of a metric in ``unit`` as JSON: counts as int, other numbers rounded floats."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if unit in FLAG_UNITS:
        return bool(value)
    if isinstance(value, int):  # an integer column stays an integer, whatever its unit
        return value
    if unit in INTEGER_UNITS:
        exact = rounded(value, 2)
        if exact is None:
            return None
        return int(exact) if exact == exact.to_integral_value() else float(exact)
    return number(value, UNIT_SCALE.get(unit, 4))


def jsonable(value: Any) -> Any:
    """Dates, datetimes and Decimals anywhere in ``value`` turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
