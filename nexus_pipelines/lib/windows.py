"""The one rule for partition windows, used by `nexus run`, the schedule, the sensor and the assets.

* A partition is a UTC calendar day (the Dagster partitions are daily in UTC).
* The latest complete partition at a moment ``now`` is the UTC day before ``now``'s UTC day:
  the day that has ended. This is the same key Dagster's ``DailyPartitionsDefinition`` gives as
  its last partition at ``now``.
* Windows are clipped to ``[partitions_start, latest complete]``; a window left empty by the clip
  is an error that names the dates asked for and the range that exists.
* The nightly refresh re-processes ``lookback_days`` before the latest partition.
* A partition window (Dagster's half-open time window, midnight to midnight) converts to an
  inclusive pair of dates, and a pair of dates converts to Dagster's partition keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

UTC = dt.UTC


class EmptyWindow(ValueError):
    """A window with no partition in it after clipping to the partitions that exist."""


@dataclass(frozen=True)
class Window:
    start: dt.date  # first partition, inclusive
    end: dt.date  # last partition, inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise EmptyWindow(f"window {self.start} .. {self.end} ends before it starts")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def keys(self) -> tuple[str, str]:
        """The first and last partition keys (Dagster's daily key format, YYYY-MM-DD)."""
        return self.start.isoformat(), self.end.isoformat()

    def __str__(self) -> str:
        return f"{self.start} .. {self.end}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


def latest_complete_day(now: dt.datetime | None = None) -> dt.date:
    """The last UTC day that has ended at ``now`` (default: the current time)."""
    now = now or utc_now()
    if now.tzinfo is None:
        raise ValueError("latest_complete_day needs an aware datetime (naive times are ambiguous)")
    return now.astimezone(UTC).date() - dt.timedelta(days=1)


def clip(start: dt.date, end: dt.date, partitions_start: dt.date, now: dt.datetime | None = None) -> Window:
    """``[start, end]`` clipped to the partitions that exist at ``now``.

    An empty result is an ``EmptyWindow`` that names ``start .. end`` as asked, never the clipped dates.
    """
    if end < start:
        raise EmptyWindow(f"no partition in {start} .. {end}: the window ends before it starts")
    latest = latest_complete_day(now)
    first, last = max(start, partitions_start), min(end, latest)
    if last < first:
        raise EmptyWindow(
            f"no partition in {start} .. {end}: partitions run from {partitions_start} to {latest} "
            "(the last complete UTC day)"
        )
    return Window(first, last)


def lookback_window(partitions_start: dt.date, lookback_days: int, now: dt.datetime | None = None) -> Window:
    """The latest complete partition and the ``lookback_days`` before it, clipped to the start."""
    latest = latest_complete_day(now)
    return clip(latest - dt.timedelta(days=lookback_days), latest, partitions_start, now)


def from_time_window(start: dt.datetime, end: dt.datetime) -> Window:
    """Dagster's half-open partition time window (midnight .. midnight) as inclusive dates."""
    return Window(start.date(), (end - dt.timedelta(days=1)).date())


def contains(window: Window, day: dt.date) -> bool:
    return window.start <= day <= window.end


PERIODS = ("day", "week", "month")


def period_start(day: dt.date, every: str) -> dt.date:
    """The first day of the ``every`` ("day", "week": ISO week from Monday, "month") holding ``day``."""
    if every == "day":
        return day
    if every == "week":
        return day - dt.timedelta(days=day.weekday())
    if every == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {every!r}: expected one of {', '.join(PERIODS)}")
