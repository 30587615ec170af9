"""Test helpers: load hand-written landing files and run the real dbt project against a test database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from nexus_pipelines.lib.config import PROJECT_ROOT
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import ingest
from nexus_pipelines.lib.warehouse.connection import dbt_env
from nexus_pipelines.lib.warehouse.ddl import ensure_raw_table, ensure_schemas

DBT_PROJECT = PROJECT_ROOT / "dbt_project"


def load_landing(url: str, landing: Path, *, force: bool = False) -> None:
    """Create every raw table (empty ones too, as dbt sources need them) and load all landing files."""
    with psycopg.connect(url) as conn, conn.transaction():
        ensure_schemas(conn)
        for spec in SOURCES.values():
            ensure_raw_table(conn, spec)
    for spec in SOURCES.values():
        ingest(url, spec, landing, force=force)


def run_dbt(url: str, *args: str, variables: dict | None = None, target_dir: Path) -> str:
    """Run dbt (e.g. "build", "--select", "fct_x+") against ``url``; raise with dbt's output on failure."""
    target_dir.mkdir(parents=True, exist_ok=True)
    shared_parse = DBT_PROJECT / "target" / "partial_parse.msgpack"
    if shared_parse.exists() and not (target_dir / "partial_parse.msgpack").exists():
        shutil.copy(shared_parse, target_dir / "partial_parse.msgpack")
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
    ]
    if variables:
        command += ["--vars", json.dumps(variables)]
    env = {**os.environ, **dbt_env(url)}
    done = subprocess.run(command, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def query(url: str, sql: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def query_dicts(url: str, statement, params: tuple | None = None) -> list[dict]:
    """Rows as {column: value} dicts."""
    with psycopg.connect(url) as conn:
        cursor = conn.execute(statement, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def create_database(server_url: str, prefix: str = "nexus_test") -> str:
    """A new empty database on the test server; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
