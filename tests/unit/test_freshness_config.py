"""The freshness settings (lib/config.py) and the thresholds and statuses of lib/freshness.py,
without a database."""

from __future__ import annotations

import datetime as dt

import pytest

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.freshness import (
    KEY_MARTS,
    Status,
    Thresholds,
    classify,
    mart_freshness,
    mart_thresholds,
    per_store,
    source_thresholds,
    worst,
)

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def test_defaults_are_36_and_60_hours_for_every_daily_source_and_none_for_stores():
    settings = load_settings({})
    assert (settings.freshness_warn_hours, settings.freshness_error_hours) == (36, 60)
    assert settings.freshness_overrides == ()
    daily = [name for name in SOURCES if name != "stores"]
    assert len(daily) == 7
    assert {name: source_thresholds(name, settings) for name in daily} == dict.fromkeys(
        daily, Thresholds(36, 60)
    )
    assert source_thresholds("stores", settings) is None
    assert mart_thresholds(settings) == Thresholds(36, 60)


def test_global_and_per_source_hours_from_the_environment():
    settings = load_settings(
        {
            "NEXUS_FRESHNESS_WARN_HOURS": " 24 ",
            "NEXUS_FRESHNESS_ERROR_HOURS": "48",
            "NEXUS_FRESHNESS_HOURS_EVENTS": "6, 12",
            "NEXUS_FRESHNESS_HOURS_STORES": "200,400",
            "NEXUS_FRESHNESS_HOURS_MARKETING_SPEND": "   ",  # blank: unset, as for every variable
        }
    )
    assert settings.freshness_overrides == (("events", 6, 12), ("stores", 200, 400))
    assert source_thresholds("events", settings) == Thresholds(6, 12)
    assert source_thresholds("stores", settings) == Thresholds(200, 400)
    assert source_thresholds("marketing_spend", settings) == Thresholds(24, 48)
    assert source_thresholds("amazon_orders", settings) == Thresholds(24, 48)
    assert mart_thresholds(settings) == Thresholds(24, 48)
    assert load_settings({"NEXUS_FRESHNESS_HOURS_EVENTS": "5,5"}).freshness_override("events") == (5, 5)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"NEXUS_FRESHNESS_WARN_HOURS": "1.5"}, "NEXUS_FRESHNESS_WARN_HOURS must be a whole number of hours"),
        (
            {"NEXUS_FRESHNESS_WARN_HOURS": "0"},
            "NEXUS_FRESHNESS_WARN_HOURS must be a whole number of hours greater than 0",
        ),
        ({"NEXUS_FRESHNESS_ERROR_HOURS": "-3"}, "NEXUS_FRESHNESS_ERROR_HOURS must be a whole number"),
        ({"NEXUS_FRESHNESS_ERROR_HOURS": "²"}, "NEXUS_FRESHNESS_ERROR_HOURS must be a whole number"),
        (
            {"NEXUS_FRESHNESS_ERROR_HOURS": "24"},
            "NEXUS_FRESHNESS_WARN_HOURS (36 h, the default) must not be greater than NEXUS_FRESHNESS_ERROR_HOURS (24 h)",
        ),
        (
            {"NEXUS_FRESHNESS_WARN_HOURS": "70"},
            "NEXUS_FRESHNESS_WARN_HOURS (70 h) must not be greater than NEXUS_FRESHNESS_ERROR_HOURS (60 h, the default)",
        ),
        ({"NEXUS_FRESHNESS_HOURS_EVNTS": "6,12"}, "NEXUS_FRESHNESS_HOURS_EVNTS names no raw source"),
        ({"NEXUS_FRESHNESS_HOURS_EVENTS": "6"}, "NEXUS_FRESHNESS_HOURS_EVENTS must be 'warn,error' hours"),
        (
            {"NEXUS_FRESHNESS_HOURS_EVENTS": "6,12,18"},
            "NEXUS_FRESHNESS_HOURS_EVENTS must be 'warn,error' hours",
        ),
        (
            {"NEXUS_FRESHNESS_HOURS_EVENTS": "6,x"},
            "NEXUS_FRESHNESS_HOURS_EVENTS must be a whole number of hours",
        ),
        (
            {"NEXUS_FRESHNESS_HOURS_EVENTS": "12,6"},
            "the warn hours of NEXUS_FRESHNESS_HOURS_EVENTS (12 h) must not be greater than its error hours (6 h)",
        ),
    ],
)
def test_bad_values_are_errors_that_name_the_variable(environ, message):
    with pytest.raises(ValueError) as raised:
        load_settings(environ)
    assert str(raised.value).startswith(message)


