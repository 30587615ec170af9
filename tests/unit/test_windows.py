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


def test_clip_names_the_dates_as_asked_when_no_partition_is_left():
    now = dt.datetime(2026, 12, 1, 9, tzinfo=UTC)  # the last complete UTC day is 2026-11-30
    with pytest.raises(windows.EmptyWindow) as before:
        windows.clip(dt.date(2025, 1, 1), dt.date(2025, 1, 31), dt.date(2026, 3, 1), now)
    assert str(before.value) == (
        "no partition in 2025-01-01 .. 2025-01-31: partitions run from 2026-03-01 to 2026-11-30 "
        "(the last complete UTC day)"
    )
    # a window typed the wrong way round says so, not that it lies outside the partitions
    with pytest.raises(windows.EmptyWindow) as reversed_:
        windows.clip(dt.date(2026, 5, 10), dt.date(2026, 5, 1), dt.date(2026, 3, 1), now)
    assert (
        str(reversed_.value) == "no partition in 2026-05-10 .. 2026-05-01: the window ends before it starts"
    )


# --- runs over windows without landing files (defs/runner.py resolve_window) ----------------------
NOW = dt.datetime(2026, 4, 1, 12, tzinfo=UTC)  # the last complete UTC day is 2026-03-31
FIRST = dt.date(2026, 3, 1)


def _landing(root, *relative_paths: str):
    for relative in relative_paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    return root


@pytest.fixture
def landed(tmp_path):
    """Files dated 03-02 and 03-05 (orders), 03-10 (marketing spend); stores.yaml is dated by none."""
    from nexus_pipelines.lib.config import load_settings

    landing = _landing(
        tmp_path / "landing",
        "amazon/s1/orders/2026-03-02.txt",
        "amazon/s1/orders/2026-03-05.txt",
        "marketing/spend/2026-03-10.csv",
        "stores.yaml",
        "amazon/s1/orders/2026-03-07-copy.txt.bak",  # not an orders file: dates nothing
        "notes/2026-03-08.txt",  # in no source's folder: dates nothing
    )
    return load_settings({"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_LANDING_DIR": str(landing)})


def _resolve(settings, start, end, first=FIRST):
    from nexus_pipelines.defs.runner import resolve_window

    return resolve_window(settings, start, end, NOW, partitions_start=first)


def test_a_window_without_landing_files_runs_nothing_and_says_so_with_the_dates_asked(landed):
    from nexus_pipelines.defs.runner import NoLandingFiles, NothingToRun

    d = dt.date
    for start, end, message in [
        (d(2026, 3, 6), d(2026, 3, 9), "no landing files for 2026-03-06 .. 2026-03-09"),
        (d(2026, 3, 3), d(2026, 3, 4), "no landing files for 2026-03-03 .. 2026-03-04"),
        (d(2026, 3, 11), None, "no landing files on or after 2026-03-11"),
        (None, d(2026, 3, 1), "no landing files on or before 2026-03-01"),
    ]:
        with pytest.raises(NoLandingFiles) as error:
            _resolve(landed, start, end)
        assert str(error.value) == message
        assert isinstance(error.value, NothingToRun)  # `nexus run` catches both; this one exits 0


def test_a_window_with_landing_files_is_run(landed):
    d = dt.date
    assert _resolve(landed, d(2026, 3, 3), d(2026, 3, 5)) == windows.Window(d(2026, 3, 3), d(2026, 3, 5))
    # marketing spend belongs to the date in its name
    assert _resolve(landed, d(2026, 3, 10), d(2026, 3, 10)) == windows.Window(d(2026, 3, 10), d(2026, 3, 10))
    # the default: every date with landing files; one bound given: the files give the other
    assert _resolve(landed, None, None) == windows.Window(d(2026, 3, 2), d(2026, 3, 10))
    assert _resolve(landed, d(2026, 3, 6), None) == windows.Window(d(2026, 3, 6), d(2026, 3, 10))
    # clipped to the partitions, and a window partly outside them runs the part inside
    assert _resolve(landed, d(2025, 12, 1), d(2026, 3, 2)) == windows.Window(FIRST, d(2026, 3, 2))


def test_outside_the_partitions_and_an_empty_folder_stay_errors(landed, tmp_path):
    from nexus_pipelines.defs.runner import NoLandingFiles, NothingToRun
    from nexus_pipelines.lib.config import load_settings

    with pytest.raises(NothingToRun) as outside:
        _resolve(landed, dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    assert not isinstance(outside.value, NoLandingFiles)
    assert str(outside.value).startswith(
        "no partition in 2025-01-01 .. 2025-01-31: partitions run from 2026-03-01 to 2026-03-31"
    )
    empty = load_settings({"NEXUS_HOME": str(tmp_path / "h2"), "NEXUS_LANDING_DIR": str(tmp_path / "none")})
    with pytest.raises(NothingToRun) as nothing:
        _resolve(empty, None, None)
    assert not isinstance(nothing.value, NoLandingFiles)
    assert f"no landing files in {tmp_path / 'none'}" in str(nothing.value)


def test_files_of_the_window_asked_that_lie_outside_the_partitions_are_named(landed):
    from nexus_pipelines.defs.runner import NoLandingFiles

    # partitions from 03-03 (NEXUS_PARTITIONS_START): the 03-02 file is asked for, but no partition has it
    with pytest.raises(NoLandingFiles) as error:
        _resolve(landed, dt.date(2026, 2, 25), dt.date(2026, 3, 4), first=dt.date(2026, 3, 3))
    assert str(error.value) == (
        "no landing files for 2026-02-25 .. 2026-03-04 inside the partitions (2026-03-03 .. 2026-03-04): "
        "the landing files dated 2026-03-02 .. 2026-03-02 lie outside the partitions "
        "(2026-03-03 to 2026-03-31, the last complete UTC day)"
    )


def test_landing_files_all_outside_the_partitions_are_an_error_for_the_default_window(tmp_path):
    from nexus_pipelines.defs.runner import NoLandingFiles, NothingToRun
    from nexus_pipelines.lib.config import load_settings

    # one file before the partitions (from 03-11), one of today (2026-04-01: not a complete day yet)
    landing = _landing(tmp_path / "landing", "events/2026-03-02.jsonl", "events/2026-04-01.jsonl")
    settings = load_settings({"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_LANDING_DIR": str(landing)})
    with pytest.raises(NothingToRun) as error:
        _resolve(settings, None, None, first=dt.date(2026, 3, 11))
    assert not isinstance(error.value, NoLandingFiles)
    assert str(error.value) == (
        "no landing files inside the partitions: the landing files dated 2026-03-02 .. 2026-04-01 lie "
        "outside the partitions (2026-03-11 to 2026-03-31, the last complete UTC day)"
    )
