"""The demo's known users arrive over the whole period, so every monthly cohort has new users.

Counted from the generated event files only: a known user is a userId seen in an event; the
devices (anonymousIds) of that user are those of the events that carry both ids; the user's first
visit is the earliest event of any of those devices (events before the login carry the
anonymousId alone).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from nexus_pipelines.demo import generate

START = date(2026, 3, 1)
DAYS = 180  # the demo's default period: 2026-03-01 .. 2026-08-27


def first_visits(landing: Path) -> dict[str, datetime]:
    """userId -> timestamp of the user's first event on any of their devices."""
    device_first: dict[str, datetime] = {}
    owner: dict[str, str] = {}
    for path in sorted((landing / "events").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            device, at = event["anonymousId"], datetime.fromisoformat(event["timestamp"])
            if device not in device_first or at < device_first[device]:
                device_first[device] = at
            if event.get("userId"):
                owner[device] = event["userId"]
    first: dict[str, datetime] = {}
    for device, user in owner.items():
        at = device_first[device]
        if user not in first or at < first[user]:
            first[user] = at
    return first


@pytest.fixture(scope="module")
def visits(tmp_path_factory) -> dict[str, datetime]:
    landing = tmp_path_factory.mktemp("demo") / "landing"
    generate(landing, seed=42, start=START, days=DAYS, stores=1, skus=4, users=300)
    return first_visits(landing)


def test_every_calendar_month_of_the_period_has_first_visits(visits):
    assert len(visits) > 250  # of 300 users: nearly all visit before the period ends
    months = Counter((at.year, at.month) for at in visits.values())
    period = [(2026, m) for m in range(3, 9)]  # March .. August (the last day is 2026-08-27)
    assert sorted(months) == period
    for month in period:  # uniform arrival gives each month ~1/6 (August ~27/180) of the users
        assert months[month] >= 0.05 * len(visits), (month, months)


def test_the_last_third_of_the_period_holds_a_fair_share_of_first_visits(visits):
    last_third = datetime.combine(START + timedelta(days=DAYS * 2 // 3), time(), tzinfo=UTC)  # 2026-06-28
    late = sum(at >= last_third for at in visits.values())
    assert late >= 0.2 * len(visits), (late, len(visits))