def test_an_unknown_source_lists_the_variables_that_exist():
    with pytest.raises(ValueError) as raised:
        load_settings({"NEXUS_FRESHNESS_HOURS_ORDERS": "1,2"})
    text = str(raised.value)
    assert "NEXUS_FRESHNESS_HOURS_AMAZON_ORDERS" in text and "NEXUS_FRESHNESS_HOURS_STORES" in text
    assert text.count("NEXUS_FRESHNESS_HOURS_") == len(SOURCES) + 1


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (0.0, Status.PASS),
        (36.0, Status.PASS),
        (36.01, Status.WARN),
        (60.0, Status.WARN),
        (60.5, Status.ERROR),
    ],
)
def test_classify_is_strictly_older_than_the_threshold_as_in_dbt(age, status):
    assert classify(age, Thresholds(36, 60), never=Status.NEVER_LOADED) is status


def test_classify_never_and_not_checked():
    assert classify(None, Thresholds(36, 60), never=Status.NEVER_LOADED) is Status.NEVER_LOADED
    assert classify(None, None, never=Status.NEVER_BUILT) is Status.NEVER_BUILT
    assert classify(1000.0, None, never=Status.NEVER_LOADED) is Status.NOT_CHECKED


def test_only_the_amazon_sources_are_per_store():
    assert [name for name in SOURCES if per_store(name)] == [
        "amazon_orders",
        "amazon_sales_traffic_by_date",
        "amazon_sales_traffic_by_asin",
        "amazon_inventory",
        "amazon_returns",
    ]


def test_mart_freshness_from_last_builds():
    built = {
        "fct_daily_sales": NOW - dt.timedelta(hours=2),
        "fct_returns": NOW - dt.timedelta(hours=40),
        "fct_sessions": NOW - dt.timedelta(hours=61, minutes=30),
        "fct_orders_web": None,
    }
    marts = mart_freshness(built, NOW, Thresholds(36, 60))
    assert [(m.mart, m.age_hours, m.status) for m in marts] == [
        ("fct_daily_sales", 2.0, Status.PASS),
        ("fct_returns", 40.0, Status.WARN),
        ("fct_sessions", 61.5, Status.ERROR),
        ("fct_orders_web", None, Status.NEVER_BUILT),
    ]
    with pytest.raises(ValueError, match="aware"):
        mart_freshness(built, NOW.replace(tzinfo=None), Thresholds(36, 60))
    assert KEY_MARTS == (
        "fct_daily_sales",
        "fct_daily_store_performance",
        "fct_inventory_daily",
        "fct_returns",
        "fct_sessions",
        "fct_orders_web",
    )


def test_worst_orders_error_before_warn_before_never():
    assert worst([Status.PASS, Status.WARN, Status.ERROR, Status.NEVER_LOADED]) is Status.ERROR
    assert worst([Status.PASS, Status.NEVER_LOADED, Status.WARN]) is Status.WARN
    assert worst([Status.NOT_CHECKED, Status.NEVER_LOADED]) is Status.NEVER_LOADED
    assert worst([Status.PASS, Status.NOT_CHECKED]) is None
    assert worst([]) is None
