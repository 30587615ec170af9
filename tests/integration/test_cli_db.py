"""`nexus db` on an embedded server of its own, and what `nexus run` prints around a run
(the run itself replaced by a recorded outcome; the warehouse summary read from a real database)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from nexus_pipelines import cli
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import STORAGE_URL_ENV
from nexus_pipelines.lib.warehouse import embedded


def nexus(*args: str):
    return CliRunner().invoke(cli.main, list(args), prog_name="nexus")


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", "/nonexistent/before")
    monkeypatch.setenv(STORAGE_URL_ENV, "before")
    return monkeypatch


@pytest.fixture
def embedded_home(clean_env):
    # outside pytest's private basetemp: the server runs as its own system user under root
    home = Path(tempfile.mkdtemp(prefix="nexus-cli-"))
    clean_env.setenv("NEXUS_HOME", str(home))
    yield home
    embedded.stop(load_settings({"NEXUS_HOME": str(home)}))
    shutil.rmtree(home, ignore_errors=True)


def test_db_url_starts_the_server_and_status_start_stop_follow_it(embedded_home):
    pgdata = embedded_home / "pgdata"
    url = nexus("db", "url")
    assert url.exit_code == 0, url.output
    assert url.stdout == f"postgresql://postgres@/nexus?host={pgdata}&port=5432\n"
    with psycopg.connect(url.stdout.strip()) as conn:
        assert conn.execute("select current_database(), current_setting('timezone')").fetchone() == (
            "nexus",
            "UTC",
        )

    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    status = nexus("db", "status")
    tcp_off = "tcp off (`nexus db start --listen 127.0.0.1:5433` for BI tools)"
    assert (status.exit_code, status.stdout) == (
        0,
        f"running  pid {pid}  data {pgdata}  socket {pgdata}  {tcp_off}\n",
    )
    start = nexus("db", "start")  # already running: the same server
    assert (start.exit_code, start.stdout) == (0, f"running: {url.stdout.strip()}\n{tcp_off}\n")
    # asked to listen on TCP while running without: says how, changes nothing
    listen = nexus("db", "start", "--listen", "127.0.0.1:5433")
    assert listen.exit_code == 1
    assert "already running (tcp off" in listen.output and "`nexus db stop` it first" in listen.output
    assert int((pgdata / "postmaster.pid").read_text().splitlines()[0]) == pid
    hba = (pgdata / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules == [
        ["local", "all", "all", "trust"],
        ["host", '"nexus"', "+nexus_bi_reader,+nexus_bi_store_reader", "all", "scram-sha-256"],
        ["host", "all", "all", "all", "reject"],
    ]
    assert oct(pgdata.stat().st_mode & 0o777) == "0o700"
    assert embedded_home.stat().st_mode & 0o077 in (
        0,
        0o011,
    )  # 0700, or 0711 when the server runs as its own user
    assert int((pgdata / "postmaster.pid").read_text().splitlines()[0]) == pid

    stop = nexus("db", "stop")
    assert (stop.exit_code, stop.stdout) == (0, "stopped\n")
    stopped = nexus("db", "status")
    assert (stopped.exit_code, stopped.stdout) == (3, f"stopped  data {pgdata}\n")
    again = nexus("db", "stop")
    assert (again.exit_code, again.stdout) == (0, "was not running\n")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tcp = nexus("db", "start", "--listen", f"127.0.0.1:{port}")
    assert tcp.exit_code == 0, tcp.output
    assert tcp.stdout.splitlines()[-1] == f"tcp 127.0.0.1:{port} (scram-sha-256 passwords, BI users only)"
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="nexus")
    with psycopg.connect(f"postgresql://postgres@/nexus?host={pgdata}&port={port}") as conn:
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)


def test_a_busy_port_is_a_one_line_error_and_starts_nothing(embedded_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = nexus("db", "start", "--listen", f"127.0.0.1:{port}")
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"Error: cannot listen on 127.0.0.1:{port}: the port is in use (another PostgreSQL "
            "server?); choose another with --listen HOST:PORT or NEXUS_DB_LISTEN\n"
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert not (embedded_home / "pgdata" / "postmaster.pid").exists()
        # the same through a command that starts the server on its way (NEXUS_DB_LISTEN)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("NEXUS_DB_LISTEN", f"127.0.0.1:{port}")
            url = nexus("db", "url")
        assert url.exit_code == 1 and url.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}")


@pytest.fixture
def run_env(clean_env, fresh_db, tmp_path):
    clean_env.setenv("NEXUS_HOME", str(tmp_path / "home"))
    clean_env.setenv("NEXUS_LANDING_DIR", str(tmp_path / "landing"))
    clean_env.setenv("NEXUS_DATABASE_URL", fresh_db)
    clean_env.setenv("NEXUS_DAGSTER_DATABASE_URL", fresh_db)  # not opened: the runner is replaced
    with psycopg.connect(fresh_db) as conn:
        conn.execute("create schema raw; create table raw.amazon_orders (purchase_date date)")
        conn.execute("insert into raw.amazon_orders values ('2026-03-01'), ('2026-03-03')")
        conn.execute("create schema marts; create view marts.v as select 1 as x")
    return fresh_db


def fake_runner(monkeypatch, outcome):
    from nexus_pipelines.defs import runner

    calls = []

    def run_window(start, end, *, force, settings, on_line, on_tick=None):
        calls.append((start, end, force))
        if on_line is not None:
            on_line("start raw_amazon_orders")
        return outcome

    monkeypatch.setattr(runner, "run_window", run_window)
    monkeypatch.setattr(runner, "resolve_window", lambda *_a, **_k: None)  # whatever the landing folder
    return calls


def test_run_prints_the_summary_and_what_was_skipped(run_env, clean_env, tmp_path):
    from nexus_pipelines.defs.runner import RunOutcome

    outcome = RunOutcome(
        True,
        "run-123",
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 3),
        [],
        swept_runs=["run-dead"],
        failed_checks=["marts/fct_orders:not_null_order_id (WARN)"],
        skipped_steps=["dbt_product", "clv"],
    )
    calls = fake_runner(clean_env, outcome)
    for stray in ("events/2026-03-01.json", "amazon/S1/order/2026-03-01.txt"):
        (tmp_path / "landing" / stray).parent.mkdir(parents=True)
        (tmp_path / "landing" / stray).write_text("{}", encoding="utf-8")
    result = nexus("run", "--from", "2026-03-01", "--to", "2026-03-03")
    assert result.exit_code == 0, result.output
    assert calls == [(dt.date(2026, 3, 1), dt.date(2026, 3, 3), False)]
    out = result.stdout.splitlines()
    where = run_env.split("@")[-1]
    assert out[0] == f"materializing every asset (landing folder {tmp_path / 'landing'}) ..."
    logs = tmp_path / "home" / "logs"
    assert out[1].startswith("partitions 2026-03-01 .. 2026-03-03, run run-123, ")
    assert out[1].endswith(" s")
    assert out[2].startswith(f"dbt and Dagster output: {logs}/run-")
    assert out[2].endswith(".log (`nexus run --verbose` shows it here)")
    # no mart to summarise in this warehouse (the business summary is tested on its own)
    assert out[3:6] == ["", "no marts yet: nothing to summarise", ""]
    assert out[6:] == [
        f"warehouse: NEXUS_DATABASE_URL ({where})",
        "tables and row counts: `nexus status --tables`; freshness and runs: `nexus status`",
        "open the UI: `make dev` (or `nexus dev`), then http://localhost:3000",
        "skipped (nothing upstream changed): dbt_product, clv",
        "data quality: no Great Expectations suite ran",
    ]
    assert result.stderr.splitlines() == [
        "start raw_amazon_orders",
        "marked failed: run run-dead (its process ended without finishing it)",
        "not loaded: amazon/S1/order/2026-03-01.txt: matches no source: unknown folder 'amazon/S1/order/'"
        " (known here: inventory, orders, returns, sales_traffic)",
        "not loaded: events/2026-03-01.json: matches no source: name or extension '.json' in events/"
        " (expected events/*.jsonl*)",
        "checks that did not pass: marts/fct_orders:not_null_order_id (WARN)",
    ]
    # the table counts the summary used to list are behind `nexus status --tables`
    tables = nexus("status", "--tables")
    assert tables.exit_code == 0, tables.output
    assert tables.stdout.splitlines() == [
        "raw",
        "  amazon_orders                              table            2 rows  2026-03-01 .. 2026-03-03",
        "",
        "marts",
        "  v                                          view      (not counted)  ",
    ]


def test_a_failed_run_exits_1_and_lists_each_failed_step_with_its_error(run_env, clean_env):
    from nexus_pipelines.defs.runner import RunOutcome

    outcome = RunOutcome(
        False,
        "run-9",
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 1),
        ["raw_amazon_orders", "dbt_amazon"],
        {"raw_amazon_orders": "DeadlockDetected: deadlock detected", "dbt_amazon": "dbt exited 2"},
    )
    fake_runner(clean_env, outcome)
    result = nexus("run", "--force")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "start raw_amazon_orders",
        "FAILED steps: raw_amazon_orders, dbt_amazon",
        "  raw_amazon_orders: DeadlockDetected: deadlock detected",
        "  dbt_amazon: dbt exited 2",
    ]
    assert "partitions 2026-03-01 .. 2026-03-01, run run-9, " in result.stdout


def test_a_failed_run_without_step_failures_says_where_to_look(run_env, clean_env):
    from nexus_pipelines.defs.runner import RunOutcome

    fake_runner(clean_env, RunOutcome(False, "run-10", dt.date(2026, 3, 1), dt.date(2026, 3, 1), []))
    result = nexus("run")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "FAILED steps: (see the run in the UI)"
