"""The core invariant: any sequence of partial runs leaves the tables of one full rebuild.

Each case (seeded) generates a small landing folder (two stores in America/Los_Angeles and
Europe/Berlin, orders re-stated in later files, returns, inventory, Sales and Traffic, Segment
events with re-sends), holds most of it back, and then plays a random sequence of steps, each
followed by a partial run whose window covers the files it changed (what the landing sensor
does), sometimes with extra days around it:

* arrival of the next day's files;
* re-delivery of an orders file with one quantity changed (1 -> 3);
* a later orders file re-stating an older order line as Cancelled with a newer last-updated-date;
* deletion of a file (orders, returns, inventory or events);
* an event re-sent in another day's file, or a different event under a reused messageId;
* a re-run of a random window with nothing changed.

At the end every file has arrived; the marts of the incremental database must equal, table by
table and row by row, those of a new database built in one go from the same landing folder.

`make test` runs two cases; `make test-property` (NEXUS_PROPERTY_CASES, default 24) runs more.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
from pathlib import Path

import pytest

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.formats import partition_date_from_name
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database
from .partial_runs import differences, finish, full_rebuild, mart_tables, partial_run, prepare

START = dt.date(2026, 3, 1)
DAYS = 5
CASES = int(os.environ.get("NEXUS_PROPERTY_CASES", "2"))
SEEDS = [1000 + i for i in range(CASES)]


def _date_of(relative: str) -> dt.date:
    return partition_date_from_name(relative)


class Scenario:
    """A landing folder that receives the generated files over time and is mutated on the way."""

    def __init__(self, root: Path, seed: int):
        self.rng = random.Random(seed)
        self.source = root / "generated"
        self.landing = root / "landing"
        generate(self.source, seed=seed, start=START, days=DAYS, stores=2, skus=4, users=40)
        self.pending = sorted(
            p.relative_to(self.source).as_posix()
            for p in self.source.rglob("*")
            if p.is_file() and p.name not in ("truth.json", ".generated.json")
        )
        self.landing.mkdir()
        self.released: list[str] = []
        self.log: list[str] = []
        self._release(lambda rel: rel == "stores.yaml")

    def _release(self, keep) -> list[str]:
        moved = [rel for rel in self.pending if keep(rel)]
        for rel in moved:
            target = self.landing / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.source / rel, target)
            self.pending.remove(rel)
            self.released.append(rel)
        return moved

    def dated(self, pattern: str) -> list[str]:
        return sorted(
            r for r in self.released if pattern in r and r != "stores.yaml" and (self.landing / r).exists()
        )

    # --- steps: each returns the partition dates it changed ---------------------------------------
    def arrive(self) -> list[dt.date]:
        days = sorted({_date_of(r) for r in self.pending if r != "stores.yaml"})
        if not days:
            return []
        day = days[0]
        self._release(lambda rel: rel != "stores.yaml" and _date_of(rel) == day)
        self.log.append(f"arrive {day}")
        return [day]

    def _orders_lines(self, rel: str) -> tuple[list[str], list[list[str]]]:
        text = (self.landing / rel).read_text(encoding="utf-8")
        lines = text.splitlines()
        return lines[0].split("\t"), [line.split("\t") for line in lines[1:] if line.strip()]

    def _write_orders(self, rel: str, header: list[str], rows: list[list[str]]) -> None:
        (self.landing / rel).write_text(
            "\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8"
        )

    def redeliver(self) -> list[dt.date]:
        files = self.dated("/orders/")
        if not files:
            return []
        rel = self.rng.choice(files)
        header, rows = self._orders_lines(rel)
        if not rows:
            return []
        row = self.rng.choice(rows)
        qty, price = header.index("quantity"), header.index("item-price")
        old = int(row[qty] or "1")
        unit = float(row[price] or "0") / max(old, 1)
        row[qty] = str(old + 2)
        row[price] = f"{unit * (old + 2):.2f}"
        self._write_orders(rel, header, rows)
        self.log.append(
            f"redeliver {rel} ({row[header.index('amazon-order-id')]} quantity {old} -> {old + 2})"
        )
        return [_date_of(rel)]

    def restate(self) -> list[dt.date]:
        files = self.dated("/orders/")
        if len(files) < 2:
            return []
        older, later = sorted(self.rng.sample(files, 2))
        if older.split("/")[1] != later.split("/")[1]:  # same store
            same = [f for f in files if f.split("/")[1] == older.split("/")[1] and f > older]
            if not same:
                return []
            later = self.rng.choice(same)
        header, rows = self._orders_lines(older)
        if not rows:
            return []
        line = list(self.rng.choice(rows))
        status, item, updated = (
            header.index("order-status"),
            header.index("item-status"),
            header.index("last-updated-date"),
        )
        line[status] = "Cancelled"
        line[item] = "Cancelled"
        line[updated] = f"{_date_of(later).isoformat()}T23:00:00+00:00"
        later_header, later_rows = self._orders_lines(later)
        later_rows.append([line[header.index(c)] if c in header else "" for c in later_header])
        self._write_orders(later, later_header, later_rows)
        self.log.append(f"restate {line[header.index('amazon-order-id')]} of {older} as Cancelled in {later}")
        return [_date_of(later)]

    def delete(self) -> list[dt.date]:
        files = [r for r in self.dated("/") if "/sales_traffic/" not in r and "marketing" not in r]
        if not files:
            return []
        rel = self.rng.choice(files)
        (self.landing / rel).unlink()
        self.log.append(f"delete {rel}")
        return [_date_of(rel)]

    def resend_event(self) -> list[dt.date]:
        files = self.dated("events/")
        if len(files) < 2:
            return []
        source, target = self.rng.sample(files, 2)
        lines = [line for line in (self.landing / source).read_text().splitlines() if line.strip()]
        event = json.loads(self.rng.choice(lines))
        conflict = self.rng.random() < 0.5
        if conflict:  # same messageId, other content (an identify reusing a page's id, as in Segment's docs)
            event = {
                "type": "identify",
                "messageId": event["messageId"],
                "userId": "reuser-1",
                "anonymousId": event.get("anonymousId") or "anon-reuse",
                "traits": {"plan": "pro"},
                "timestamp": event["timestamp"],
                "receivedAt": event.get("receivedAt", event["timestamp"]),
            }
        with open(self.landing / target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")
        self.log.append(
            f"{'conflicting' if conflict else 're-sent'} event {event['messageId']} into {target}"
        )
        return [_date_of(target)]

    def rerun(self) -> list[dt.date]:
        days = sorted({_date_of(r) for r in self.dated("/")})
        if not days:
            return []
        self.log.append("re-run with nothing changed")
        return [self.rng.choice(days)]

    def window(self, days: list[dt.date]) -> tuple[dt.date, dt.date]:
        start, end = min(days), max(days)
        if self.rng.random() < 0.3:
            start -= dt.timedelta(days=self.rng.randint(0, 2))
        if self.rng.random() < 0.3:
            end += dt.timedelta(days=self.rng.randint(0, 2))
        return start, end


@pytest.mark.parametrize("seed", SEEDS)
def test_any_sequence_of_partial_runs_equals_one_full_rebuild(seed, server_url, tmp_path):
    scenario = Scenario(tmp_path, seed)
    incremental = create_database(server_url, "nexus_prop")
    full = create_database(server_url, "nexus_full")
    inc_url, full_url = with_database(server_url, incremental), with_database(server_url, full)
    try:
        prepare(inc_url, scenario.landing, tmp_path / "t_inc")
        rng = scenario.rng
        for _ in range(2):  # the first days arrive one run each
            day = scenario.arrive()
            partial_run(inc_url, scenario.landing, day[0], day[0], tmp_path / "t_inc")
        steps = [
            scenario.arrive,
            scenario.redeliver,
            scenario.restate,
            scenario.delete,
            scenario.resend_event,
            scenario.rerun,
        ]
        for _ in range(rng.randint(3, 5)):
            changed = rng.choice(steps)()
            if changed:
                start, end = scenario.window(changed)
                partial_run(inc_url, scenario.landing, start, end, tmp_path / "t_inc")
        while scenario.pending:  # whatever is left arrives, a day per run
            day = scenario.arrive()
            if not day:
                break
            partial_run(inc_url, scenario.landing, day[0], day[0], tmp_path / "t_inc")
        finish(inc_url, tmp_path / "t_inc")
        full_rebuild(full_url, scenario.landing, tmp_path / "t_full")

        got, want = mart_tables(inc_url), mart_tables(full_url)
        assert len(want) >= 20 and sum(len(rows) for rows in want.values()) > 500
        problems = differences(got, want)
        assert not problems, "\n".join(["steps:", *scenario.log, "differences:", *problems])
    finally:
        drop_database(server_url, incremental)
        drop_database(server_url, full)
