"""The fixed cost of a run: what a run costs beyond loading and building its data.

In a fresh NEXUS_HOME (embedded PostgreSQL, Dagster storage in PostgreSQL, as `nexus run` uses),
on a small generated landing folder:

1. a full run over every landing file (``full``);
2. the same window again, with every file unchanged (``unchanged``);
3. one day's order report rewritten with one more order, then a run of that day only
   (``one day``).

For each it prints the wall-clock time of the `nexus run` process, the Dagster event-log rows the
run wrote, and the time spent doing the work: the loader's own per-file seconds plus the seconds
dbt reports for its models and tests. ``overhead = wall - work`` is the fixed cost (process
start, Dagster planning and events, dbt start-up). Not part of the tests.

    .venv/bin/python benchmarks/bench_orchestration.py [--days 30] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
NEXUS = Path(sys.executable).with_name("nexus")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "DAGSTER_"))}
    env.update(NEXUS_HOME=str(home), NEXUS_PARTITIONS_START="2026-01-01")
    return env


def _nexus(home: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(NEXUS), *args], cwd=ROOT, env=_env(home), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(
            f"nexus {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return wall, done.stdout + done.stderr


def _url(home: Path, database: str) -> str:
    _wall, out = _nexus(home, "db", "url")
    url = out.strip().splitlines()[-1]
    return url.replace("/nexus?", f"/{database}?") if database != "nexus" else url


def _event_rows(dagster_url: str) -> int:
    with psycopg.connect(dagster_url) as conn:
        return conn.execute("select count(*) from event_logs").fetchone()[0]


def _work_seconds(warehouse_url: str, since_epoch: float, home: Path) -> tuple[float, float]:
    """(loader seconds, dbt node seconds) of the work done since ``since_epoch``."""
    with psycopg.connect(warehouse_url) as conn:
        load = conn.execute(
            "select coalesce(sum(duration_seconds), 0) from ops.load_manifest "
            "where started_at >= to_timestamp(%s)",
            (since_epoch,),
        ).fetchone()[0]
    dbt = 0.0
    for results in (home / "dbt_runs").rglob("run_results.json"):
        if results.stat().st_mtime < since_epoch:
            continue
        data = json.loads(results.read_text())
        dbt += sum(r.get("execution_time") or 0.0 for r in data.get("results", []))
    return float(load), dbt


def _touch_one_day(landing: Path) -> str:
    """Append a copy of one order line, with a new order id, to the order report of a middle day."""
    files = sorted(landing.glob("amazon/*/orders/*.txt"))
    target = files[len(files) // 2]
    raw = target.read_bytes()
    text = raw.decode("utf-8")
    lines = text.splitlines()
    header, first = lines[0].split("\t"), lines[1].split("\t")
    first[header.index("amazon-order-id")] = "999-0000000-0000001"
    target.write_text(text.rstrip("\n") + "\n" + "\t".join(first) + "\n", encoding="utf-8")
    return str(target.relative_to(landing))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary NEXUS_HOME")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="nexus-bench-orch-"))
    try:
        _nexus(home, "generate", "--days", str(args.days), "--stores", "2", "--skus", "10", "--users", "400")
        warehouse = _url(home, "nexus")
        dagster = _url(home, "nexus_dagster")
        rows = []

        def measure(label: str, *run_args: str) -> None:
            events_before = _event_rows(dagster) if rows else 0  # the storage exists after the first run
            since = time.time()
            wall, _out = _nexus(home, "run", *run_args)
            load, dbt = _work_seconds(warehouse, since, home)
            events = _event_rows(dagster) - events_before
            rows.append((label, wall, events, load + dbt, wall - load - dbt))

        measure("full")
        measure("unchanged")
        relative = _touch_one_day(home / "landing")
        day = _day_of(relative)
        measure(f"one day ({day})", "--from", day, "--to", day)

        print(f"\n{args.days} days, 2 stores; `nexus run` wall-clock seconds (process start to exit)")
        print(f"{'run':<24} {'wall s':>8} {'events':>8} {'work s':>8} {'overhead s':>11}")
        for label, wall, events, work, overhead in rows:
            print(f"{label:<24} {wall:>8.1f} {events:>8} {work:>8.1f} {overhead:>11.1f}")
        print("goals: unchanged < 20 s; one-day overhead < 15 s")
    finally:
        subprocess.run([str(NEXUS), "db", "stop"], cwd=ROOT, env=_env(home), capture_output=True, check=False)
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _day_of(relative: str) -> str:
    match = re.search(r"(\d{4})-?(\d{2})-?(\d{2})", relative)
    if not match:
        raise SystemExit(f"no date in {relative}")
    return "-".join(match.groups())


if __name__ == "__main__":
    main()
