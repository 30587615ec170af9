"""What an export is made of: a store, a period and the tables read from the marts for them.

The writers (CSV, JSON, Excel) and the PDF report take an :class:`ExportBundle` and nothing else,
so every file of one export shows the same figures. A column's ``kind`` says how a value is
written: money with the store's currency, a percentage, a count, a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Grain = Literal["day", "week", "month"]

# text, date (ISO date), timestamp (ISO date-time, UTC), integer (a count), money (an amount in the
# store's currency), percent (already in percent: 12.5 means 12.5 %), rate (a share 0..1: 0.125
# means 12.5 %), number (any other quantity), boolean
KINDS = ("text", "date", "timestamp", "integer", "money", "percent", "rate", "number", "boolean")
# a table with a column named ``unit`` holds values of different units in its numeric columns
# (store_performance: one row per metric); its rows carry one of these
UNITS = ("money", "count", "percent")


@dataclass(frozen=True)
class Period:
    grain: Grain
    start: dt.date
    end: dt.date  # inclusive
    label: str  # 2026-10-03, 2026-W41 or 2026-10: the folder name and what the files are titled with

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of KINDS
    label: str | None = None  # the heading people read (Excel, PDF); the name is the CSV/JSON key

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r} (one of {', '.join(KINDS)})")

    @property
    def heading(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class ExportTable:
    name: str  # file stem and sheet name: store_performance, sales_by_sku, ...
    title: str  # Sales by SKU
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]  # str, int, Decimal, float, date, datetime, bool or None per column
    note: str = ""  # what the table covers, when it is not just the period (a snapshot date, ...)
    currency: str | None = None  # of its money columns when not the store's (the web shop's tables)

    def column(self, name: str) -> int:
        return [c.name for c in self.columns].index(name)

    def records(self) -> list[dict[str, Any]]:
        names = [c.name for c in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class ExportBundle:
    store_id: str
    store_name: str | None
    currency: str | None  # ISO 4217 code of the store's money figures
    period: Period
    generated_at: dt.datetime  # UTC
    data_through: dt.date | None  # newest day with sales data for the store
    tables: list[ExportTable] = field(default_factory=list)

    def table(self, name: str) -> ExportTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r} in the export of {self.store_id} {self.period.label}")
