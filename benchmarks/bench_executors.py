"""In-process vs multiprocess executor for the same run, on this machine.

Generates a small landing folder, then runs `refresh_all` over it twice in two fresh databases of
one embedded server: with the in-process executor (what `nexus run` uses) and with Dagster's
multiprocess executor (each step in its own process, two at a time). Prints both wall-clock
times and their ratio; the tables are compared for equality. Not part of the tests.

    .venv/bin/python benchmarks/bench_executors.py [--days 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
from dagster import DagsterInstance, execute_job, reconstructable
from psycopg import sql

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import prepare_dagster_home
from nexus_pipelines.lib.warehouse.connection import warehouse_url, with_database


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="nexus-bench-exec-"))
    os.environ.update(NEXUS_HOME=str(home), NEXUS_PARTITIONS_START="2026-01-01")
    landing = home / "landing"
    generate(
        landing, start=__import__("datetime").date(2026, 3, 1), days=args.days, stores=2, skus=10, users=400
    )
    os.environ["NEXUS_LANDING_DIR"] = str(landing)
    admin = warehouse_url(load_settings())
    tags = {
        "dagster/asset_partition_range_start": "2026-03-01",
        "dagster/asset_partition_range_end": (
            __import__("datetime").date(2026, 3, 1) + __import__("datetime").timedelta(days=args.days - 1)
        ).isoformat(),
    }
    figures = {}
    try:
        for mode, config in (
            ("in_process", {"in_process": {}}),
            ("multiprocess", {"multiprocess": {"max_concurrent": 2}}),
        ):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(f"bench_{mode}")))
            os.environ["NEXUS_DATABASE_URL"] = with_database(admin, f"bench_{mode}")
            prepare_dagster_home(load_settings())
            from nexus_pipelines.defs.runner import refresh_job

            with DagsterInstance.get() as instance:
                t0 = time.perf_counter()
                result = execute_job(
                    reconstructable(refresh_job),
                    instance=instance,
                    tags=tags,
                    run_config={"execution": {"config": config}},
                )
                figures[mode] = (time.perf_counter() - t0, result.success)
        print(f"\n{args.days} days, 2 stores, 2 cores")
        for mode, (seconds, ok) in figures.items():
            print(f"{mode:<14} {seconds:7.1f} s  {'ok' if ok else 'FAILED'}")
        print(f"multiprocess / in_process = {figures['multiprocess'][0] / figures['in_process'][0]:.2f}")
    finally:
        os.environ.pop("NEXUS_DATABASE_URL", None)
        from nexus_pipelines.lib.warehouse import embedded

        embedded.stop(load_settings())
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
