"""``stores.yaml``: the seller's stores (store_id, name, marketplace, currency, timezone).

The file replaces the whole ``stores`` table on every load and other sources depend on it
(the store's currency fills missing order currencies, its time zone sets day boundaries), so
it is all or nothing: any invalid entry makes the file unreadable, with a message naming the
entry and its line. Either form is accepted::

    - {store_id: us-main, currency: USD, ...}        # a list of stores
    stores: [{store_id: us-main, currency: USD}]      # or the list under ``stores``

``store_id`` and ``currency`` are required; keys other than the five columns are ignored. A value
is text; an unquoted ``store_id`` in plain decimal (``store_id: 101``) is taken as its digits,
while ids YAML would change (``0101``, ``1.0``, ``yes``) are refused with "quote it".
``ParsedRow.line`` is the line where the entry starts. An invalid UTF-8 byte in a UTF-8 file
makes it unreadable at the byte's line (a file that is not UTF-8 anywhere is read as cp1252).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from .base import ParseContext, ParsedRow, ParseResult, UnreadableFile
from .columns import STORES
from .common import decode_document, parse_currency, parse_text, parse_timezone

REQUIRED = ("store_id", "currency")
_PARSER_OF: dict[str, Callable[[str], Any]] = {
    "currency": parse_currency,
    "timezone": parse_timezone,
}


def parse_stores(ctx: ParseContext) -> Iterator[ParseResult]:
    """One ParsedRow per store; partition_date is not used (the file is not partitioned)."""
    seen: dict[str, int] = {}
    for number, (line, entry) in enumerate(_entries(ctx), start=1):
        values = _store_values(ctx, number, line, entry)
        store_id = values[0]
        if store_id in seen:
            problem = f"store_id {store_id!r} already used by store {seen[store_id]}"
            raise UnreadableFile(ctx.path, line, f"store {number}: {problem}")
        seen[store_id] = number
        yield ParsedRow(line, values)


def _entries(ctx: ParseContext) -> list[tuple[int, Any]]:
    """(line, entry) for every listed store, using the YAML nodes to know where each starts."""
    node = _compose(ctx)
    if node is None:
        raise UnreadableFile(ctx.path, 1, "file is empty: expected a list of stores")
    if isinstance(node, yaml.MappingNode):
        listed = [value for key, value in node.value if key.value == "stores"]
        node = listed[0] if listed else node
    if not isinstance(node, yaml.SequenceNode):
        line = node.start_mark.line + 1
        raise UnreadableFile(ctx.path, line, "expected a list of stores (or a 'stores:' list)")
    loader = yaml.SafeLoader("")
    try:
        return [
            (item.start_mark.line + 1, loader.construct_object(_integers_as_text(item), deep=True))
            for item in node.value
        ]
    finally:
        loader.dispose()


_INT_TAG, _STR_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:str"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _integers_as_text(item: yaml.Node) -> yaml.Node:
    """An unquoted ``store_id`` written as a whole number in plain decimal (``101``) is its own text, as
    sellers' systems number stores; what YAML would change (``0101`` read as octal, ``1_000``,
    floats, booleans) keeps its YAML type and is refused below with "quote it"."""
    if isinstance(item, yaml.MappingNode):
        for key, value in item.value:
            if (
                getattr(key, "value", None) == "store_id"
                and isinstance(value, yaml.ScalarNode)
                and value.tag == _INT_TAG
                and _DECIMAL.fullmatch(value.value)
            ):
                value.tag = _STR_TAG
    return item


def _compose(ctx: ParseContext) -> yaml.Node | None:
    text = decode_document(ctx.path, ctx.path.read_bytes())
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise UnreadableFile(ctx.path, line, f"invalid YAML: {problem}") from exc


def _store_values(ctx: ParseContext, number: int, line: int, entry: Any) -> tuple[Any, ...]:
    """The STORES values of one entry; UnreadableFile naming the entry if it is invalid."""
    if not isinstance(entry, dict):
        raise UnreadableFile(ctx.path, line, f"store {number}: expected a mapping of store fields")
    store_id = entry.get("store_id")
    store_id = store_id.strip() if isinstance(store_id, str) else store_id
    label = f"store {number}" + (f" ({store_id!r})" if store_id else "")
    values: list[str | None] = []
    for column in STORES:
        value = entry.get(column.name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if column.name in REQUIRED:
                raise UnreadableFile(ctx.path, line, f"{label}: missing {column.name}")
            values.append(None)
            continue
        if not isinstance(value, str):
            problem = f"{label}: {column.name} must be text (quote it in YAML), got {value!r}"
            raise UnreadableFile(ctx.path, line, problem)
        parse = _PARSER_OF.get(column.name, parse_text)
        try:
            values.append(parse(value))
        except ValueError as exc:
            raise UnreadableFile(ctx.path, line, f"{label}: {column.name}: {exc}") from exc
    return tuple(values)
