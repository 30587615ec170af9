"""The files of an export: CSV and JSON per table, one Excel workbook for the whole bundle.

Every writer takes the values of an :class:`ExportTable` as they came from the marts and writes
them without losing digits or adding any:

* ``Decimal`` (PostgreSQL numeric) is written with exactly its digits and never an exponent
  (``Decimal('214865.96')`` -> ``214865.96``, ``Decimal('1E+2')`` -> ``100``);
* ``float`` (double precision) is rounded to 10 significant digits first, so the noise of binary
  arithmetic disappears (``0.1 + 0.2`` -> ``0.3``); NaN and infinities become empty / null;
* dates are ISO dates (``2026-10-03``), timestamps ISO 8601 in UTC (``2026-10-04T06:00:00Z``);
* booleans are ``true`` / ``false``, ``None`` is an empty field (CSV) or ``null`` (JSON).

The Excel workbook holds typed cells (numbers, dates, booleans) with number formats by column
kind: money in the table's currency, percentages, rates, counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from nexus_pipelines.lib.exports.model import ExportBundle, ExportTable

SIGNIFICANT_DIGITS = 10
SHEET_NAME_MAX = 31
COLUMN_WIDTH_MAX = 50
COLUMN_WIDTH_MIN = 8
ABOUT_SHEET = "About"

DATE_FORMAT = "yyyy-mm-dd"
TIMESTAMP_FORMAT = "yyyy-mm-dd hh:mm:ss"
AMOUNT_FORMAT = "#,##0.00"
PERCENT_FORMAT = '0.00"%"'  # the value is already in percent: 12.5 shows as 12.50%
RATE_FORMAT = "0.0%"  # a share 0..1: 0.125 shows as 12.5%
INTEGER_FORMAT = "#,##0"
NUMBER_FORMAT = "#,##0.00"

NUMERIC_KINDS = frozenset({"integer", "money", "percent", "rate", "number"})
# in a table with a ``unit`` column, these kinds keep their own format whatever the row's unit
# (store_performance: change_pct and yoy_change_pct are percentages in every row)
UNIT_INDEPENDENT_KINDS = frozenset({"percent", "rate"})
UNIT_KINDS = {"money": "money", "count": "integer", "percent": "percent"}

_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


# --- values as text (CSV, JSON) -------------------------------------------------------------------


def round_float(value: float) -> float | None:
    """``value`` rounded to 10 significant digits; ``None`` for NaN and infinities."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def number_text(value: int | float | Decimal) -> str | None:
    """A number in plain decimal notation (never an exponent), ``None`` when not finite.

    ``Decimal`` keeps exactly its digits (trailing zeros included); ``float`` is rounded to 10
    significant digits and written with the fewest digits that read back as that float.
    """
    if isinstance(value, bool):
        raise TypeError(f"a boolean is not a number: {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return format(value, "f")
    rounded = round_float(value)
    if rounded is None:
        return None
    if rounded == 0:
        return "0.0"  # also for -0.0 (a rounded -1e-300)
    text = repr(rounded)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (a naive datetime is taken to be UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _json_scalar(value: Any) -> str:
    """The JSON text of one value (numbers written exactly, see ``number_text``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        text = number_text(value)
        return "null" if text is None else text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return json.dumps(timestamp_text(value))
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    raise TypeError(f"cannot write a value of type {type(value).__name__}: {value!r}")


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        text = number_text(value)
        return "" if text is None else text
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write a value of type {type(value).__name__}: {value!r}")


def _rows(table: ExportTable, path: Path) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """The rows of ``table`` with their number, each checked to have one value per column."""
    width = len(table.columns)
    for number, row in enumerate(table.rows, start=1):
        if len(row) != width:
            raise ValueError(
                f"{path}: table {table.name}, row {number}: {len(row)} values for {width} columns"
            )
        yield number, row


def _convert(
    table: ExportTable, path: Path, number: int, index: int, convert: Callable[[Any], str], value: Any
) -> str:
    try:
        return convert(value)
    except TypeError as exc:
        column = table.columns[index].name
        raise TypeError(f"{path}: table {table.name}, row {number}, column {column}: {exc}") from None


# --- CSV and JSON ---------------------------------------------------------------------------------


def write_csv(table: ExportTable, path: Path) -> int:
    """``table`` as CSV (UTF-8 without BOM, a header of column names); returns the rows written."""
    path = Path(path)
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([c.name for c in table.columns])
        for number, row in _rows(table, path):
            writer.writerow(
                [_convert(table, path, number, i, _csv_field, value) for i, value in enumerate(row)]
            )
            count += 1
    return count


def write_json(table: ExportTable, path: Path) -> int:
    """``table`` as a JSON array of records, one object per row and line; returns the rows written.

    The text is put together here rather than by a JSON library, so that a ``Decimal`` is written
    as a number with exactly its digits (no detour through ``float``).
    """
    path = Path(path)
    keys = [json.dumps(c.name, ensure_ascii=False) + ": " for c in table.columns]
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("[")
        for number, row in _rows(table, path):
            fields = ", ".join(
                key + _convert(table, path, number, i, _json_scalar, value)
                for i, (key, value) in enumerate(zip(keys, row))
            )
            handle.write(("\n" if count == 0 else ",\n") + "{" + fields + "}")
            count += 1
        handle.write("\n]\n" if count else "]\n")
    return count


# --- Excel ----------------------------------------------------------------------------------------


def money_format(currency: str | None) -> str:
    """``#,##0.00 "EUR"``, or ``#,##0.00`` without a currency."""
    code = (currency or "").replace('"', "").strip()
    return f'{AMOUNT_FORMAT} "{code}"' if code else AMOUNT_FORMAT


def kind_format(kind: str, currency: str | None) -> str | None:
    """The Excel number format of a column kind (``None``: the General format)."""
    return {
        "money": money_format(currency),
        "percent": PERCENT_FORMAT,
        "rate": RATE_FORMAT,
        "integer": INTEGER_FORMAT,
        "number": NUMBER_FORMAT,
        "date": DATE_FORMAT,
        "timestamp": TIMESTAMP_FORMAT,
    }.get(kind)


def sheet_name(name: str) -> str:
    """An Excel sheet name for ``name``: the characters Excel refuses replaced, at most 31 long."""
    return (_SHEET_NAME_FORBIDDEN.sub("_", name).strip("'") or "table")[:SHEET_NAME_MAX]


def _cell_value(value: Any) -> Any:
    """``value`` as openpyxl stores it: numbers as float/int, naive UTC datetimes, clean text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, float):
        return round_float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    raise TypeError(f"cannot write a value of type {type(value).__name__}: {value!r}")


def _display_width(value: Any, kind: str, currency: str | None) -> int:
    """About how many characters Excel shows for ``value`` in a column of ``kind``."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 5
    if isinstance(value, dt.datetime):
        return 19
    if isinstance(value, dt.date):
        return 10
    if isinstance(value, int | float):
        if kind == "rate":
            return len(f"{value * 100:.1f}%")
        if kind == "percent":
            return len(f"{value:.2f}%")
        if kind == "integer":
            return len(f"{value:,.0f}")
        suffix = len(currency) + 1 if kind == "money" and currency else 0
        return len(f"{value:,.2f}") + suffix
    return max((len(line) for line in str(value).splitlines()), default=0)


def _set_cell(sheet: Worksheet, row: int, column: int, value: Any, number_format: str | None) -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text that looks like a formula stays text
    if number_format and value is not None:
        cell.number_format = number_format
    elif isinstance(value, dt.datetime):
        cell.number_format = TIMESTAMP_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = DATE_FORMAT


def _write_table_sheet(sheet: Worksheet, table: ExportTable, currency: str | None, path: Path) -> int:
    bold = Font(bold=True)
    widths = []
    for index, column in enumerate(table.columns, start=1):
        cell = sheet.cell(row=1, column=index, value=column.heading)
        cell.font = bold
        widths.append(len(column.heading) + 2)  # room for the filter button
    unit_index = table.column("unit") if any(c.name == "unit" for c in table.columns) else None
    kinds = [c.kind for c in table.columns]
    count = 0
    for number, row in _rows(table, path):
        row_kinds = kinds
        unit = row[unit_index] if unit_index is not None else None
        if isinstance(unit, str) and unit in UNIT_KINDS:
            row_kinds = [
                UNIT_KINDS[unit] if k in NUMERIC_KINDS and k not in UNIT_INDEPENDENT_KINDS else k
                for k in kinds
            ]
        for index, (column, value) in enumerate(zip(table.columns, row)):
            try:
                stored = _cell_value(value)
            except TypeError as exc:
                raise TypeError(
                    f"{path}: table {table.name}, row {number}, column {column.name}: {exc}"
                ) from None
            kind = row_kinds[index]
            _set_cell(sheet, number + 1, index + 1, stored, kind_format(kind, currency))
            widths[index] = max(widths[index], _display_width(stored, kind, currency) + 1)
        count += 1
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(
            max(width, COLUMN_WIDTH_MIN), COLUMN_WIDTH_MAX
        )
    sheet.freeze_panes = "A2"
    last = get_column_letter(max(len(table.columns), 1))
    sheet.auto_filter.ref = f"A1:{last}{count + 1}"
    return count


def _write_about_sheet(sheet: Worksheet, bundle: ExportBundle) -> None:
    bold = Font(bold=True)
    period = bundle.period
    facts: list[tuple[str, Any]] = [
        ("Store id", bundle.store_id),
        ("Store name", bundle.store_name),
        ("Period", period.label),
        ("Grain", period.grain),
        ("Start", period.start),
        ("End", period.end),
        ("Generated at (UTC)", _cell_value(bundle.generated_at)),
        ("Data through", bundle.data_through),
        ("Currency", bundle.currency),
    ]
    for row, (label, value) in enumerate(facts, start=1):
        sheet.cell(row=row, column=1, value=label).font = bold
        _set_cell(sheet, row, 2, value, None)
    top = len(facts) + 2
    for index, heading in enumerate(("Sheet", "Title", "Rows", "Note"), start=1):
        sheet.cell(row=top, column=index, value=heading).font = bold
    widths = [len("Generated at (UTC)") + 2, 20, 8, 40]
    for offset, table in enumerate(bundle.tables, start=1):
        name = sheet_name(table.name)
        note = table.note
        if table.currency and table.currency != bundle.currency:
            note = f"{note} (amounts in {table.currency})".strip()
        values = (name, table.title, len(table.rows), note)
        for index, value in enumerate(values, start=1):
            _set_cell(sheet, top + offset, index, _cell_value(value), None)
        sheet.cell(row=top + offset, column=4).alignment = Alignment(wrap_text=True, vertical="top")
        widths[0] = max(widths[0], len(name) + 2)
        widths[1] = max(widths[1], len(table.title) + 2)
    for value in (bundle.store_id, bundle.store_name):
        widths[1] = max(widths[1], len(value or "") + 2)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width, COLUMN_WIDTH_MAX)


def write_xlsx(bundle: ExportBundle, path: Path) -> dict[str, int]:
    """The bundle as one workbook: an "About" sheet, then one sheet per table.

    Returns the rows written per table sheet (the "About" sheet not counted).
    """
    path = Path(path)
    workbook = Workbook()
    about = workbook.active
    assert about is not None
    about.title = ABOUT_SHEET
    _write_about_sheet(about, bundle)
    counts: dict[str, int] = {}
    for table in bundle.tables:
        sheet = workbook.create_sheet(title=sheet_name(table.name))
        counts[sheet.title] = _write_table_sheet(sheet, table, table.currency or bundle.currency, path)
    created = _cell_value(bundle.generated_at)
    workbook.properties.created = created
    workbook.properties.modified = created
    workbook.properties.title = f"{bundle.store_name or bundle.store_id} {bundle.period.label}"
    workbook.save(path)
    return counts
