"""Cohort retention: hand-counted triangles for every mode, criterion and grain."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from nexus_pipelines.lib.analytics import cohorts
from nexus_pipelines.lib.analytics.cohorts import RESULT_COLUMNS, retention_matrix, to_wide

D = dt.date

# Five users over four ISO weeks (Mon 2024-01-01 .. Sun 2024-01-28):
#   W0 = 01-01..01-07   W1 = 01-08..01-14   W2 = 01-15..01-21   W3 = 01-22..01-28
#
#   user  W0  W1  W2  W3
#   u1    x   x   x   x     (two events in W0: counted once)
#   u2    x   .   x   .
#   u3    x   .   .   .     (event on Sunday 23:59, still W0)
#   u4    .   x   x   .     (event on Monday 00:00, W1)
#   u5    .   x   .   x
FIVE_USERS = [
    ("u1", "2024-01-01 09:00"),
    ("u1", "2024-01-03 18:30"),
    ("u1", "2024-01-09 12:00"),
    ("u1", "2024-01-16 12:00"),
    ("u1", "2024-01-23 12:00"),
    ("u2", "2024-01-02 12:00"),
    ("u2", "2024-01-17 12:00"),
    ("u3", "2024-01-07 23:59"),
    ("u4", "2024-01-08 00:00"),
    ("u4", "2024-01-21 12:00"),
    ("u5", "2024-01-14 12:00"),
    ("u5", "2024-01-27 12:00"),
]
END_OF_W3 = "2024-01-28"


def activity(rows, extra=None) -> pd.DataFrame:
    """Build an activity frame from (user, timestamp[, extra...]) tuples."""
    columns = ["user_id", "timestamp"] + (extra or [])
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    return frame


def triangle(result: pd.DataFrame) -> dict[dt.date, list[int]]:
    """Cohort start -> [retained at offset 0, 1, ...] (offset 0 = cohort size)."""
    return {
        cohort: group.sort_values("period_offset")["retained"].tolist()
        for cohort, group in result.groupby("cohort_start")
    }


def test_first_time_weekly_triangle_counted_by_hand():
    result = retention_matrix(activity(FIVE_USERS), "week", "first_time", periods=12, date_to=END_OF_W3)
    # Cohort = week of first activity: W0 = {u1, u2, u3}, W1 = {u4, u5}.
    # W0: +1 (W1) u1 -> 1; +2 (W2) u1, u2 -> 2; +3 (W3) u1 -> 1.
    # W1: +1 (W2) u4 -> 1; +2 (W3) u5 -> 1; +3 would be W4, after date_to.
    assert triangle(result) == {
        D(2024, 1, 1): [3, 1, 2, 1],
        D(2024, 1, 8): [2, 1, 1],
    }
    assert list(result.columns) == RESULT_COLUMNS
    assert result["cohort_size"].tolist() == [3, 3, 3, 3, 2, 2, 2]
    assert result["is_complete"].all()


def test_recurring_weekly_counts_a_user_in_every_active_period():
    result = retention_matrix(activity(FIVE_USERS), "week", "recurring", periods=12, date_to=END_OF_W3)
    # Cohort of week P = everyone active in P (first time or not):
    # W0 {u1,u2,u3}: +1 u1 -> 1; +2 u1,u2 -> 2; +3 u1 -> 1
    # W1 {u1,u4,u5}: +1 (W2) u1,u4 -> 2; +2 (W3) u1,u5 -> 2
    # W2 {u1,u2,u4}: +1 (W3) u1 -> 1
    # W3 {u1,u5}
    assert triangle(result) == {
        D(2024, 1, 1): [3, 1, 2, 1],
        D(2024, 1, 8): [3, 2, 2],
        D(2024, 1, 15): [3, 1],
        D(2024, 1, 22): [2],
    }


def test_on_or_after_criterion_counts_any_later_return():
    result = retention_matrix(
        activity(FIVE_USERS),
        "week",
        "first_time",
        periods=12,
        date_to=END_OF_W3,
        criterion="on_or_after",
    )
    # Last active week: u1 W3, u2 W2, u3 W0, u4 W2, u5 W3.
    # W0 {u1,u2,u3}: >=W1 u1,u2 -> 2; >=W2 u1,u2 -> 2; >=W3 u1 -> 1
    # W1 {u4,u5}:    >=W2 u4,u5 -> 2; >=W3 u5 -> 1
    assert triangle(result) == {
        D(2024, 1, 1): [3, 2, 2, 1],
        D(2024, 1, 8): [2, 2, 1],
    }


def test_on_or_after_counts_returns_beyond_the_reported_horizon():
    rows = [("a", "2024-01-01"), ("a", "2024-01-22")]  # back after 3 weeks
    result = retention_matrix(activity(rows), "week", "first_time", periods=1, criterion="on_or_after")
    assert triangle(result) == {D(2024, 1, 1): [1, 1]}
    on = retention_matrix(activity(rows), "week", "first_time", periods=1)
    assert triangle(on)[D(2024, 1, 1)] == [1, 0]


def test_rates_and_churn_columns():
    result = retention_matrix(activity(FIVE_USERS), "week", "first_time", periods=3, date_to=END_OF_W3)
    w0 = result[result["cohort_start"] == D(2024, 1, 1)]
    # Retained 3, 1, 2, 1 of 3.
    assert w0["retention_rate"].tolist() == pytest.approx([1, 1 / 3, 2 / 3, 1 / 3])
    assert w0["churn_rate"].tolist() == pytest.approx([0, 2 / 3, 1 / 3, 2 / 3])
    # Lost since previous offset: -, 1-1/3, 1-2/1 (users came back), 1-1/2.
    period_churn = w0["period_churn"].tolist()
    assert math.isnan(period_churn[0])
    assert period_churn[1:] == pytest.approx([2 / 3, -1.0, 0.5])


def test_period_churn_is_undefined_after_an_empty_offset():
    rows = [("a", "2024-01-01"), ("a", "2024-01-15")]  # skips W1
    result = retention_matrix(activity(rows), "week", "first_time", periods=2)
    assert result["retained"].tolist() == [1, 0, 1]
    assert result["period_churn"].isna().tolist() == [True, False, True]


def test_week_boundary_sunday_to_monday():
    rows = [
        ("sun_mon", "2024-01-07 23:59:59"),  # Sunday: week of Mon 01-01
        ("sun_mon", "2024-01-08 00:00:00"),  # Monday: next week
        ("mon_sun", "2024-01-01 00:00:00"),  # Monday and Sunday of the
        ("mon_sun", "2024-01-07 23:59:59"),  # same week: never retained
    ]
    result = retention_matrix(activity(rows), "week", "first_time", periods=1, date_to="2024-01-14")
    # Cohort W(01-01) = {sun_mon, mon_sun}; +1 only sun_mon.
    assert triangle(result) == {D(2024, 1, 1): [2, 1]}


def test_week_starting_before_the_epoch_is_still_monday_based():
    rows = [("a", "1969-12-31"), ("a", "1970-01-05")]  # Wed, then next Mon
    result = retention_matrix(activity(rows), "week", "first_time", periods=1)
    assert result["cohort_start"].tolist() == [D(1969, 12, 29), D(1969, 12, 29)]
    assert result["retained"].tolist() == [1, 1]


def test_month_grain_across_a_year_boundary():
    rows = [
        ("a", "2023-11-30"),
        ("a", "2023-12-01"),
        ("a", "2024-01-31"),
        ("b", "2023-12-31 23:00"),
        ("b", "2024-01-01 01:00"),
        ("c", "2023-12-15"),
        ("c", "2024-02-29"),
    ]
    result = retention_matrix(activity(rows), "month", "first_time", periods=3, date_to="2024-02-29")
    #   user  Nov Dec Jan Feb
    #   a     x   x   x   .
    #   b     .   x   x   .
    #   c     .   x   .   x
    # Nov {a}:   Dec a -> 1; Jan a -> 1; Feb -> 0
    # Dec {b,c}: Jan b -> 1; Feb c -> 1; Mar is after date_to
    assert triangle(result) == {
        D(2023, 11, 1): [1, 1, 1, 0],
        D(2023, 12, 1): [2, 1, 1],
    }
    assert result["period_start"].tolist()[:4] == [
        D(2023, 11, 1),
        D(2023, 12, 1),
        D(2024, 1, 1),
        D(2024, 2, 1),
    ]
    assert result["is_complete"].all()  # 2024-02-29 is the last day of February


def test_day_grain_recurring_and_first_time():
    rows = [
        ("a", "2024-03-01 08:00"),
        ("a", "2024-03-02 08:00"),
        ("a", "2024-03-03 08:00"),
        ("b", "2024-03-01 23:00"),
        ("b", "2024-03-03 00:30"),
        ("c", "2024-03-02 10:00"),
        ("c", "2024-03-02 11:00"),
    ]
    #   user  03-01 03-02 03-03
    #   a     x     x     x
    #   b     x     .     x
    #   c     .     x     .      (twice on 03-02: counted once)
    first = retention_matrix(activity(rows), "day", "first_time", periods=2)
    # 03-01 {a,b}: +1 a -> 1; +2 a,b -> 2.   03-02 {c}: +1 -> 0.
    assert triangle(first) == {D(2024, 3, 1): [2, 1, 2], D(2024, 3, 2): [1, 0]}
    recurring = retention_matrix(activity(rows), "day", "recurring", periods=2)
    # 03-02 {a,c}: +1 a -> 1.   03-03 {a,b}.
    assert triangle(recurring) == {
        D(2024, 3, 1): [2, 1, 2],
        D(2024, 3, 2): [2, 1],
        D(2024, 3, 3): [2],
    }


def test_date_to_truncates_and_flags_partial_periods():
    # Observed up to Wednesday of W3: u5's Saturday (01-27) event is unseen.
    result = retention_matrix(activity(FIVE_USERS), "week", "first_time", periods=12, date_to="2024-01-24")
    # W0: W3 only has u1 (01-23) -> 1.   W1 {u4,u5}: +2 (W3) u5 unseen -> 0.
    assert triangle(result) == {
        D(2024, 1, 1): [3, 1, 2, 1],
        D(2024, 1, 8): [2, 1, 0],
    }
    partial = result.loc[~result["is_complete"], "period_start"].tolist()
    assert partial == [D(2024, 1, 22), D(2024, 1, 22)]


def test_date_to_defaults_to_the_latest_day_in_the_data():
    # Latest event is Saturday 01-27, so week W3 (ending Sunday) is partial.
    result = retention_matrix(activity(FIVE_USERS), "week", "first_time", periods=12)
    assert triangle(result) == {D(2024, 1, 1): [3, 1, 2, 1], D(2024, 1, 8): [2, 1, 1]}
    assert result.loc[~result["is_complete"], "period_start"].unique().tolist() == [D(2024, 1, 22)]


def test_date_to_before_all_activity_gives_an_empty_result():
    result = retention_matrix(activity(FIVE_USERS), date_to="2023-12-31")
    assert result.empty
    assert list(result.columns) == RESULT_COLUMNS


def test_pre_aggregated_user_period_rows_give_the_same_result():
    events = activity(FIVE_USERS)
    weekday = pd.to_timedelta(events["timestamp"].dt.day_of_week, unit="D")
    monday = events["timestamp"].dt.normalize() - weekday
    pre = (
        pd.DataFrame({"user_id": events["user_id"], "period_start": monday.dt.date})
        .drop_duplicates()
        .reset_index(drop=True)
    )
    assert len(pre) == 11  # u1's two W0 events collapse into one row
    for mode in ("first_time", "recurring"):
        from_events = retention_matrix(events, "week", mode, date_to=END_OF_W3)
        from_periods = retention_matrix(pre, "week", mode, date_to=END_OF_W3, time_col="period_start")
        pd.testing.assert_frame_equal(from_events, from_periods)


def test_duplicate_events_in_one_period_count_once():
    once = activity([("a", "2024-01-01"), ("a", "2024-01-08")])
    many = activity([("a", "2024-01-01")] * 5 + [("a", "2024-01-08"), ("a", "2024-01-10")])
    pd.testing.assert_frame_equal(
        retention_matrix(once, "week", "first_time"), retention_matrix(many, "week", "first_time")
    )


EVENT_ROWS = [
    ("u1", "2024-01-02", "view"),
    ("u1", "2024-01-09", "signup"),
    ("u1", "2024-01-16", "purchase"),
    ("u2", "2024-01-03", "signup"),
    ("u2", "2024-01-10", "signup"),
    ("u2", "2024-01-17", "purchase"),
    ("u3", "2024-01-04", "view"),
    ("u3", "2024-01-11", "purchase"),
]


def test_first_time_cohort_uses_the_first_cohort_event_not_first_activity():
    events = activity(EVENT_ROWS, extra=["event"])
    result = retention_matrix(
        events,
        "week",
        "first_time",
        date_to="2024-01-21",
        cohort_event_mask=events["event"] == "signup",
        return_event_mask=events["event"] == "purchase",
    )
    # First signup: u1 in W1 (first *activity* was W0), u2 in W0; u3 never.
    # W0 {u2}: purchase W1? no -> 0; W2 yes -> 1.
    # W1 {u1}: purchase W2 -> 1.
    assert triangle(result) == {D(2024, 1, 1): [1, 0, 1], D(2024, 1, 8): [1, 1]}


def test_recurring_cohort_with_event_masks():
    events = activity(EVENT_ROWS, extra=["event"])
    result = retention_matrix(
        events,
        "week",
        "recurring",
        date_to="2024-01-21",
        cohort_event_mask=(events["event"] == "signup").to_numpy(),
        return_event_mask=(events["event"] == "purchase").to_numpy(),
    )
    # Signups: W0 {u2}; W1 {u1, u2} (u2's second signup is a new entry).
    # W0 {u2}: W1 purchase none -> 0; W2 u2 -> 1.
    # W1 {u1,u2}: W2 purchases u1, u2 -> 2.
    assert triangle(result) == {D(2024, 1, 1): [1, 0, 1], D(2024, 1, 8): [2, 2]}


def test_missing_users_and_times_are_ignored():
    rows = activity(FIVE_USERS)
    junk = pd.DataFrame({"user_id": [None, "u9"], "timestamp": [pd.Timestamp("2024-01-02"), pd.NaT]})
    noisy = pd.concat([rows, junk], ignore_index=True)
    pd.testing.assert_frame_equal(
        retention_matrix(rows, date_to=END_OF_W3), retention_matrix(noisy, date_to=END_OF_W3)
    )


def test_timezone_aware_timestamps_use_their_local_date():
    rows = activity([("a", "2024-01-07 23:30"), ("a", "2024-01-08 00:30")])
    rows["timestamp"] = rows["timestamp"].dt.tz_localize("Europe/Paris")
    result = retention_matrix(rows, "week", "first_time", periods=1)
    assert triangle(result) == {D(2024, 1, 1): [1, 1]}


def test_to_wide_pivots_cohorts_by_offset():
    result = retention_matrix(activity(FIVE_USERS), "week", "first_time", periods=3, date_to=END_OF_W3)
    wide = to_wide(result, value="retained")
    assert wide.index.tolist() == [D(2024, 1, 1), D(2024, 1, 8)]
    assert wide.columns.tolist() == [0, 1, 2, 3]
    assert wide.loc[D(2024, 1, 1)].tolist() == [3, 1, 2, 1]
    assert math.isnan(wide.loc[D(2024, 1, 8), 3])
    assert to_wide(result).loc[D(2024, 1, 8), 1] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"period": "year"},
        {"mode": "birth"},
        {"criterion": "after"},
        {"periods": -1},
        {"cohort_event_mask": [True, False]},
    ],
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        retention_matrix(activity(FIVE_USERS), **kwargs)


def test_missing_column_is_reported():
    with pytest.raises(KeyError, match="customer"):
        retention_matrix(activity(FIVE_USERS), user_col="customer")


def reference_triangle(frame, period, mode, criterion, periods, date_to):
    """Straightforward per-user loop used to cross-check the vectorised code."""
    offsets = {
        "day": lambda d: d.toordinal(),
        "week": lambda d: (d.toordinal() - 1) // 7,
        "month": lambda d: d.year * 12 + d.month - 1,
    }[period]
    last = offsets(date_to)
    active: dict = {}
    for user, stamp in zip(frame["user_id"], frame["timestamp"]):
        if stamp.date() <= date_to:
            active.setdefault(user, set()).add(offsets(stamp.date()))
    counts: dict = {}
    for periods_seen in active.values():
        starts = [min(periods_seen)] if mode == "first_time" else periods_seen
        for start in starts:
            row = counts.setdefault(start, [0] * (periods + 1))
            for k in range(periods + 1):
                if k == 0:
                    hit = True
                elif criterion == "on":
                    hit = start + k in periods_seen
                else:
                    hit = max(periods_seen) >= start + k
                row[k] += hit
    return {start: row[: last - start + 1] for start, row in sorted(counts.items())}


@pytest.mark.parametrize("dense_lookup", [True, False])
@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("mode", ["first_time", "recurring"])
@pytest.mark.parametrize("criterion", ["on", "on_or_after"])
def test_matches_a_per_user_reference_on_random_data(monkeypatch, dense_lookup, period, mode, criterion):
    if not dense_lookup:
        monkeypatch.setattr(cohorts, "_DENSE_LOOKUP_MAX_CELLS", 0)
    rng = np.random.default_rng(7)
    n = 3000
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 150, n),
            "timestamp": pd.Timestamp("2023-10-01") + pd.to_timedelta(rng.integers(0, 200 * 24, n), unit="h"),
        }
    )
    date_to = D(2024, 3, 20)
    result = retention_matrix(frame, period, mode, periods=6, date_to=date_to, criterion=criterion)
    expected = reference_triangle(frame, period, mode, criterion, 6, date_to)
    assert list(triangle(result).values()) == list(expected.values())
