"""The one rule for windows (lib/windows.py), checked against Dagster's own partitions."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DailyPartitionsDefinition, partition_loading_context

from nexus_pipelines.lib import windows

UTC = dt.UTC
START = dt.date(2026, 1, 1)


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2026, 6, 10, 0, 0, tzinfo=UTC),
        dt.datetime(2026, 6, 10, 0, 0, 1, tzinfo=UTC),
        dt.datetime(2026, 6, 10, 23, 59, 59, tzinfo=UTC),
        # 01:30 in Berlin on 06-10 is still 06-09 in UTC: the latest complete day is 06-08
        dt.datetime(2026, 6, 10, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        # 20:00 in Los Angeles on 06-09 is already 06-10 in UTC
        dt.datetime(2026, 6, 9, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
    ],
)
def test_latest_complete_day_is_dagsters_last_daily_partition(now):
    partitions = DailyPartitionsDefinition(start_date=START.isoformat(), timezone="UTC")
    with partition_loading_context(effective_dt=now):
        assert windows.latest_complete_day(now).isoformat() == partitions.get_last_partition_key()


def test_by_hand():
    assert windows.latest_complete_day(
        dt.datetime(2026, 6, 10, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ) == dt.date(2026, 6, 8)
    with pytest.raises(ValueError, match="aware"):
        windows.latest_complete_day(dt.datetime(2026, 6, 10))


def test_clip_keeps_the_window_inside_the_partitions_and_names_what_was_asked():
    now = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert windows.clip(dt.date(2025, 12, 1), dt.date(2026, 5, 1), START, now) == windows.Window(
        START, dt.date(2026, 3, 9)
    )
    with pytest.raises(windows.EmptyWindow) as error:
        windows.clip(dt.date(2026, 4, 1), dt.date(2026, 4, 3), START, now)
    text = str(error.value)
    assert "2026-04-01 .. 2026-04-03" in text and "2026-01-01 to 2026-03-09" in text


def test_lookback_window_and_time_window_conversion():
    now = dt.datetime(2026, 6, 10, 6, tzinfo=UTC)
    assert windows.lookback_window(START, 3, now) == windows.Window(dt.date(2026, 6, 6), dt.date(2026, 6, 9))
    assert windows.lookback_window(START, 3, dt.datetime(2026, 1, 2, 6, tzinfo=UTC)) == windows.Window(
        START, START
    )
    window = windows.from_time_window(
        dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 4, tzinfo=UTC)
    )
    assert (window.start, window.end, window.days, window.keys) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 3),
        3,
        ("2026-03-01", "2026-03-03"),
    )


def test_period_start_by_hand():
    from nexus_pipelines.lib.windows import period_start

    wednesday = dt.date(2026, 10, 7)
    assert period_start(wednesday, "day") == wednesday
    assert period_start(wednesday, "week") == dt.date(2026, 10, 5)  # the Monday
    assert period_start(dt.date(2026, 10, 5), "week") == dt.date(2026, 10, 5)
    assert period_start(dt.date(2026, 10, 4), "week") == dt.date(2026, 9, 28)  # a Sunday
    assert period_start(wednesday, "month") == dt.date(2026, 10, 1)
    with pytest.raises(ValueError, match="fortnight"):
        period_start(wednesday, "fortnight")
