"""Sales and Traffic report (SP-API ``GET_SALES_AND_TRAFFIC_REPORT``, one JSON document).

The document is validated as a whole against Amazon's official JSON schema (shipped in
``schemas/``): a report is produced by one API call, so a document that does not conform is a
wrong or damaged download, not a few bad rows, and nothing of it is loaded. The error names
the JSON path and, when it can be found, the line of the offending value.

One file feeds two raw tables: ``salesAndTrafficByDate[]`` (one row per day) and
``salesAndTrafficByAsin[]`` (one row per parent/child ASIN or SKU, dated by the report's
``dataStartTime``). ``ParsedRow.line`` is the 1-based position of the entry in its array (not a
physical line: one entry spans many lines), so ``_row_number`` stays unique and meaningful.

A row dated where no file of the file's date can be (``check_plausible_date``: an entry's
``date``, or the report's ``dataStartTime`` for the ASIN rows) is rejected. An invalid UTF-8
byte in a UTF-8 document makes it unreadable: one document cannot be partly loaded.

Numbers are taken from the parsed JSON: a float's shortest repr is the decimal literal of the
file (``238.44``), so ``Decimal(str(value))`` recovers it exactly while ``payload`` keeps plain
JSON types.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from importlib import resources
from json.decoder import scanstring  # type: ignore[attr-defined]  # public at run time, absent from the stubs
from typing import Any

import fastjsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from .base import Column, ParseContext, ParsedRow, ParseResult, Rejected, UnreadableFile
from .columns import SALES_TRAFFIC_BY_ASIN, SALES_TRAFFIC_BY_DATE
from .common import check_int32, check_numeric, check_plausible_date, decode_document, unstorable_text

SCHEMA_RESOURCE = "schemas/sellerSalesAndTrafficReport.schema.json"
_ERRORS_EXAMINED = 100  # schema errors looked at to find the earliest one in the file
_MESSAGE_LIMIT = 300

# column -> where its value sits in an entry; money objects give their amount
BY_DATE_FIELDS: dict[str, tuple[str, ...]] = {
    "ordered_product_sales": ("salesByDate", "orderedProductSales"),
    "ordered_product_sales_b2b": ("salesByDate", "orderedProductSalesB2B"),
    "units_ordered": ("salesByDate", "unitsOrdered"),
    "units_ordered_b2b": ("salesByDate", "unitsOrderedB2B"),
    "total_order_items": ("salesByDate", "totalOrderItems"),
    "total_order_items_b2b": ("salesByDate", "totalOrderItemsB2B"),
    "units_refunded": ("salesByDate", "unitsRefunded"),
    "refund_rate": ("salesByDate", "refundRate"),
    "shipped_product_sales": ("salesByDate", "shippedProductSales"),
    "units_shipped": ("salesByDate", "unitsShipped"),
    "orders_shipped": ("salesByDate", "ordersShipped"),
    "page_views": ("trafficByDate", "pageViews"),
    "page_views_b2b": ("trafficByDate", "pageViewsB2B"),
    "sessions": ("trafficByDate", "sessions"),
    "sessions_b2b": ("trafficByDate", "sessionsB2B"),
    "buy_box_percentage": ("trafficByDate", "buyBoxPercentage"),
    "unit_session_percentage": ("trafficByDate", "unitSessionPercentage"),
    "order_item_session_percentage": ("trafficByDate", "orderItemSessionPercentage"),
    "currency": ("salesByDate", "orderedProductSales", "currencyCode"),
}
BY_ASIN_FIELDS: dict[str, tuple[str, ...]] = {
    "parent_asin": ("parentAsin",),
    "child_asin": ("childAsin",),
    "sku": ("sku",),
    "ordered_product_sales": ("salesByAsin", "orderedProductSales"),
    "units_ordered": ("salesByAsin", "unitsOrdered"),
    "total_order_items": ("salesByAsin", "totalOrderItems"),
    "page_views": ("trafficByAsin", "pageViews"),
    "sessions": ("trafficByAsin", "sessions"),
    "buy_box_percentage": ("trafficByAsin", "buyBoxPercentage"),
    "unit_session_percentage": ("trafficByAsin", "unitSessionPercentage"),
    "currency": ("salesByAsin", "orderedProductSales", "currencyCode"),
}


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8"))


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _is_date(value: str) -> bool:
    """The ``date`` format as jsonschema checks it: YYYY-MM-DD and a real calendar day."""
    try:
        return bool(_ISO_DATE.fullmatch(value)) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


@functools.lru_cache(maxsize=1)
def _fast_validator() -> Callable[[Any], Any]:
    """The same schema compiled to Python code (fastjsonschema): ~50x faster on a valid document.

    It only answers "valid or not"; the error a user reads always comes from jsonschema.
    """
    return fastjsonschema.compile(_schema(), formats={"date": _is_date})


@functools.lru_cache(maxsize=1)
def report_validator() -> Validator:
    """The schema's own draft validator, with format checks (``date``), built once."""
    schema = _schema()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def read_report(ctx: ParseContext) -> dict[str, Any]:
    """The validated report document, or UnreadableFile naming what is wrong and where.

    A valid document is checked by the compiled validator alone (one file feeds two raw tables,
    so it is read twice; the compiled check keeps that cheap); jsonschema runs only to word the
    error of an invalid one.
    """
    text = decode_document(ctx.path, _read_bytes(ctx))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"invalid JSON: {exc.msg} (column {exc.colno})"
        raise UnreadableFile(ctx.path, exc.lineno, problem) from exc
    try:
        _fast_validator()(document)
        return document
    except fastjsonschema.JsonSchemaException:
        pass  # jsonschema says what is wrong, and where
    errors = list(itertools.islice(report_validator().iter_errors(document), _ERRORS_EXAMINED))
    if errors:
        line, message = _first_error(text, errors)
        problem = f"does not match the Sales and Traffic schema: {message}"
        raise UnreadableFile(ctx.path, line, problem)
    return document


