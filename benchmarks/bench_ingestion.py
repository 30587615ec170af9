"""Ingestion throughput: generate a landing folder at scale, load it with the real COPY loader.

Prints rows/s per source and the process's peak RSS. Not part of the test suite.

    .venv/bin/python benchmarks/bench_ingestion.py --days 30 --users 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import ingest
from nexus_pipelines.lib.warehouse.connection import warehouse_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--events-per-day", type=int, default=None)
    parser.add_argument("--landing", type=Path, default=None, help="reuse an existing landing folder")
    args = parser.parse_args()

    landing = args.landing or Path(tempfile.mkdtemp(prefix="nexus-bench-landing-"))
    if args.landing is None:
        t0 = time.perf_counter()
        generate(landing, days=args.days, users=args.users, events_per_day=args.events_per_day)
        print(f"generate: {time.perf_counter() - t0:.1f} s into {landing}")
    url = warehouse_url(load_settings())
    print(f"{'source':<32} {'rows':>10} {'seconds':>8} {'rows/s':>10}")
    total_rows, total_seconds = 0, 0.0
    for spec in SOURCES.values():
        t0 = time.perf_counter()
        summary = ingest(url, spec, landing, force=True)
        seconds = time.perf_counter() - t0
        total_rows += summary.rows_loaded
        total_seconds += seconds
        rate = summary.rows_loaded / seconds if seconds else 0
        print(f"{spec.name:<32} {summary.rows_loaded:>10,} {seconds:>8.2f} {rate:>10,.0f}")
    print(f"{'total':<32} {total_rows:>10,} {total_seconds:>8.2f} {total_rows / total_seconds:>10,.0f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB   ({dt.datetime.now():%Y-%m-%d %H:%M})")


if __name__ == "__main__":
    main()
