"""How long DuckDB takes to rebuild the heaviest dbt marts from the warehouse's raw rows.

    .venv/bin/python benchmarks/duckdb_marts.py POSTGRES_URL [--project-dir dbt_project] [--json]

`make bench` sets this full rebuild beside the one-day incremental run: when DuckDB rebuilds the
marts from scratch faster than our incremental run updates one day, the incremental run is not
paying for itself. Against a PostgreSQL warehouse after a full pipeline run, ``duckdb_rebuild``
measures

* ``load_seconds``: copying the tables the marts read (the dbt sources upstream of them, and any
  seed or snapshot) from PostgreSQL into a DuckDB database file: ``COPY (select …) TO STDOUT
  (FORMAT csv)`` into a temporary file, then DuckDB's ``COPY … FROM`` into a table with the
  column types of PostgreSQL's information_schema (jsonb → JSON, timestamptz → TIMESTAMPTZ,
  numeric(p, s) → DECIMAL(p, s), …);
* ``build_seconds``: building the marts and every staging / intermediate model upstream of them
  in DuckDB, in dependency order, from the SQL dbt compiles for a full refresh (``dbt compile
  --full-refresh`` with ``rebuild_from_ops: false``: incremental models compile as full builds).
  Each model keeps its dbt materialization, as in PostgreSQL: a view is ``create or replace
  view`` (its cost shows in the tables that read it), a table or an incremental model ``create or
  replace table … as``; ``models`` gives the seconds of each.

dbt's compile and the row counts are not part of either figure.

The SQL is dbt's own. DuckDB runs with the settings that give PostgreSQL's semantics where the two
differ (``DUCKDB_SETTINGS``, and the warehouse's TimeZone), with macros for the PostgreSQL
functions the models use that DuckDB lacks or types differently (``POSTGRES_COMPATIBILITY``), and
with two textual rewrites where DuckDB accepts PostgreSQL's syntax but computes something else
(``REWRITES``: numeric without precision, extract(epoch …)). A model DuckDB still rejects is
retried once as translated by sqlglot (``transpile(read="postgres", write="duckdb")``) when
sqlglot is installed. ``translated`` lists, per model, what was applied. A model that cannot run,
and everything downstream of it, is in ``skipped`` with the error. ``rows`` / ``pg_rows`` are the
row counts of each mart in DuckDB and in PostgreSQL: a mismatch is reported, not hidden.

Requires ``duckdb`` (the ``bench`` extra); no DuckDB extension is downloaded (JSON and the ICU
time zones are built into the Python wheel). The temporary CSV file of the largest table and the
DuckDB database take disk space in the temporary directory (raw.events: about 1 KB per event).
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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from nexus_pipelines.lib.warehouse.connection import dbt_env  # the variables profiles.yml reads

# The heaviest marts (the facts of the daily run), rebuilt with everything upstream of them.
MARTS: tuple[str, ...] = (
    "fct_daily_sales",
    "fct_daily_store_performance",
    "fct_inventory_daily",
    "fct_inventory_health",
    "fct_returns",
    "fct_sessions",
)

# dbt vars of a full rebuild: no date windows read from ops.rebuild_ranges.
FULL_REBUILD_VARS = {"rebuild_from_ops": False}

# DuckDB settings for PostgreSQL's semantics where the defaults differ.
DUCKDB_SETTINGS: dict[str, str] = {
    "integer_division": "true",  # int / int truncates, as in PostgreSQL (DuckDB's default is a double)
    "default_null_order": "nulls_last_on_asc_first_on_desc",  # PostgreSQL's NULL placement
}

# PostgreSQL functions the models use that DuckDB lacks, as DuckDB macros with PostgreSQL's results.
POSTGRES_COMPATIBILITY: dict[str, str] = {
    "jsonb_typeof": """
        create or replace macro jsonb_typeof(value) as
        case json_type(value)
            when 'OBJECT' then 'object'
            when 'ARRAY' then 'array'
            when 'VARCHAR' then 'string'
            when 'BOOLEAN' then 'boolean'
            when 'NULL' then 'null'
            when 'BIGINT' then 'number'
            when 'UBIGINT' then 'number'
            when 'DOUBLE' then 'number'
        end
    """,
    # PostgreSQL's cardinality() is an integer, usable as an array subscript; DuckDB's is a UBIGINT,
    # which its list subscript does not take (array[cardinality(array)]: the last element).
    "cardinality": "create or replace macro cardinality(value) as len(value)",
    # extract(epoch from …) is a numeric with 6 decimals in PostgreSQL (its text, e.g. in a
    # surrogate key, reads 1767571200.000000), a double in DuckDB (1767571200.0): see REWRITES.
    "pg_epoch": "create or replace macro pg_epoch(value) as epoch_us(value)::decimal(38, 0) * 0.000001::decimal(7, 6)",
}

# Rewrites of the compiled SQL, applied to every model, where DuckDB accepts PostgreSQL's syntax
# but computes something else: (name, pattern, replacement).
REWRITES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # PostgreSQL's numeric without precision is exact to any precision; DuckDB's DECIMAL without
    # one is DECIMAL(18, 3) and rounds to 3 decimals (a z-score of 1.6449 becomes 1.645). A double
    # is the nearest DuckDB type (about 16 significant digits).
    (
        "numeric without precision -> double",
        re.compile(r"(::\s*|\bas\s+)(?:numeric|decimal)\b(?!\s*\()", re.IGNORECASE),
        r"\1double",
    ),
    # extract(epoch from x) -> pg_epoch(x) (PostgreSQL's numeric, see POSTGRES_COMPATIBILITY): the
    # closing parenthesis of extract( closes pg_epoch(.
    (
        "extract(epoch from x) -> numeric",
        re.compile(r"\bextract\s*\(\s*epoch\s+from\s+", re.IGNORECASE),
        "pg_epoch(",
    ),
)

# information_schema.columns.data_type -> DuckDB type; numeric in duckdb_type, anything else
# (arrays, bytea, …) is copied as its PostgreSQL text into VARCHAR.
PG_TO_DUCKDB: dict[str, str] = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "real": "REAL",
    "double precision": "DOUBLE",
    "boolean": "BOOLEAN",
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "character": "VARCHAR",
    "uuid": "UUID",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "time without time zone": "TIME",
    "interval": "INTERVAL",
    "json": "JSON",
    "jsonb": "JSON",
}


def duckdb_type(data_type: str, precision: int | None, scale: int | None) -> str:
    """The DuckDB column type for a PostgreSQL column of information_schema.columns."""
    if data_type == "numeric":
        # DuckDB's DECIMAL holds 38 digits; an unconstrained numeric becomes a double rather than
        # DuckDB's default DECIMAL(18, 3), which would round it.
        if precision is not None and precision <= 38:
            return f"DECIMAL({precision}, {scale or 0})"
        return "DOUBLE"
    return PG_TO_DUCKDB.get(data_type, "VARCHAR")


def quote(identifier: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def compile_manifest(url: str, project_dir: Path, marts: Sequence[str], target_dir: Path) -> dict[str, Any]:
    """`dbt compile --full-refresh` of the marts and their parents into ``target_dir``; its manifest.

    A scratch target and log path leave the project's own target/ (and its parse state) alone.
    """
    dbt = Path(sys.executable).with_name("dbt")
    command = [
        str(dbt) if dbt.exists() else (shutil.which("dbt") or "dbt"),
        "compile",
        "--full-refresh",
        "--quiet",
        "--vars",
        json.dumps(FULL_REBUILD_VARS),
        "--select",
        *(f"+{mart}" for mart in marts),
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target_dir),
        "--log-path",
        str(target_dir / "logs"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_PG_")} | dbt_env(url)
    result = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"dbt compile failed:\n{(result.stdout + result.stderr)[-5000:]}")
    return json.loads((target_dir / "manifest.json").read_text())


def upstream_in_order(manifest: dict[str, Any], marts: Iterable[str]) -> list[str]:
    """The unique ids of the marts and of every node upstream of them, parents before children."""
    nodes = {**manifest["nodes"], **manifest["sources"]}
    ordered: list[str] = []
    state: dict[str, str] = {}

    def visit(unique_id: str) -> None:
        if state.get(unique_id) == "done":
            return
        if state.get(unique_id) == "visiting":
            raise RuntimeError(f"dependency cycle at {unique_id}")
        state[unique_id] = "visiting"
        for parent in nodes[unique_id].get("depends_on", {}).get("nodes", []):
            visit(parent)
        state[unique_id] = "done"
        ordered.append(unique_id)

    for mart in marts:
        candidates = [
            uid
            for uid, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and node["name"] == mart
        ]
        if not candidates:
            raise RuntimeError(f"model {mart} is not in the dbt project")
        visit(candidates[0])
    return ordered


def pg_columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a PostgreSQL table, in column order."""
    rows = conn.execute(
        "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()
    if not rows:
        raise RuntimeError(f"{schema}.{table} does not exist in PostgreSQL")
    return [(name, duckdb_type(data_type, precision, scale)) for name, data_type, precision, scale in rows]


def load_table(pg: psycopg.Connection, duck: Any, schema: str, table: str, scratch: Path) -> int:
    """Copy one PostgreSQL table into the same-named DuckDB table; the rows copied.

    The rows pass through a CSV file on disk (constant memory whatever the table's size):
    PostgreSQL writes NULL unquoted and the empty string quoted, which DuckDB reads back apart
    (allow_quoted_nulls false). Timestamps travel in ISO form with their UTC offset.
    """
    columns = pg_columns(pg, schema, table)
    duck.execute(f"create schema if not exists {quote(schema)}")
    duck.execute(
        f"create or replace table {quote(schema)}.{quote(table)} ("
        + ", ".join(f"{quote(name)} {kind}" for name, kind in columns)
        + ")"
    )
    path = scratch / f"{schema}.{table}.csv"
    query = sql.SQL("copy (select {columns} from {table}) to stdout (format csv)").format(
        columns=sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns),
        table=sql.Identifier(schema, table),
    )
    try:
        with path.open("wb") as out, pg.cursor().copy(query) as copy:
            for block in copy:
                out.write(block)
        duck.execute(
            f"copy {quote(schema)}.{quote(table)} from {literal(str(path))} "
            "(format csv, header false, nullstr '', allow_quoted_nulls false)"
        )
    finally:
        path.unlink(missing_ok=True)
    return duck.execute(f"select count(*) from {quote(schema)}.{quote(table)}").fetchone()[0]


