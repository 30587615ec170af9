"""`make bench`: the figures of a daily run at a chosen scale, each next to its goal.

    .venv/bin/python benchmarks/bench.py --scale s|m|l|10m     (make bench SCALE=m)

In a fresh NEXUS_HOME (embedded PostgreSQL 18, Dagster storage in PostgreSQL, as `nexus run`):

1. generate the landing folder of the scale;
2. the last day's files (every source) are held back, and a full run of the rest follows
   (`nexus run` in a subprocess: wall-clock, peak RSS, seconds per step);
3. a one-day incremental run, as every morning: the last day's files arrive, then
   `nexus run --from <last day> --to <last day>`;
4. ingestion against plain COPY: for each raw table, the rows loaded per second of its raw step
   in the full run (wall-clock of the step: hashing, parsing, COPY, bookkeeping) against a plain
   binary ``COPY FROM STDIN`` of the same rows into an empty copy of the same table (same
   columns, defaults and indexes);
5. BI: 10 client threads run a mix of mart queries for 30 s; p95 latency per query;
6. with DuckDB installed (the ``bench`` extra), the heaviest marts rebuilt from the same raw rows
   in DuckDB, from dbt's own compiled SQL (``duckdb_marts.py``), against the one-day run.

Not part of `make test`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
NEXUS = Path(sys.executable).with_name("nexus")
# the generated history ends on the latest complete UTC day, so that every day of it can be run
START = dt.date(2026, 1, 5)  # replaced in main() by the first day of the scale's history
SCALES = {  # generate options
    "s": {"days": 60, "stores": 2, "skus": 20, "users": 2000},
    "m": {"days": 180, "stores": 4, "skus": 60, "users": 10000},
    "l": {"days": 365, "stores": 7, "skus": 150, "users": 40000},
    "10m": {"days": 365, "stores": 7, "skus": 150, "users": 130000},
}
BI_QUERIES = {
    "daily sales, one store, 30 days (mart lookup)": (
        "select * from marts.fct_daily_sales where store_id = %(store)s and order_date between %(d0)s and %(d1)s",
        True,
    ),
    "store performance, one store, 7 days (mart lookup)": (
        "select * from marts.fct_daily_store_performance where store_id = %(store)s "
        "and date_day between %(d6)s and %(d1)s",
        True,
    ),
    "inventory, one store, one day (mart lookup)": (
        "select * from marts.fct_inventory_daily where store_id = %(store)s and snapshot_date = %(d1)s",
        True,
    ),
    "returns by disposition, one store, 30 days": (
        "select detailed_disposition, count(*), sum(quantity) from marts.fct_returns "
        "where store_id = %(store)s and return_date between %(d0)s and %(d1)s group by 1",
        False,
    ),
    "sessions by channel, 30 days": (
        "select channel, count(*), sum(page_views), avg(duration_seconds) from marts.fct_sessions "
        "where session_date between %(d0)s and %(d1)s group by 1",
        False,
    ),
}


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "DAGSTER_"))}
    env.update(NEXUS_HOME=str(home), NEXUS_PARTITIONS_START=START.isoformat())
    return env


def nexus(home: Path, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the process, output) of one `nexus` command."""
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [str(NEXUS), *args],
        cwd=ROOT,
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"nexus {' '.join(args)} failed:\n{output[-5000:]}")
    return wall, usage.ru_maxrss / 1024, output


