"""The schedule and the landing sensor launch no run over a window without landing files, and
clip to the partitions of the loaded definitions (no database needed)."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from nexus_pipelines.definitions import defs
from nexus_pipelines.defs.partitions import RANGE_END_TAG, RANGE_START_TAG, first_partition_day

# the definitions are loaded once per process: every date here is relative to their first partition
FIRST = first_partition_day()
DAY = dt.timedelta(days=1)


def _files(root, *days: dt.date, folder: str = "amazon/s1/orders", suffix: str = ".txt"):
    for day in days:
        path = root / folder / f"{day}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")


@pytest.fixture
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("NEXUS_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("NEXUS_LOOKBACK_DAYS", "3")
    monkeypatch.delenv("NEXUS_PARTITIONS_START", raising=False)
    monkeypatch.setattr("nexus_pipelines.defs.automation.last_successful_loads", lambda url: {})
    monkeypatch.setattr("nexus_pipelines.defs.automation.warehouse_url", lambda settings: "unused")
    return tmp_path


def _tick(name: str, at: dt.date, hour: int = 6):
    context = build_schedule_context(
        scheduled_execution_time=dt.datetime.combine(at, dt.time(hour), tzinfo=dt.UTC)
    )
    return defs.resolve_schedule_def(name).evaluate_tick(context)


def _keys(request) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def test_the_schedules_skip_a_lookback_window_without_landing_files(landing):
    # the tick on day 100 covers days 96 .. 99; the only file is dated day 10
    _files(landing, FIRST + 10 * DAY)
    (landing / "stores.yaml").write_text("stores: []\n")  # reference data dates no window
    tick = FIRST + 100 * DAY
    expected = f"no landing files for {FIRST + 96 * DAY} .. {FIRST + 99 * DAY}"
    daily = _tick("daily_refresh_schedule", tick)
    assert not daily.run_requests and daily.skip_message == expected
    weekly = _tick("weekly_full_checks", tick, hour=7)
    assert not weekly.run_requests and weekly.skip_message == expected


def test_the_schedule_runs_a_lookback_window_with_one_landing_file(landing):
    _files(landing, FIRST + 97 * DAY, folder="marketing/spend", suffix=".csv")
    (request,) = _tick("daily_refresh_schedule", FIRST + 100 * DAY).run_requests
    assert _keys(request) == (str(FIRST + 96 * DAY), str(FIRST + 99 * DAY))
    # two days after the first partition the lookback is clipped to it
    _files(landing, FIRST)
    (early,) = _tick("daily_refresh_schedule", FIRST + 2 * DAY).run_requests
    assert _keys(early) == (str(FIRST), str(FIRST + DAY))


def _sense(cursor=None):
    sensor = defs.resolve_sensor_def("landing_file_sensor")
    with DagsterInstance.ephemeral() as instance:
        return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))


def test_the_sensor_runs_only_the_dates_of_new_files_inside_the_partitions(landing, monkeypatch):
    monkeypatch.setenv("NEXUS_PARTITIONS_START", str(FIRST))  # a chosen start: earlier files stay out
    _files(landing, FIRST - 5 * DAY, FIRST + 3 * DAY, FIRST + 4 * DAY)
    result = _sense()
    (request,) = result.run_requests
    assert _keys(request) == (str(FIRST + 3 * DAY), str(FIRST + 4 * DAY))
    assert int(result.cursor) > 0
    assert not _sense(result.cursor).run_requests  # seen: nothing new


def test_a_new_file_dated_before_the_derived_start_waits_for_a_reload(landing):
    _files(landing, FIRST - 5 * DAY)
    result = _sense()
    assert not result.run_requests
    assert result.skip_message == (
        f"new files dated {FIRST - 5 * DAY} .. {FIRST - 5 * DAY} are before the first partition ({FIRST}): "
        "reload the definitions (UI: Deployment > Reload) to extend the partitions back to them"
    )
    assert result.cursor is None  # not moved past it: the reloaded definitions' sensor still sees it
    # a new file inside the partitions meanwhile runs at once, under a key of its own window
    _files(landing, FIRST + 2 * DAY)
    (request,) = _sense().run_requests
    assert _keys(request) == (str(FIRST + 2 * DAY), str(FIRST + 2 * DAY))
    assert request.run_key.endswith(f"-{FIRST + 2 * DAY}-{FIRST + 2 * DAY}")


def test_on_the_first_day_no_partition_has_ended_and_the_tick_says_why(landing):
    _files(landing, FIRST)
    result = _tick("daily_refresh_schedule", FIRST)
    assert not result.run_requests and str(FIRST - DAY) in result.skip_message


def test_weekly_full_checks_runs_the_nightly_window_with_every_test(landing):
    _files(landing, FIRST + 98 * DAY, folder="events", suffix=".jsonl")
    (request,) = _tick("weekly_full_checks", FIRST + 100 * DAY, hour=7).run_requests
    assert _keys(request) == (str(FIRST + 96 * DAY), str(FIRST + 99 * DAY))
    assert request.run_config["ops"] == {
        "dbt_amazon": {"config": {"full_checks": True}},
        "dbt_product": {"config": {"full_checks": True}},
    }