def sqlglot_translation(code: str) -> str | None:
    """The compiled SQL as sqlglot translates it from PostgreSQL to DuckDB; None without sqlglot."""
    try:
        import sqlglot
    except ImportError:
        return None
    statements = sqlglot.transpile(code, read="postgres", write="duckdb")
    return statements[0] if len(statements) == 1 else None


def build_statement(node: dict[str, Any], code: str) -> str:
    """The DuckDB statement that builds a model from its SQL, in its dbt materialization."""
    kind = "view" if node["config"].get("materialized") == "view" else "table"
    body = code.strip().rstrip(";")
    return (
        f"create or replace {kind} {quote(node['schema'])}.{quote(node['alias'] or node['name'])} as\n{body}"
    )


def rewrite(code: str) -> tuple[str, list[str]]:
    """The compiled SQL with REWRITES applied, and the names of those that changed it."""
    applied = []
    for name, pattern, replacement in REWRITES:
        code, count = pattern.subn(replacement, code)
        if count:
            applied.append(name)
    return code, applied


def build_model(duck: Any, node: dict[str, Any], code: str) -> tuple[float, str | None, str | None]:
    """Build one model in DuckDB from ``code``: (seconds, how it was translated or None, error or None).

    The SQL first as it is; on an error, sqlglot's translation of it once.
    """
    t0 = time.perf_counter()
    try:
        duck.execute(build_statement(node, code))
        return time.perf_counter() - t0, None, None
    except Exception as error:  # duckdb raises its own exception classes for SQL errors
        first_error = f"{type(error).__name__}: {error}"
    translated = None
    try:
        translated = sqlglot_translation(code)
    except Exception as error:  # sqlglot's ParseError and friends
        return 0.0, None, f"{first_error} (sqlglot could not translate it: {error})"
    if translated is None:
        return 0.0, None, first_error
    t0 = time.perf_counter()
    try:
        duck.execute(build_statement(node, translated))
        return time.perf_counter() - t0, "sqlglot", None
    except Exception as error:
        return 0.0, None, f"{first_error}; as translated by sqlglot: {type(error).__name__}: {error}"


