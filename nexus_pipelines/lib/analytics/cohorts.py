"""Cohort retention tables for notebooks and Dagster assets.

Definitions follow PostHog's retention insight (and Mixpanel's equivalents):

Periods
    Activity is bucketed into calendar periods: ``"day"``; ``"week"`` (ISO
    weeks, Monday to Sunday); ``"month"`` (calendar months). A period is
    identified by its first day. Timestamps are bucketed on their wall-clock
    date; timezone-aware values keep their own local date. Offsets count
    calendar periods, as PostHog does; Mixpanel's API instead measures
    intervals from each user's own birth time, so its numbers can differ.

Cohort entries (``mode``)
    ``"first_time"`` (PostHog "first time", Mixpanel "First Time" / API
    ``birth``): a user enters exactly one cohort, the period of the first
    time they performed the cohort event anywhere in the data. Pass the full
    history so that "first" is right, and filter the result on
    ``cohort_start`` to show recent cohorts only.
    ``"recurring"`` (PostHog "recurring", Mixpanel "Recurring" / API
    ``compounded``): a user enters the cohort of *every* period in which they
    performed the cohort event, first time or not, so one user can belong to
    several cohorts.

    With neither mask given every activity row is both the cohort and the
    return event: ``"first_time"`` is then the classic acquisition triangle
    (cohort = period of first activity), and ``"recurring"`` reads "of the
    users active in period P, how many were active k periods later".

Retained users (``criterion``)
    Offset 0 is the cohort period itself and is always the full cohort.
    For offset ``k >= 1`` a cohort entry with cohort period ``c`` is retained

    * ``"on"`` (default): if the user performed the return event in period
      ``c + k``;
    * ``"on_or_after"`` (PostHog "on or after", also called cumulative,
      rolling or unbounded retention; Mixpanel's "On or After"): if the user
      performed the return event in period ``c + k`` or any later observed
      period, including periods beyond the ``periods`` horizon.

Rates
    ``retention_rate = retained / cohort_size`` (PostHog's "Period 0"
    reference); ``churn_rate = 1 - retention_rate``, the share of the cohort
    not retained at that offset; ``period_churn = 1 - retained / retained at
    the previous offset`` (one minus PostHog's "previous period" reference),
    undefined at offset 0 or after an offset with nobody retained. Under the
    ``"on"`` criterion users can come back, so ``period_churn`` can be
    negative.

Observation window (``date_to``)
    Rows dated after ``date_to`` are ignored. Offsets whose period starts
    after ``date_to`` are not reported, which leaves the usual triangle. A
    reported period that ends after ``date_to`` is only partly observed and
    is flagged ``is_complete=False``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd

Period = Literal["day", "week", "month"]
Mode = Literal["recurring", "first_time"]
Criterion = Literal["on", "on_or_after"]

_PERIODS = ("day", "week", "month")
_MODES = ("recurring", "first_time")
_CRITERIA = ("on", "on_or_after")

# 1970-01-01 (day 0) is a Thursday, so Monday 1969-12-29 is day -3.
_EPOCH_MONDAY_OFFSET = 3

# Largest (user, period) key space looked up through a dense boolean table
# (one byte per cell, 64 MiB); larger spaces fall back to binary search.
_DENSE_LOOKUP_MAX_CELLS = 64 * 2**20

RESULT_DTYPES = {
    "cohort_start": object,
    "period_offset": "int64",
    "period_start": object,
    "cohort_size": "int64",
    "retained": "int64",
    "retention_rate": "float64",
    "churn_rate": "float64",
    "period_churn": "float64",
    "is_complete": bool,
}
RESULT_COLUMNS = list(RESULT_DTYPES)


def period_index(days: np.ndarray, period: Period) -> np.ndarray:
    """Number the calendar periods containing ``days`` (``datetime64[D]``).

    Consecutive periods get consecutive integers, so the difference of two
    indexes is the offset between the periods.
    """
    if period == "month":
        return days.astype("datetime64[M]").astype(np.int64)
    day_numbers = days.astype(np.int64)
    if period == "week":
        return (day_numbers + _EPOCH_MONDAY_OFFSET) // 7
    return day_numbers


def period_start(index: np.ndarray, period: Period) -> np.ndarray:
    """First day (``datetime64[D]``) of the periods numbered by :func:`period_index`."""
    index = np.asarray(index, dtype=np.int64)
    if period == "month":
        return index.astype("datetime64[M]").astype("datetime64[D]")
    if period == "week":
        return (index * 7 - _EPOCH_MONDAY_OFFSET).astype("datetime64[D]")
    return index.astype("datetime64[D]")


def period_end(index: np.ndarray, period: Period) -> np.ndarray:
    """Last day (``datetime64[D]``) of the periods numbered by :func:`period_index`."""
    return period_start(np.asarray(index, dtype=np.int64) + 1, period) - np.timedelta64(1, "D")


def retention_matrix(
    activity: pd.DataFrame,
    period: Period = "week",
    mode: Mode = "recurring",
    periods: int = 12,
    date_to=None,
    *,
    user_col: str = "user_id",
    time_col: str = "timestamp",
    cohort_event_mask=None,
    return_event_mask=None,
    criterion: Criterion = "on",
) -> pd.DataFrame:
    """Cohort retention in long form: one row per cohort × period offset.

    See the module docstring for the exact definitions of cohorts, retained
    users, rates and completeness.

    Args:
        activity: One row per event, or pre-aggregated rows such as
            ``(user_id, period_start)`` from SQL. Any grain at least as fine
            as ``period`` works, and duplicates within a period count once.
        period: ``"day"``, ``"week"`` (ISO, Monday start) or ``"month"``.
        mode: ``"recurring"`` or ``"first_time"``.
        periods: Largest offset reported (offsets ``0..periods``).
        date_to: Last observed day, inclusive (date, timestamp or string;
            only its date is used). Defaults to the latest day in the data.
        user_col: Column identifying the user (any hashable values).
        time_col: Column with the event time or period start (datetimes,
            dates, or strings in one format that :func:`pandas.to_datetime`
            parses).
        cohort_event_mask: Boolean array, positionally aligned with
            ``activity``, selecting the rows that count as the cohort (start)
            event. Defaults to every row.
        return_event_mask: Same for the return event. Defaults to every row.
        criterion: ``"on"`` or ``"on_or_after"``.

    Returns:
        DataFrame with columns ``cohort_start`` and ``period_start``
        (``datetime.date``), ``period_offset``, ``cohort_size``,
        ``retained`` (ints), ``retention_rate``, ``churn_rate``,
        ``period_churn`` (floats) and ``is_complete`` (bool), sorted by
        cohort then offset. Rows with a missing user or time are ignored.
    """
    _validate_options(period, mode, criterion, periods)
    users, days, cohort_rows, return_rows = _clean_activity(
        activity, user_col, time_col, cohort_event_mask, return_event_mask
    )
    if days.size == 0:
        return _empty_result()
    last_day = days.max() if date_to is None else np.datetime64(pd.Timestamp(date_to).date(), "D")
    observed = days <= last_day
    cohorts, counts = _retained_counts(
        users[observed],
        period_index(days[observed], period),
        cohort_rows[observed],
        return_rows[observed],
        mode,
        criterion,
        periods,
    )
    if cohorts.size == 0:
        return _empty_result()
    last_index = period_index(np.array([last_day]), period)[0]
    return _assemble(cohorts, counts, period, last_index, last_day)


def to_wide(long_df: pd.DataFrame, value: str = "retention_rate") -> pd.DataFrame:
    """Pivot a :func:`retention_matrix` result to cohorts × offsets for display.

    Cells that were not reported (beyond the observation window) are NaN.
    """
    wide = long_df.pivot(index="cohort_start", columns="period_offset", values=value)
    return wide.sort_index().sort_index(axis=1)


def _validate_options(period: str, mode: str, criterion: str, periods: int) -> None:
    """Reject unknown option values early with a clear message."""
    if period not in _PERIODS:
        raise ValueError(f"period must be one of {_PERIODS}, got {period!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    if isinstance(periods, bool) or not isinstance(periods, (int, np.integer)) or periods < 0:
        raise ValueError(f"periods must be a non-negative integer, got {periods!r}")


def _clean_activity(
    activity: pd.DataFrame, user_col: str, time_col: str, cohort_mask, return_mask
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return integer user codes, ``datetime64[D]`` days and the two row masks.

    Rows with a missing user or time are dropped from all four.
    """
    missing = [col for col in (user_col, time_col) if col not in activity.columns]
    if missing:
        raise KeyError(f"activity has no column(s) {missing}")
    users = pd.factorize(activity[user_col])[0]
    times = pd.to_datetime(activity[time_col])
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_localize(None)
    days = times.to_numpy().astype("datetime64[D]")
    keep = (users >= 0) & ~np.isnat(days)
    cohort_rows = _as_mask(cohort_mask, len(activity), "cohort_event_mask")[keep]
    return_rows = _as_mask(return_mask, len(activity), "return_event_mask")[keep]
    return users[keep], days[keep], cohort_rows, return_rows