def _read_bytes(ctx: ParseContext) -> bytes:
    """The document's bytes; the Reports API serves it gzip-compressed, so that is accepted too."""
    data = ctx.path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise UnreadableFile(ctx.path, None, f"damaged gzip data: {exc}") from exc


def parse_sales_traffic_by_date(ctx: ParseContext) -> Iterator[ParseResult]:
    """One row per ``salesAndTrafficByDate[]`` entry, dated by the entry's ``date``."""
    report = read_report(ctx)
    for position, entry in enumerate(report["salesAndTrafficByDate"], start=1):
        report_date = dt.date.fromisoformat(entry["date"])  # format-checked by the schema
        problem = _implausible(report_date, ctx, "date")
        if problem is not None:
            yield Rejected(position, _raw(entry), problem)
            continue
        fixed = {"store_id": ctx.store_id, "report_date": report_date}
        yield _entry_row(position, entry, SALES_TRAFFIC_BY_DATE, BY_DATE_FIELDS, fixed)


def parse_sales_traffic_by_asin(ctx: ParseContext) -> Iterator[ParseResult]:
    """One row per ``salesAndTrafficByAsin[]`` entry, dated by the report's first day."""
    report = read_report(ctx)
    # required and format-checked by the schema, so always a valid date here
    report_date = dt.date.fromisoformat(report["reportSpecification"]["dataStartTime"])
    problem = _implausible(report_date, ctx, "reportSpecification.dataStartTime")
    for position, entry in enumerate(report["salesAndTrafficByAsin"], start=1):
        if problem is not None:
            yield Rejected(position, _raw(entry), problem)
            continue
        fixed = {"store_id": ctx.store_id, "report_date": report_date}
        yield _entry_row(position, entry, SALES_TRAFFIC_BY_ASIN, BY_ASIN_FIELDS, fixed)


