"""`nexus run` as separate processes on one warehouse and one Dagster instance (in PostgreSQL).

1. A run is killed with SIGKILL while it loads; the next run marks it failed (Dagster status
   and ops.run_failures).
2. Two runs of the same window start at once, right after the kill (so both find files to
   load): both exit 0, every landed line is in raw exactly once, every file has one successful
   load, and the marts equal a full rebuild of the same folder in a new database.
3. Two runs of the same window at once with nothing changed: both exit 0.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, query
from .partial_runs import differences, full_rebuild, mart_tables

NEXUS = str(Path(sys.executable).with_name("nexus"))
START = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def cli(server_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("concurrent")
    name = create_database(server_url, "nexus_conc")
    url = with_database(server_url, name)
    landing = tmp / "landing"
    generate(landing, seed=11, start=START, days=4, stores=2, skus=4, users=60)
    env = {
        **os.environ,
        "NEXUS_DATABASE_URL": url,
        "NEXUS_HOME": str(tmp / "home"),
        "NEXUS_LANDING_DIR": str(landing),
    }
    env.pop("DAGSTER_HOME", None)
    yield {
        "url": url,
        "env": env,
        "landing": landing,
        "tmp": tmp,
        "server_url": server_url,
        "dagster_url": with_database(server_url, f"{name}_dagster"),
    }
    drop_database(server_url, name)
    drop_database(server_url, f"{name}_dagster")


def start_run(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [NEXUS, "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen, timeout: int = 600) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def wait_for(predicate, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def manifest_rows(url: str) -> int:
    try:
        return query(url, "select count(*) from ops.load_manifest")[0][0]
    except psycopg.Error:
        return 0


def test_a_killed_run_is_marked_failed_and_concurrent_runs_load_every_row_once(cli):
    url, env = cli["url"], cli["env"]
    window = ("--from", str(START), "--to", str(START + dt.timedelta(days=3)))
    victim = start_run(env, *window)
    wait_for(lambda: manifest_rows(url) > 0)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    killed = query(cli["dagster_url"], "select run_id, status from runs")
    assert [status for _run, status in killed] == ["STARTED"]
    killed_id = killed[0][0]

    first, second = start_run(env, *window), start_run(env, *window)
    (rc1, out1), (rc2, out2) = finish(first), finish(second)
    assert (rc1, rc2) == (0, 0), out1[-3000:] + out2[-3000:]
    assert f"marked failed: run {killed_id}" in out1 + out2
    # the refreshes (each successful one is followed by its export run)
    statuses = dict(
        query(cli["dagster_url"], "select run_id, status from runs where pipeline_name = 'refresh_all'")
    )
    exports = query(cli["dagster_url"], "select status from runs where pipeline_name = 'export_files'")
    # one or two: the later refresh may find nothing changed and the day already exported
    assert exports in ([("SUCCESS",)], [("SUCCESS",), ("SUCCESS",)]), exports
    assert statuses[killed_id] == "FAILURE"
    assert sorted(s for r, s in statuses.items() if r != killed_id) == ["SUCCESS", "SUCCESS"]
    failures = query(url, "select run_id, message from ops.run_failures")
    assert [r for r, _m in failures] == [killed_id] and "killed or crashed" in failures[0][1]

    # one copy of every landed line, one successful load per file
    for name in SOURCES:
        total, distinct = query(
            url, f"select count(*), count(distinct (_source_file, _row_number)) from raw.{name}"
        )[0]
        assert total == distinct, name
        assert total > 0 or name in ("amazon_returns", "marketing_spend"), name
    loads = query(
        url,
        """select source, file_path, count(*) from ops.load_manifest where status = 'loaded'
                          group by 1, 2 having count(*) <> 1""",
    )
    assert loads == []
    files = sum(
        1
        for p in cli["landing"].rglob("*")
        if p.is_file() and p.name not in ("truth.json", ".generated.json")
    )
    # sales and traffic files feed two raw tables
    traffic = sum(1 for _ in cli["landing"].glob("amazon/*/sales_traffic/*.json"))
    assert (
        query(url, "select count(distinct (source, file_path)) from ops.load_manifest")[0][0]
        == files + traffic
    )

    name = create_database(cli["server_url"], "nexus_cfull")
    full = with_database(cli["server_url"], name)
    try:
        full_rebuild(full, cli["landing"], cli["tmp"] / "full-target")
        assert differences(mart_tables(url), mart_tables(full)) == []
    finally:
        drop_database(cli["server_url"], name)


def test_two_runs_with_nothing_changed_both_succeed(cli):
    if not query(cli["url"], "select to_regclass('marts.fct_daily_sales')")[0][0]:
        pytest.skip("needs the previous test's runs")
    window = ("--from", str(START), "--to", str(START + dt.timedelta(days=3)))
    first, second = start_run(cli["env"], *window), start_run(cli["env"], *window)
    (rc1, out1), (rc2, out2) = finish(first), finish(second)
    assert (rc1, rc2) == (0, 0), out1[-3000:] + out2[-3000:]
    assert "already exists" not in out1 + out2
