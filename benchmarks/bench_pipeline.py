"""Whole-pipeline timing: one Dagster run over a generated landing folder, seconds per step.

Runs against NEXUS_DATABASE_URL or the embedded server under NEXUS_HOME (default .nexus-bench),
in a fresh database, and prints each step's duration and the run's total. Not part of the tests.

    .venv/bin/python benchmarks/bench_pipeline.py --days 90 --users 10000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from dagster import DagsterEventType, DagsterInstance
from psycopg import sql

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.warehouse.connection import warehouse_url, with_database


def step_durations(instance: DagsterInstance, run_id: str) -> list[tuple[str, float]]:
    started: dict[str, float] = {}
    durations = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            durations.append((event.step_key, entry.timestamp - started.get(event.step_key, entry.timestamp)))
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args()

    os.environ.setdefault("NEXUS_HOME", str(Path(".nexus-bench").resolve()))
    landing = Path(tempfile.mkdtemp(prefix="nexus-bench-landing-"))
    t0 = time.perf_counter()
    truth = generate(landing, days=args.days, users=args.users)
    print(f"generate: {time.perf_counter() - t0:.1f} s, {truth['counts']['lines']['events']:,} event lines")

    admin = warehouse_url(load_settings())
    name = f"nexus_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    os.environ["NEXUS_DATABASE_URL"] = with_database(admin, name)
    os.environ["NEXUS_LANDING_DIR"] = str(landing)
    from nexus_pipelines.defs.runner import run_window

    try:
        with DagsterInstance.ephemeral() as instance:
            t0 = time.perf_counter()
            outcome = run_window(instance=instance, settings=load_settings())
            total = time.perf_counter() - t0
            print(f"\n{'step':<60} {'seconds':>8}")
            for step, seconds in sorted(step_durations(instance, outcome.run_id), key=lambda r: -r[1])[:25]:
                print(f"{step:<60} {seconds:>8.2f}")
            print(f"{'run total (' + ('ok' if outcome.success else 'FAILED') + ')':<60} {total:>8.2f}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