def _as_mask(mask, length: int, name: str) -> np.ndarray:
    """Convert an optional row mask to a boolean array of ``length``."""
    if mask is None:
        return np.ones(length, dtype=bool)
    array = np.asarray(mask, dtype=bool)
    if array.shape != (length,):
        raise ValueError(f"{name} must have one value per activity row ({length}), got shape {array.shape}")
    return array


def _retained_counts(
    users: np.ndarray,
    periods_idx: np.ndarray,
    cohort_rows: np.ndarray,
    return_rows: np.ndarray,
    mode: Mode,
    criterion: Criterion,
    periods: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort period indexes and their retained counts (cohorts × offsets).

    Each (user, period) pair is encoded as the int64 key
    ``user * span + (period - base)``, where ``span`` covers every observed
    period plus ``periods`` more, so that sorting, de-duplicating and
    shifting by an offset are plain integer operations.
    """
    if periods_idx.size == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, periods + 1), dtype=np.int64)
    base = int(periods_idx.min())
    span = int(periods_idx.max()) - base + periods + 1
    keys = users.astype(np.int64) * span + (periods_idx - base)
    entry_keys = _cohort_entry_keys(keys[cohort_rows], span, mode)
    return_keys = _sorted_unique(keys[return_rows])

    entry_period = entry_keys % span
    cohorts = _sorted_unique(entry_period)
    cohort_of_entry = np.searchsorted(cohorts, entry_period)
    if criterion == "on":
        counts = _count_retained_on(entry_keys, return_keys, cohort_of_entry, len(cohorts), periods)
    else:
        counts = _count_retained_on_or_after(
            entry_keys, return_keys, cohort_of_entry, span, len(cohorts), periods
        )
    return cohorts + base, counts


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (faster than :func:`numpy.unique` for large int arrays)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def _cohort_entry_keys(keys: np.ndarray, span: int, mode: Mode) -> np.ndarray:
    """Sorted (user, cohort period) keys: every active period, or only the first.

    A key is ``user * span + relative period``, so sorting orders by user then
    period and the first key of each user is their first period.
    """
    entries = _sorted_unique(keys)
    if mode == "first_time" and entries.size:
        users = entries // span
        entries = entries[np.r_[True, users[1:] != users[:-1]]]
    return entries


def _count_retained_on(
    entry_keys: np.ndarray,
    return_keys: np.ndarray,
    cohort_of_entry: np.ndarray,
    n_cohorts: int,
    periods: int,
) -> np.ndarray:
    """Retained counts (cohorts × offsets) under the "on" criterion.

    Adding ``k`` to an entry key gives the same user ``k`` periods later
    (``span`` leaves room for ``periods`` offsets past the last period, so
    keys never run into the next user), looked up among the return keys;
    column 0 holds the cohort sizes.
    """
    counts = np.zeros((n_cohorts, periods + 1), dtype=np.int64)
    counts[:, 0] = np.bincount(cohort_of_entry, minlength=n_cohorts)
    if return_keys.size == 0:
        return counts
    contains = _membership(return_keys, key_space=int(entry_keys.max()) + periods + 1)
    for offset in range(1, periods + 1):
        hit = contains(entry_keys + offset)
        counts[:, offset] = np.bincount(cohort_of_entry[hit], minlength=n_cohorts)
    return counts


def _membership(sorted_keys: np.ndarray, key_space: int):
    """Return a vectorised test "is each key in ``sorted_keys``?".

    Keys below ``key_space`` are tested with a dense boolean table when it
    fits in :data:`_DENSE_LOOKUP_MAX_CELLS`, otherwise by binary search.
    """
    if key_space <= _DENSE_LOOKUP_MAX_CELLS:
        table = np.zeros(key_space, dtype=bool)
        table[sorted_keys[sorted_keys < key_space]] = True
        return lambda keys: table[keys]

    def search(keys: np.ndarray) -> np.ndarray:
        found = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
        return sorted_keys[found] == keys

    return search


def _count_retained_on_or_after(
    entry_keys: np.ndarray,
    return_keys: np.ndarray,
    cohort_of_entry: np.ndarray,
    span: int,
    n_cohorts: int,
    periods: int,
) -> np.ndarray:
    """Retained counts (cohorts × offsets) under the "on or after" criterion.

    An entry is retained at every offset up to the offset of the user's last
    return period, so counting entries by that (capped) offset and summing
    from the right gives all columns at once.
    """
    entry_user, entry_period = np.divmod(entry_keys, span)
    return_user, return_period = np.divmod(return_keys, span)
    n_users = int(max(entry_user.max(), return_user.max(initial=-1))) + 1
    last_return = np.full(n_users, -1, dtype=np.int64)
    last_return[return_user] = return_period  # keys are sorted: the last write is the latest period
    reach = np.clip(last_return[entry_user] - entry_period, 0, periods)
    width = periods + 1
    reached = np.bincount(cohort_of_entry * width + reach, minlength=n_cohorts * width)
    counts = np.cumsum(reached.reshape(n_cohorts, width)[:, ::-1], axis=1)[:, ::-1]
    counts[:, 0] = np.bincount(cohort_of_entry, minlength=n_cohorts)
    return counts


def _assemble(
    cohorts: np.ndarray, counts: np.ndarray, period: Period, last_index: int, last_day: np.datetime64
) -> pd.DataFrame:
    """Flatten the counts matrix to the long result, keeping observed offsets only."""
    n_cohorts, n_offsets = counts.shape
    offsets = np.tile(np.arange(n_offsets), n_cohorts)
    cohort_idx = np.repeat(cohorts, n_offsets)
    target = cohort_idx + offsets
    previous = np.c_[np.full(n_cohorts, np.nan), counts[:, :-1]].ravel()
    frame = pd.DataFrame(
        {
            "cohort_start": _to_dates(period_start(cohort_idx, period)),
            "period_offset": offsets,
            "period_start": _to_dates(period_start(target, period)),
            "cohort_size": np.repeat(counts[:, 0], n_offsets),
            "retained": counts.ravel(),
        }
    )
    frame["retention_rate"] = frame["retained"] / frame["cohort_size"]
    frame["churn_rate"] = 1.0 - frame["retention_rate"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["period_churn"] = np.where(previous > 0, 1.0 - frame["retained"] / previous, np.nan)
    frame["is_complete"] = period_end(target, period) <= last_day
    return frame.loc[target <= last_index, RESULT_COLUMNS].reset_index(drop=True)


def _to_dates(days: np.ndarray) -> list[dt.date]:
    """``datetime64[D]`` array to a list of :class:`datetime.date`."""
    return days.astype(object).tolist()


def _empty_result() -> pd.DataFrame:
    """The result frame with no rows but the documented columns."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in RESULT_DTYPES.items()})
