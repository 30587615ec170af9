"""Partial runs at the fastest level that still uses the real loader and the real dbt models.

``partial_run`` does what one Dagster run over a window does to the warehouse, without Dagster:
every source's files of the window through ``ingest`` (stores.yaml always), then the rebuild
plans of both chains (``lib/warehouse/changes.py``) written to ``ops.rebuild_ranges``, one
``dbt run`` of the incremental facts with ``rebuild_from_ops``, and the plans consumed. ``finish`` builds the unpartitioned
marts (stateless: rebuilt whole on every run), ``full_rebuild`` loads everything into a new
database and builds every model without vars. ``mart_tables`` reads every table of ``marts``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg

from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import IngestionFailed, ingest
from nexus_pipelines.lib.warehouse import changes

from .dbt_runner import load_landing, run_dbt

VIEWS = "path:models/staging path:models/intermediate"


def prepare(url: str, landing: Path, target: Path) -> None:
    """Empty raw tables (dbt sources need them) and the staging/intermediate views."""
    empty = landing.parent / "empty-landing"
    empty.mkdir(exist_ok=True)
    load_landing(url, empty)
    run_dbt(
        url,
        "run",
        "--select",
        VIEWS,
        "--exclude",
        "tag:partitioned",
        variables={"rebuild_from_ops": True},
        target_dir=target,
    )


def partial_run(url: str, landing: Path, start: dt.date, end: dt.date, target: Path) -> dict:
    """Load the window's files and rebuild the facts the way a Dagster run does; returns the dbt vars used."""
    for spec in SOURCES.values():
        try:
            if spec.partitioned:
                ingest(url, spec, landing, start, end)
            else:
                ingest(url, spec, landing)
        except IngestionFailed:
            pass  # other files loaded; the run's raw step would fail, the facts still rebuild
    with psycopg.connect(url, autocommit=True) as conn:
        amazon = changes.rebuild_plan(conn, "amazon", (start, end))
        product = changes.rebuild_plan(conn, "product", (start, end))
        changes.write_plan(conn, amazon)
        changes.write_plan(conn, product)
    variables = {"rebuild_from_ops": True}
    run_dbt(url, "run", "--select", "tag:partitioned", variables=variables, target_dir=target)
    with psycopg.connect(url, autocommit=True) as conn:
        changes.consume(conn, amazon)
        changes.consume(conn, product)
    return variables


def finish(url: str, target: Path) -> None:
    """Every model that is not an incremental fact (views, intermediate tables, whole-rebuilt marts)."""
    run_dbt(
        url, "run", "--exclude", "tag:partitioned", variables={"rebuild_from_ops": True}, target_dir=target
    )


def full_rebuild(url: str, landing: Path, target: Path) -> None:
    load_landing(url, landing)
    run_dbt(url, "run", target_dir=target)


# when a table was built, not what it says
BUILD_TIME_COLUMNS = ("calculated_at",)


def mart_tables(url: str) -> dict[str, list[str]]:
    """Every table of schema marts as sorted JSON rows (build-time columns left out)."""
    drop = " - ".join(f"'{c}'" for c in BUILD_TIME_COLUMNS)
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {
            name: [
                r[0]
                for r in conn.execute(
                    f'select (to_jsonb(t) - {drop})::text from marts."{name}" as t order by 1'
                ).fetchall()
            ]
            for name in names
        }


def differences(left: dict[str, list[str]], right: dict[str, list[str]], limit: int = 2) -> list[str]:
    """Human-readable differences between two ``mart_tables`` results (empty when equal)."""
    problems = []
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if a is None or b is None:
            problems.append(f"{name}: missing on one side")
            continue
        if a != b:
            only_a = sorted(set(a) - set(b))[:limit]
            only_b = sorted(set(b) - set(a))[:limit]
            problems.append(
                f"{name}: {len(a)} vs {len(b)} rows; only incremental: {only_a}; only full: {only_b}"
            )
    return problems