def _implausible(value: dt.date, ctx: ParseContext, field: str) -> str | None:
    """Why a row dated ``value`` cannot be in this file, or None."""
    try:
        check_plausible_date(value, ctx.partition_date)
    except ValueError as exc:
        return f"{field}: {exc}"
    return None


def _entry_row(
    position: int,
    entry: dict[str, Any],
    columns: Sequence[Column],
    paths: dict[str, tuple[str, ...]],
    fixed: dict[str, Any],
) -> ParseResult:
    """Typed values of one entry; Rejected if a value cannot be stored in its column."""
    problem = unstorable_text(entry)
    if problem is not None:
        return Rejected(position, _raw(entry), problem)
    values = []
    for column in columns:
        if column.name == "payload":
            values.append(entry)
        elif column.name in fixed:
            values.append(fixed[column.name])
        else:
            path = paths[column.name]
            try:
                values.append(_typed(_lookup(entry, path), column.pg_type))
            except ValueError as exc:
                return Rejected(position, _raw(entry), f"{'.'.join(path)}: {exc}")
    return ParsedRow(position, tuple(values))


def _raw(entry: dict[str, Any]) -> str:
    """The entry as quarantine text; escaped so that it is storable whatever it contains."""
    return json.dumps(entry)


def _lookup(entry: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = entry
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _typed(value: Any, pg_type: str) -> Any:
    """Convert a schema-valid JSON value; a money object ``{amount, currencyCode}`` gives its
    amount (the currency has a column of its own)."""
    if isinstance(value, dict):
        value = value.get("amount")
    if value is None:
        return None
    if pg_type == "integer":
        return check_int32(int(value))  # draft 7 lets 3.0 pass as an integer
    if pg_type.startswith("numeric"):
        number = Decimal(value) if isinstance(value, int) else Decimal(str(value))
        return check_numeric(number, pg_type)
    return value


def _first_error(text: str, errors: list[ValidationError]) -> tuple[int | None, str]:
    """The error that comes first in the file, as (line or None, "json path: message")."""
    offsets = [_locate(text, error.absolute_path) for error in errors]
    ranked = sorted(
        range(len(errors)),
        key=lambda i: (offsets[i] is None, offsets[i] or 0, i),
    )
    error, offset = errors[ranked[0]], offsets[ranked[0]]
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    line = None if offset is None else text.count("\n", 0, offset) + 1
    return line, f"{error.json_path}: {message}"


_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _locate(text: str, path: Sequence[str | int]) -> int | None:
    """Character offset where the value at ``path`` starts in the JSON ``text``, if found.

    Walks the text key by key and skips sibling values with the C decoder, so finding a
    position costs one parse of the text before it. Only used to word an error message.
    """
    try:
        index = _skip(text, 0)
        for step in path:
            if text[index] == "{" and isinstance(step, str):
                found = _object_member(text, _skip(text, index + 1), step)
            elif text[index] == "[" and isinstance(step, int):
                found = _array_item(text, _skip(text, index + 1), step)
            else:
                return None
            if found is None:
                return None
            index = found
        return index
    except (ValueError, IndexError):
        return None


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)  # zero or more blanks: always matches
    return match.end() if match else index


def _object_member(text: str, index: int, key: str) -> int | None:
    while text[index] != "}":
        name, index = scanstring(text, index + 1)
        index = _skip(text, _skip(text, index) + 1)  # past the colon
        if name == key:
            return index
        index = _skip(text, _DECODER.raw_decode(text, index)[1])
        if text[index] == ",":
            index = _skip(text, index + 1)
    return None


def _array_item(text: str, index: int, position: int) -> int:
    for _ in range(position):
        index = _skip(text, _DECODER.raw_decode(text, index)[1])
        index = _skip(text, index + 1)  # past the comma
    return index