def step_seconds(output: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^done\s+(\S+) \(([\d.]+) s", output, re.M)}


def hold_back_last_day(landing: Path, held: Path) -> dt.date:
    """Move every partitioned file of the last day out of the landing folder; returns that day."""
    from nexus_pipelines.lib.formats import SOURCES
    from nexus_pipelines.lib.landing import files_for

    specs = [spec for spec in SOURCES.values() if spec.partitioned]
    last = max(f.partition_date for spec in specs for f in files_for(spec, landing))
    for spec in specs:
        for file in files_for(spec, landing, last, last):
            target = held / file.relative_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file.path, target)
    return last


def put_back(landing: Path, held: Path) -> None:
    for path in sorted(p for p in held.rglob("*") if p.is_file()):
        shutil.move(path, landing / path.relative_to(held))


def copy_ratios(url: str, steps: dict[str, float], before: dt.date) -> dict[str, tuple[int, float, float]]:
    """table -> (rows, loader rows/s, plain COPY rows/s) over the rows of the full run (dated before ``before``).

    The loader's seconds are its raw step's in the full run."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists bench_copy")
        sources = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        for source in sources:
            seconds = steps.get(f"raw__{source}")
            rows_of_full_run = sql.SQL(
                "select * from {} where _partition_date is null or _partition_date < {}"
            ).format(sql.Identifier("raw", source), sql.Literal(before))
            rows = conn.execute(
                sql.SQL("select count(*) from ({}) as r").format(rows_of_full_run)
            ).fetchone()[0]
            if not rows or not seconds:
                continue
            target = sql.Identifier("bench_copy", source)
            conn.execute(sql.SQL("drop table if exists {}").format(target))
            conn.execute(
                sql.SQL("create table {} (like {} including all)").format(
                    target, sql.Identifier("raw", source)
                )
            )
            with tempfile.TemporaryFile() as buffer:
                with conn.cursor().copy(
                    sql.SQL("copy ({}) to stdout (format binary)").format(rows_of_full_run)
                ) as copy:
                    for block in copy:
                        buffer.write(block)
                buffer.seek(0)
                t0 = time.perf_counter()
                with (
                    conn.transaction(),
                    conn.cursor().copy(sql.SQL("copy {} from stdin (format binary)").format(target)) as copy,
                ):
                    while block := buffer.read(1 << 20):
                        copy.write(block)
                copy_seconds = time.perf_counter() - t0
            conn.execute(sql.SQL("drop table {}").format(target))
            out[source] = (rows, rows / float(seconds), rows / copy_seconds)
        conn.execute("drop schema bench_copy cascade")
    return out


def bi_mix(url: str, seconds: float = 30.0, clients: int = 10) -> dict[str, list[float]]:
    with psycopg.connect(url) as conn:
        stores = [
            r[0] for r in conn.execute("select distinct store_id from marts.fct_daily_sales").fetchall()
        ]
        last = conn.execute("select max(order_date) from marts.fct_daily_sales").fetchone()[0]
    latencies: dict[str, list[float]] = {name: [] for name in BI_QUERIES}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(url) as conn:
            while time.monotonic() < deadline:
                name = rng.choice(list(BI_QUERIES))
                d1 = last - dt.timedelta(days=rng.randrange(0, 60))
                params = {
                    "store": rng.choice(stores),
                    "d1": d1,
                    "d0": d1 - dt.timedelta(days=29),
                    "d6": d1 - dt.timedelta(days=6),
                }
                t0 = time.perf_counter()
                conn.execute(BI_QUERIES[name][0], params).fetchall()
                with lock:
                    latencies[name].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


def duckdb_figure(url: str, one_day_seconds: float) -> str:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return "DuckDB not installed (pip install -e '.[bench]')"
    from duckdb_marts import duckdb_rebuild

    result = duckdb_rebuild(url, ROOT / "dbt_project")
    build, load = result["build_seconds"], result["load_seconds"]
    problems = []
    if result["skipped"]:
        problems.append(f"skipped: {', '.join(result['skipped'])}")
    if result["rows"] != result["pg_rows"]:
        problems.append("row counts differ from PostgreSQL")
    note = f"; {'; '.join(problems)}" if problems else ""
    return (
        f"{build:.1f} s build + {load:.1f} s copying raw in; one-day run ÷ DuckDB build "
        f"{one_day_seconds / build:.1f}{note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="s")
    parser.add_argument("--bi-seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary NEXUS_HOME")
    args = parser.parse_args()
    options = SCALES[args.scale]
    from nexus_pipelines.lib.windows import latest_complete_day

    global START
    START = latest_complete_day() - dt.timedelta(days=options["days"] - 1)
    home = Path(tempfile.mkdtemp(prefix=f"nexus-bench-{args.scale}-"))
    figures: list[tuple[str, str, str]] = []
    try:
        t0 = time.perf_counter()
        nexus(home, "generate", "--start", START.isoformat(), *[f"--{k}={v}" for k, v in options.items()])
        truth = json.loads((home / "landing" / "truth.json").read_text())
        events = truth.get("counts", {}).get("lines", {}).get("events", 0)
        print(
            f"generated {args.scale}: {options}, {events:,} event lines ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )

        held = home / "held-back"
        day = hold_back_last_day(home / "landing", held)
        full_wall, full_rss, full_out = nexus(home, "run")
        print(f"full run (all but {day}) {full_wall:.1f} s", flush=True)
        put_back(home / "landing", held)
        inc_wall, _inc_rss, inc_out = nexus(home, "run", "--from", day.isoformat(), "--to", day.isoformat())
        print(f"one-day run {inc_wall:.1f} s", flush=True)
        _w, _r, url_out = nexus(home, "db", "url")
        url = url_out.strip().splitlines()[-1]

        ratios = copy_ratios(url, step_seconds(full_out), day)
        latencies = bi_mix(url, args.bi_seconds)

        figures.append(
            (
                "one-day incremental ÷ full run",
                f"{inc_wall / full_wall:.2f} ({inc_wall:.0f} s of {full_wall:.0f} s)",
                "≤ 0.10",
            )
        )
        for source, (rows, ours, plain) in ratios.items():
            figures.append(
                (
                    f"ingestion {source}: ours ÷ plain COPY",
                    f"{ours / plain:.2f} ({ours:,.0f} vs {plain:,.0f} rows/s, {rows:,} rows)",
                    "≥ 0.7",
                )
            )
        for name, values in latencies.items():
            goal = "< 20 ms" if BI_QUERIES[name][1] else "< 100 ms"
            figures.append(
                (f"BI p95, 10 clients: {name}", f"{p95(values):.1f} ms ({len(values)} queries)", goal)
            )
        figures.append(
            ("peak RSS of the run process (full run)", f"{full_rss:.0f} MiB", "< 1 GiB at 10 M events")
        )
        figures.append(("full pipeline", f"{full_wall:.0f} s at {events:,} events", "< 8 min at 10 M events"))
        figures.append(
            ("DuckDB full rebuild of the heaviest marts", duckdb_figure(url, inc_wall), "one-day run shorter")
        )

        print(f"\nscale {args.scale}: {options}, {events:,} events; this machine: {os.cpu_count()} cores\n")
        width = max(len(f[0]) for f in figures)
        print(f"{'figure':<{width}}  {'measured':<48} goal")
        for name, measured, goal in figures:
            print(f"{name:<{width}}  {measured:<48} {goal}")
        print(
            "\nper step, full run (s):  "
            + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(step_seconds(full_out).items(), key=lambda kv: -kv[1])[:8]
            )
        )
        print(
            "per step, one-day run (s): "
            + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(step_seconds(inc_out).items(), key=lambda kv: -kv[1])[:8]
            )
        )
    finally:
        subprocess.run(
            [str(NEXUS), "db", "stop"], cwd=ROOT, env=env_for(home), capture_output=True, check=False
        )
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
