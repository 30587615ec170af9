"""Writes the web store's files day by day: ``events/<date>.jsonl`` and the marketing spend.

A day's events are those of the sessions that start that day (users' planned sessions plus
anonymous visitors drawn on the fly), the tail of yesterday's sessions that crossed midnight,
and the server-side refunds of that day.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .catalog import Catalog
from .corruption import damage_event_lines
from .customers import WebPlan, purchase_to_browse_ratio, random_devices
from .events import SessionRenderer, finish_day, refund_event
from .marketing import SPEND_COLUMNS, spend_rows
from .params import ANONYMOUS_SESSIONS_PER_USER_PER_DAY, MOBILE_SHARE
from .streams import stream
from .truth import FileCounts
from .web_sessions import DAY, SessionFactory, WebSession, to_seconds
from .writers import Clock, write_table, write_text


class WebDayWriter:
    """Renders and writes one day of events and spend at a time, carrying events past midnight."""

    def __init__(
        self,
        out: Path,
        seed: int,
        clock: Clock,
        catalog: Catalog,
        plan: WebPlan,
        days: int,
        users: int,
        events_per_day: int | None,
        bad_rows: float,
        counts: FileCounts,
    ):
        self.out, self.seed, self.clock, self.days = out, seed, clock, days
        self.bad_rows, self.counts = bad_rows, counts
        self.renderer = SessionRenderer(catalog)
        self.visitors = SessionFactory(catalog, purchase_to_browse_ratio())
        self.anonymous_per_day = self._anonymous_rate(plan, users, events_per_day)
        self.sessions_by_day: dict[int, list[WebSession]] = defaultdict(list)
        for s in plan.sessions:
            self.sessions_by_day[s.start // DAY].append(s)
        self.refunds_by_day = defaultdict(list)
        for r in plan.refunds:
            self.refunds_by_day[r.at // DAY].append(r)
        self.carry: list[tuple[int, int, dict]] = []  # events past midnight of sessions begun earlier
        self.sequence = itertools.count()  # breaks timestamp ties in the order events were made
        self.sessions_by_kind: Counter = Counter()
        self.sessions_by_channel: Counter = Counter()

    def _anonymous_rate(self, plan: WebPlan, users: int, events_per_day: int | None) -> float:
        """Anonymous visitor sessions per day: a few per user, or what tops up to the target."""
        if events_per_day is None:
            return ANONYMOUS_SESSIONS_PER_USER_PER_DAY * users
        planned = (sum(s.event_count for s in plan.sessions) + len(plan.refunds)) / self.days
        return max(0.0, events_per_day - planned) / self.visitors.expected_anonymous_events()

    def _anonymous_sessions(self, day: int) -> list[WebSession]:
        rng = stream(self.seed, "visitors", day)
        n = int(rng.poisson(self.anonymous_per_day))
        devices = random_devices(rng, n, rng.random(n) < MOBILE_SHARE)
        starts = to_seconds(day + np.sort(rng.random(n)))
        sessions = [self.visitors.anonymous(rng, int(t), d) for t, d in zip(starts, devices)]
        return [s for s in sessions if s.start + s.max_duration < self.days * DAY]

    def write_day(self, day: int) -> None:
        date = self.clock.iso_date(day)
        sessions = self.sessions_by_day.pop(day, []) + self._anonymous_sessions(day)
        self.sessions_by_kind.update(s.kind for s in sessions)
        self.sessions_by_channel.update(s.channel.name for s in sessions)

        events, self.carry = self.carry, []
        rng = stream(self.seed, "events", day)
        for session in sessions:
            for ts, event in self.renderer.render(rng, session):
                (events if ts < (day + 1) * DAY else self.carry).append((ts, next(self.sequence), event))
        for refund in self.refunds_by_day.pop(day, []):
            ts, event = refund_event(refund)
            events.append((ts, next(self.sequence), event))
        lines, resent = finish_day(stream(self.seed, "event-lines", day), self.clock, events)
        bad = damage_event_lines(stream(self.seed, "damage", "events", day), lines, resent, self.bad_rows)
        relative = f"events/{date}.jsonl"
        write_text(self.out / relative, lines)
        self.counts.add("events", relative, len(lines), bad)
        self.counts.event_resends += int(resent.sum()) // 2

        relative = f"marketing/spend/{date}.csv"
        rows = spend_rows(stream(self.seed, "spend", day), date, sessions)
        write_table(self.out / relative, SPEND_COLUMNS, rows, sep=",")
        self.counts.add("marketing_spend", relative, len(rows))
