"""Writing landing files: UTF-8, ``\\n`` line endings, fixed formatting of times and money.

Landing files hold customer addresses: they are written 0600 (atomically), in folders created 0700.
They are not fsynced one by one: demo data can be generated again.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ..lib.files import write_private_text

DAY = 86_400


class Clock:
    """Formats times given as whole seconds since the first day of the window (UTC)."""

    def __init__(self, start: date, days: int):
        # a few days past the window for times that spill over (sentAt, next-day updates)
        self.dates = [(start + timedelta(days=d)).isoformat() for d in range(days + 3)]
        self.origin = np.datetime64(start.isoformat(), "s")

    def iso_date(self, day: int) -> str:
        return self.dates[day]

    def timestamp(self, seconds: int) -> str:
        day, rest = divmod(int(seconds), DAY)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{self.dates[day]}T{hours:02d}:{minutes:02d}:{secs:02d}+00:00"

    def timestamps(self, seconds: np.ndarray) -> list[str]:
        """``timestamp`` of many times at once."""
        moments = self.origin + np.asarray(seconds, dtype=np.int64).astype("timedelta64[s]")
        return [text + "+00:00" for text in np.datetime_as_string(moments, unit="s").tolist()]


def money(cents: int) -> str:
    """Cents as a decimal with two places (``1999`` -> ``"19.99"``)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{part:02d}"


def write_text(path: Path, lines: list[str]) -> None:
    write_private_text(path, "".join(line + "\n" for line in lines), durable=False)


def write_table(path: Path, header: tuple[str, ...], rows: list[list[str]], sep: str = "\t") -> None:
    write_text(path, [sep.join(header)] + [sep.join(row) for row in rows])


def write_json(path: Path, data: object, *, sort_keys: bool = False) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=sort_keys)
    write_private_text(path, text + "\n", durable=False)
