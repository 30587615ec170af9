"""Types shared by every landing-file parser.

A parser reads one landing file and yields, for every data line, either a ``ParsedRow`` (the
typed values of the raw table's columns, in ``SourceSpec.columns`` order) or a ``Rejected``
(the raw text of the line and the reason it cannot be loaded). A file that cannot be read at
all raises ``UnreadableFile`` naming the file and the line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # text, integer, bigint, numeric(18,4), boolean, date, timestamptz, jsonb
    description: str = ""


@dataclass(frozen=True)
class ParseContext:
    path: Path  # absolute path of the file being read
    relative_path: str  # path relative to the landing folder (what lineage columns record)
    partition_date: dt.date  # the date in the file name
    store_id: str | None = None  # from amazon/<store_id>/..., None for other sources
    default_currency: str | None = None  # the store's currency from stores.yaml


@dataclass(frozen=True)
class ParsedRow:
    line: int  # 1-based physical line number in the file (header = line 1 for flat files)
    values: tuple[Any, ...]  # python values, one per SourceSpec.columns entry


@dataclass(frozen=True)
class Rejected:
    line: int
    raw: str  # the raw text of the line (or of the JSON record)
    reason: str


ParseResult = ParsedRow | Rejected
Parser = Callable[[ParseContext], Iterator[ParseResult]]


class UnreadableFile(Exception):
    """The file as a whole cannot be parsed; nothing of it is loaded."""

    def __init__(self, path: Path | str, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class SourceSpec:
    """One raw table and how to fill it from landing files."""

    name: str  # raw table name, also the Dagster asset key raw/<name>
    description: str
    landing_glob: str  # relative to the landing folder, e.g. "amazon/*/orders/*.txt"
    columns: tuple[Column, ...]
    parser: Parser
    partitioned: bool = True  # False: one file (stores.yaml) replaces the whole table

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]
