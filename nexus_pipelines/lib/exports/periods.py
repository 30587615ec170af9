"""The periods an export covers: a day (2026-10-03), an ISO week (2026-W41) or a month (2026-10).

Weeks are ISO weeks, Monday to Sunday, as in the marts (``dim_date.week_start``). "The latest
complete" period of a grain, as of a day, is the newest one that ends on or before that day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from .model import Grain, Period

GRAINS: tuple[Grain, ...] = ("day", "week", "month")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def day(date: dt.date) -> Period:
    return Period("day", date, date, date.isoformat())


def week(date: dt.date) -> Period:
    """The ISO week holding ``date``."""
    start = date - dt.timedelta(days=date.weekday())
    year, number, _ = start.isocalendar()
    return Period("week", start, start + dt.timedelta(days=6), f"{year}-W{number:02d}")


def month(date: dt.date) -> Period:
    start = date.replace(day=1)
    last = calendar.monthrange(start.year, start.month)[1]
    return Period("month", start, start.replace(day=last), f"{start:%Y-%m}")


def of(grain: Grain, date: dt.date) -> Period:
    return {"day": day, "week": week, "month": month}[grain](date)


def latest_complete(grain: Grain, through: dt.date) -> Period:
    """The newest period of ``grain`` that ends on or before ``through``."""
    period = of(grain, through)
    return period if period.end <= through else of(grain, period.start - dt.timedelta(days=1))


def parse(text: str, grain: Grain | None = None) -> Period:
    """A period from its label; ``grain`` (when given) is the one the label must have.

    Raises ``ValueError`` with a message that names the text and the expected form.
    """
    value = text.strip()
    forms = {
        "day": "a day YYYY-MM-DD (2026-10-03)",
        "week": "an ISO week YYYY-Www (2026-W41)",
        "month": "a month YYYY-MM (2026-10)",
    }
    expected = forms[grain] if grain else ", ".join(forms.values())
    try:
        if (m := _WEEK.match(value)) and grain in (None, "week"):
            start = dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return week(start)
        if (m := _MONTH.match(value)) and grain in (None, "month"):
            return month(dt.date(int(m[1]), int(m[2]), 1))
        if _DAY.match(value) and grain in (None, "day"):
            return day(dt.date.fromisoformat(value))
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {grain or 'period'}: expected {expected}") from None
    raise ValueError(f"{text!r} is not {expected if grain else 'a period'}: expected {expected}")


def title(period: Period) -> str:
    """How people read the period: "Week 2026-W41 (5–11 Oct 2026)", "October 2026", "3 Oct 2026"."""
    if period.grain == "day":
        return f"{period.start.day} {period.start:%b %Y}"
    if period.grain == "month":
        return f"{period.start:%B %Y}"
    s, e = period.start, period.end
    span = (
        f"{s.day}–{e.day} {e:%b %Y}"
        if s.month == e.month
        else f"{s.day} {s:%b} – {e.day} {e:%b %Y}"
        if s.year == e.year
        else f"{s.day} {s:%b %Y} – {e.day} {e:%b %Y}"
    )
    return f"Week {period.label} ({span})"