def short(error: str, limit: int = 300) -> str:
    """An error message on one line, cut to ``limit`` characters."""
    line = " ".join(error.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def open_duckdb(path: Path, database: str, timezone: str, spill: Path) -> Any:
    """A DuckDB connection whose current database, named ``database``, is the file at ``path``.

    The compiled SQL names relations "database"."schema"."table", as in PostgreSQL.
    """
    import duckdb

    duck = duckdb.connect()
    try:
        duck.execute(f"attach {literal(str(path))} as {quote(database)}")
        duck.execute(f"use {quote(database)}")
        duck.execute(f"set temp_directory = {literal(str(spill))}")
        duck.execute(f"set TimeZone = {literal(timezone)}")  # the warehouse's, as dbt's sessions see it
        for name, value in DUCKDB_SETTINGS.items():
            duck.execute(f"set {name} = {value}")
        for statement in POSTGRES_COMPATIBILITY.values():
            duck.execute(statement)
    except BaseException:
        duck.close()
        raise
    return duck


def build_models(
    duck: Any, manifest: dict[str, Any], models: Sequence[dict[str, Any]]
) -> tuple[dict[str, float], dict[str, list[str]], dict[str, str]]:
    """Build ``models`` in order: ({model: seconds}, {model: translations}, {model: why skipped})."""
    for schema in sorted({model["schema"] for model in models}):
        duck.execute(f"create schema if not exists {quote(schema)}")
    seconds: dict[str, float] = {}
    translated: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    for model in models:
        name = model["name"]
        blocked = [
            manifest["nodes"][parent]["name"]
            for parent in model["depends_on"]["nodes"]
            if parent in manifest["nodes"] and manifest["nodes"][parent]["name"] in skipped
        ]
        if blocked:
            skipped[name] = f"depends on skipped {', '.join(blocked)}"
            continue
        code, applied = rewrite(model["compiled_code"])
        took, how, error = build_model(duck, model, code)
        if error is not None:
            skipped[name] = short(error)
            continue
        seconds[name] = round(took, 3)
        if applied or how:
            translated[name] = applied + ([how] if how else [])
    return seconds, translated, skipped


def duckdb_rebuild(
    url: str, project_dir: Path, marts: Sequence[str] = MARTS, keep_database: Path | None = None
) -> dict[str, Any]:
    """Rebuild ``marts`` (with their upstream models) in DuckDB from the raw rows of the warehouse at ``url``.

    ``project_dir`` is the dbt project. Returns ``load_seconds`` (raw tables PostgreSQL → DuckDB),
    ``build_seconds`` (all models), ``models`` {model: seconds} in build order, ``rows`` /
    ``pg_rows`` {mart: row count} in DuckDB (None when skipped) and PostgreSQL, ``rows_match``,
    ``raw_rows`` / ``raw_seconds`` {schema.table: rows copied / seconds}, ``translated``
    {model: [what was applied]}, ``skipped`` {model: reason}, ``compile_seconds`` (dbt compile,
    not part of the other figures), the DuckDB version and its threads. The DuckDB database is a
    temporary file, removed at the end, unless ``keep_database`` names where to write it (for a
    look at the rebuilt marts).
    """
    import duckdb

    project_dir = Path(project_dir).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="nexus-duckdb-"))
    try:
        compile_started = time.perf_counter()
        manifest = compile_manifest(url, project_dir, marts, scratch / "target")
        compile_seconds = time.perf_counter() - compile_started
        nodes = {**manifest["nodes"], **manifest["sources"]}
        order = [nodes[uid] for uid in upstream_in_order(manifest, marts)]
        # tables read as they are in PostgreSQL; ephemeral models are inlined by dbt in their children
        inputs = [node for node in order if node["resource_type"] in ("source", "seed", "snapshot")]
        models = [
            node
            for node in order
            if node["resource_type"] == "model" and node["config"].get("materialized") != "ephemeral"
        ]
        database_path = Path(keep_database).resolve() if keep_database else scratch / "marts.duckdb"
        for stale in (database_path, database_path.with_name(database_path.name + ".wal")):
            stale.unlink(missing_ok=True)

        with psycopg.connect(url, autocommit=True) as pg:
            timezone = pg.execute("select current_setting('TimeZone')").fetchone()[0]
            pg.execute("set TimeZone = 'UTC'")  # timestamptz values leave in UTC with their offset
            pg.execute("set DateStyle = 'ISO, YMD'")
            pg.execute("set extra_float_digits = 3")  # floats leave with every digit

            duck = open_duckdb(database_path, models[0]["database"], timezone, scratch / "spill")
            try:
                threads = int(duck.execute("select current_setting('threads')").fetchone()[0])
                raw_rows: dict[str, int] = {}
                raw_seconds: dict[str, float] = {}
                for node in inputs:
                    schema = node["schema"]
                    table = node.get("identifier") or node.get("alias") or node["name"]
                    started = time.perf_counter()
                    raw_rows[f"{schema}.{table}"] = load_table(pg, duck, schema, table, scratch)
                    raw_seconds[f"{schema}.{table}"] = round(time.perf_counter() - started, 3)

                seconds, translated, skipped = build_models(duck, manifest, models)

                by_name = {model["name"]: model for model in models}
                rows: dict[str, int | None] = {}
                pg_rows: dict[str, int] = {}
                for mart in marts:
                    schema, table = by_name[mart]["schema"], by_name[mart]["alias"] or mart
                    rows[mart] = (
                        None
                        if mart in skipped
                        else duck.execute(f"select count(*) from {quote(schema)}.{quote(table)}").fetchone()[
                            0
                        ]
                    )
                    pg_rows[mart] = pg.execute(
                        sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
                    ).fetchone()[0]
            finally:
                duck.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    return {
        "duckdb_version": duckdb.__version__,
        "threads": threads,
        "compile_seconds": round(compile_seconds, 3),
        "load_seconds": round(sum(raw_seconds.values()), 3),
        "build_seconds": round(sum(seconds.values()), 3),
        "models": seconds,
        "rows": rows,
        "pg_rows": pg_rows,
        "rows_match": all(rows[mart] == pg_rows[mart] for mart in marts),
        "raw_rows": raw_rows,
        "raw_seconds": raw_seconds,
        "translated": translated,
        "skipped": skipped,
    }


