"""ops.run_failures: every failed run, whichever path launched it (CLI, schedule, sensor, UI)."""

from __future__ import annotations

import json

import psycopg

from .connection import scalar

RUN_FAILURES_DDL = """
create schema if not exists ops;
create table if not exists ops.run_failures (
    run_id text primary key,
    job_name text,
    failed_at timestamptz default now(),
    message text,
    tags jsonb
)
"""


def record_run_failure(url: str, run_id: str, job_name: str, message: str, tags: dict[str, str]) -> None:
    """Insert the failure of ``run_id`` (once: a second report of the same run is ignored)."""
    from .locks import held

    with psycopg.connect(url, autocommit=True) as conn:
        if scalar(conn, "select to_regclass('ops.run_failures')") is None:
            with held(conn, "ddl"), conn.transaction():
                conn.execute(RUN_FAILURES_DDL)
        conn.execute(
            "insert into ops.run_failures (run_id, job_name, message, tags) values (%s, %s, %s, %s) "
            "on conflict (run_id) do nothing",
            (run_id, job_name, message, json.dumps(dict(tags))),
        )
