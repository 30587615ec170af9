"""Amazon Seller Central flat files: All Orders, FBA Manage Inventory and FBA customer returns.

The three reports share one shape: tab-separated, one header row of hyphenated lower-case
names, no quoting. Their set and order of columns changes between report versions and
marketplaces, so fields are mapped by header name, never by position:

* a header name the raw table does not know is kept, per row, in ``extra_columns``
  (``{header: value}``; None when the file has no such column);
* a column the table knows but the file lacks loads as NULL, unless it is required
  (``columns.*_REQUIRED``): then the whole file is unreadable;
* a row whose required values are empty, or whose values do not parse, is rejected with one
  reason per bad field, named by its header. So is a date or timestamp that no file of the
  file's date can hold (``check_plausible_date``), and an order line whose quantity is negative,
  or 0 while the line is not cancelled (real reports carry 0 on cancelled lines);
* in a UTF-8 file, a line with an invalid UTF-8 byte is rejected with the byte's offset; such a
  header makes the file unreadable.

Field count: a row with more fields than the header has columns is rejected unless the extra
fields are empty (trailing tabs), because a stray tab inside a value would otherwise shift
every later value into the wrong column. A row with fewer fields is accepted when the missing
trailing fields are optional (some exporters drop trailing empty fields); they load as NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Column, ParseContext, ParsedRow, ParseResult, Rejected, UnreadableFile
from .columns import (
    AMAZON_INVENTORY,
    AMAZON_INVENTORY_REQUIRED,
    AMAZON_ORDERS,
    AMAZON_ORDERS_REQUIRED,
    AMAZON_RETURNS,
    AMAZON_RETURNS_REQUIRED,
)
from .common import (
    BadLine,
    check_header,
    check_plausible_date,
    header_names,
    is_blank,
    parse_currency,
    parse_int,
    read_lines,
    text_parser,
)

EXTRA_COLUMNS = "extra_columns"


def _no_values(ctx: ParseContext) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class FlatReport:
    """How one tab-separated report fills its raw table."""

    columns: tuple[Column, ...]
    required: tuple[str, ...]  # header names that must be present and non-empty
    # columns whose value comes from where the file was landed, not from its content
    from_context: Callable[[ParseContext], dict[str, Any]]
    # values used when a column is absent from the file or empty in a row
    defaults: Callable[[ParseContext], dict[str, Any]] = _no_values
    # header name -> parser, where a column needs more than its type's parser
    parsers: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)
    # rules over several fields of a parsed row: {column name: value} -> problems
    row_rules: Callable[[Mapping[str, Any]], list[str]] | None = None

    def header_name(self, column: Column) -> str:
        return column.name.replace("_", "-")


@dataclass(frozen=True)
class _Field:
    """One file column that feeds one table column."""

    index: int  # position among the row's tab-separated fields
    position: int  # position in the table's columns
    header: str
    parse: Callable[[str], Any]
    required: bool


@dataclass(frozen=True)
class _Layout:
    """What the header of one file says about reading each of its rows."""

    width: int  # number of named header columns
    fields: tuple[_Field, ...]
    extras: tuple[tuple[int, str], ...]  # (field index, header) of columns the table lacks
    template: tuple[Any, ...]  # a row's values before any field is read
    extra_position: int
    column_names: tuple[str, ...]
    row_rules: Callable[[Mapping[str, Any]], list[str]] | None


def parse_flat_file(ctx: ParseContext, report: FlatReport) -> Iterator[ParseResult]:
    """Yield one ParsedRow or Rejected per non-blank data line of the file."""
    lines = read_lines(ctx.path)
    header_index = next(
        (i for i, line in enumerate(lines) if isinstance(line, BadLine) or not is_blank(line)), None
    )
    if header_index is None:
        raise UnreadableFile(ctx.path, 1, "file is empty (no header row)")
    header = lines[header_index]
    if isinstance(header, BadLine):
        raise UnreadableFile(ctx.path, header_index + 1, f"header row: {header.reason}")
    layout = _read_header(ctx, report, header, header_index + 1)
    for index in range(header_index + 1, len(lines)):
        line = lines[index]
        if isinstance(line, BadLine):
            yield Rejected(index + 1, line.text, line.reason)
            continue
        if is_blank(line):
            continue
        values, problems = _read_row(layout, line)
        if problems:
            yield Rejected(index + 1, line, "; ".join(problems))
        else:
            yield ParsedRow(index + 1, values)


def _read_header(ctx: ParseContext, report: FlatReport, header: str, line: int) -> _Layout:
    names = header_names(header.split("\t"))
    check_header(ctx.path, names, report.required, line)

    context_values = report.from_context(ctx)
    defaults = report.defaults(ctx)
    positions = {report.header_name(col): pos for pos, col in enumerate(report.columns)}
    fields, extras = [], []
    for index, name in enumerate(names):
        position = positions.get(name)
        column_name = None if position is None else report.columns[position].name
        if position is None or column_name in context_values or column_name == EXTRA_COLUMNS:
            extras.append((index, name))
            continue
        pg_type = report.columns[position].pg_type
        parse = report.parsers.get(name) or text_parser(pg_type)
        if pg_type in ("date", "timestamptz"):
            parse = _plausible(parse, ctx)
        fields.append(_Field(index, position, name, parse, name in report.required))

    template = tuple(context_values.get(col.name, defaults.get(col.name)) for col in report.columns)
    extra_position = [col.name for col in report.columns].index(EXTRA_COLUMNS)
    column_names = tuple(col.name for col in report.columns)
    return _Layout(
        len(names), tuple(fields), tuple(extras), template, extra_position, column_names, report.row_rules
    )


def _plausible(parse: Callable[[str], Any], ctx: ParseContext) -> Callable[[str], Any]:
    """``parse``, then reject a date the file cannot hold (``check_plausible_date``)."""
    partition_date = ctx.partition_date

    def parse_plausible(value: str) -> Any:
        return check_plausible_date(parse(value), partition_date)

    return parse_plausible


def _read_row(layout: _Layout, line: str) -> tuple[tuple[Any, ...], list[str]]:
    """The typed values of one data line, and the problems that prevent loading it."""
    if "\x00" in line:
        return (), ["line contains a NUL character, which PostgreSQL cannot store"]
    fields = line.split("\t")
    count = len(fields)
    if count > layout.width:
        if any(value.strip() for value in fields[layout.width :]):
            return (), [
                f"{count} fields but the header has {layout.width} columns (a value may contain a tab)"
            ]
        count = layout.width

    values = list(layout.template)
    problems = []
    for spec in layout.fields:
        raw = fields[spec.index].strip() if spec.index < count else ""
        if not raw:
            if spec.required:
                problems.append(_missing_reason(spec, count, layout.width))
            continue
        try:
            values[spec.position] = spec.parse(raw)
        except ValueError as exc:
            problems.append(f"{spec.header}: {exc}")
    if layout.extras:
        values[layout.extra_position] = {
            header: fields[index].strip() if index < count else "" for index, header in layout.extras
        }
    if layout.row_rules is not None:
        problems += layout.row_rules(dict(zip(layout.column_names, values)))
    return tuple(values), problems


def _missing_reason(spec: _Field, count: int, width: int) -> str:
    if spec.index >= count:
        return f"{spec.header}: required value is missing (the row has {count} of {width} fields)"
    return f"{spec.header}: required value is empty"


def _positive_int(value: str) -> int:
    number = parse_int(value)
    if number <= 0:
        raise ValueError(f"must be greater than 0, got {number}")
    return number


def _non_negative_int(value: str) -> int:
    number = parse_int(value)
    if number < 0:
        raise ValueError(f"must not be negative, got {number}")
    return number


def _is_cancelled(status: Any) -> bool:
    """Order or item status Cancelled, compared as staging does (``lower(...) = 'cancelled'``)."""
    return isinstance(status, str) and status.lower() == "cancelled"


def _order_line_rules(row: Mapping[str, Any]) -> list[str]:
    """An order line sells at least one unit; only a cancelled line may carry 0."""
    if row["quantity"] == 0 and not (_is_cancelled(row["order_status"]) or _is_cancelled(row["item_status"])):
        return [
            "quantity: must be at least 1 on an order line, got 0 (0 is only allowed on a cancelled line)"
        ]
    return []


def _store(ctx: ParseContext) -> dict[str, Any]:
    return {"store_id": ctx.store_id}


def _store_and_snapshot(ctx: ParseContext) -> dict[str, Any]:
    return {"store_id": ctx.store_id, "snapshot_date": ctx.partition_date}


def _store_currency(ctx: ParseContext) -> dict[str, Any]:
    return {"currency": ctx.default_currency}


ORDERS_REPORT = FlatReport(
    AMAZON_ORDERS,
    AMAZON_ORDERS_REQUIRED,
    from_context=_store,
    defaults=_store_currency,  # money is in the file's currency column, else the store's
    parsers={"currency": parse_currency, "quantity": _non_negative_int},
    row_rules=_order_line_rules,
)
INVENTORY_REPORT = FlatReport(AMAZON_INVENTORY, AMAZON_INVENTORY_REQUIRED, from_context=_store_and_snapshot)
RETURNS_REPORT = FlatReport(
    AMAZON_RETURNS,
    AMAZON_RETURNS_REQUIRED,
    from_context=_store,
    parsers={"quantity": _positive_int},  # a return of zero units is not a return
)


def parse_orders(ctx: ParseContext) -> Iterator[ParseResult]:
    """All Orders report (one row per order item); old ``url`` and new ``cpf`` layouts alike."""
    return parse_flat_file(ctx, ORDERS_REPORT)


def parse_inventory(ctx: ParseContext) -> Iterator[ParseResult]:
    """FBA Manage Inventory snapshot, dated by the file name (18- to 25-column versions)."""
    return parse_flat_file(ctx, INVENTORY_REPORT)


def parse_returns(ctx: ParseContext) -> Iterator[ParseResult]:
    """FBA customer returns; unknown dispositions and reasons are kept as they are."""
    return parse_flat_file(ctx, RETURNS_REPORT)


__all__ = [
    "INVENTORY_REPORT",
    "ORDERS_REPORT",
    "RETURNS_REPORT",
    "FlatReport",
    "parse_flat_file",
    "parse_inventory",
    "parse_orders",
    "parse_returns",
]