def report(result: dict[str, Any]) -> str:
    """A small plain-text table of ``duckdb_rebuild``'s result."""
    lines = [
        f"DuckDB {result['duckdb_version']}, {result['threads']} threads",
        f"load  {result['load_seconds']:8.2f} s  ({sum(result['raw_rows'].values()):,} rows of "
        f"{len(result['raw_rows'])} tables from PostgreSQL)",
        f"build {result['build_seconds']:8.2f} s  ({len(result['models'])} models)",
        "",
        f"{'model':<40} {'seconds':>8} {'DuckDB rows':>12} {'PG rows':>12}",
    ]
    for name, took in result["models"].items():
        duck_rows = result["rows"].get(name)
        pg_rows = result["pg_rows"].get(name)
        mark = "" if duck_rows == pg_rows else "  MISMATCH"
        counts = f" {duck_rows:>12,} {pg_rows:>12,}{mark}" if name in result["pg_rows"] else ""
        note = f"  ({'; '.join(result['translated'][name])})" if name in result["translated"] else ""
        lines.append(f"{name:<40} {took:>8.3f}{counts}{note}")
    for name, reason in result["skipped"].items():
        lines.append(f"{name:<40} {'skipped':>8}  {reason}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="libpq / psycopg URL of the warehouse after a full run")
    parser.add_argument(
        "--project-dir", type=Path, default=Path(__file__).resolve().parents[1] / "dbt_project"
    )
    parser.add_argument(
        "--keep-database", type=Path, help="write the DuckDB database to this file and keep it"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    result = duckdb_rebuild(args.url, args.project_dir, keep_database=args.keep_database)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["rows_match"] and not result["skipped"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
