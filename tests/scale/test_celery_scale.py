"""The whole job on dagster-celery: a Redis broker, two worker processes, the same tables.

Opt-in (`make test-scale`, which installs the ``scale`` extra; Debian's ``redis-server`` must be
installed). A generated landing folder is materialized twice, in two databases: once in process
(as `nexus run` does) and once with every step sent through Celery to two workers started with
`dagster-celery worker start`; every marts and analytics table must be equal.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

if os.environ.get("NEXUS_TEST_SCALE") != "1":
    pytest.skip("opt-in: `make test-scale` (NEXUS_TEST_SCALE=1)", allow_module_level=True)
pytest.importorskip("dagster_celery")
if not shutil.which("redis-server"):
    pytest.skip("redis-server is not installed (apt-get install redis-server)", allow_module_level=True)

from dagster import DagsterInstance, DagsterRunStatus, execute_job

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import prepare_dagster_home
from nexus_pipelines.lib.warehouse.connection import with_database

from ..integration.dbt_runner import create_database, drop_database
from ..integration.test_run_paths import tables

ROOT = Path(__file__).resolve().parents[2]
FIRST = dt.date(2026, 3, 1)
WINDOW_TAGS = {
    "dagster/asset_partition_range_start": "2026-03-01",
    "dagster/asset_partition_range_end": "2026-03-05",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_workers(broker: str, count: int, timeout: float = 120) -> None:
    """Until ``count`` workers answer a ping on the broker."""
    from celery import Celery

    app = Celery(broker=broker, backend=broker)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=2.0) or []
        if len(replies) >= count:
            return
    raise AssertionError(f"only {len(replies)} of {count} Celery workers answered within {timeout} s")


def test_celery_run_with_two_workers_leaves_the_tables_of_an_in_process_run(server_url, tmp_path):
    landing = tmp_path / "landing"
    generate(landing, start=FIRST, days=5, stores=2, skus=6, users=200)
    names = {mode: create_database(server_url, f"nexus_{mode}") for mode in ("inproc", "celery")}
    urls = {mode: with_database(server_url, name) for mode, name in names.items()}
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[subprocess.Popen] = []
    patch = pytest.MonkeyPatch()
    try:
        patch.setenv("NEXUS_LANDING_DIR", str(landing))
        patch.setenv("NEXUS_PARTITIONS_START", "2026-01-01")
        # in process, as `nexus run` runs it
        patch.setenv("NEXUS_DATABASE_URL", urls["inproc"])
        patch.setenv("NEXUS_HOME", str(tmp_path / "home-inproc"))
        from nexus_pipelines.definitions import defs

        with DagsterInstance.ephemeral() as instance:
            assert (
                defs.resolve_job_def("refresh_all")
                .execute_in_process(instance=instance, tags=WINDOW_TAGS)
                .success
            )

        # through Celery: a persistent instance (PostgreSQL) that the workers share
        patch.setenv("NEXUS_DATABASE_URL", urls["celery"])
        patch.setenv("NEXUS_HOME", str(tmp_path / "home-celery"))
        prepare_dagster_home(load_settings())
        config = tmp_path / "celery.yaml"
        config.write_text(f"execution:\n  config:\n    broker: '{broker}'\n    backend: '{broker}'\n")
        DagsterInstance.get().dispose()  # creates the storage tables before two workers race to
        bin_dir = str(Path(sys.executable).parent)  # `dagster-celery worker start` runs `celery` from PATH
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        worker = str(Path(sys.executable).with_name("dagster-celery"))
        for name in ("w1", "w2"):
            workers.append(
                subprocess.Popen(
                    [
                        worker,
                        "worker",
                        "start",
                        "-A",
                        "dagster_celery.app",
                        "-y",
                        str(config),
                        "-n",
                        name,
                        "-i",
                        "tests.scale.celery_job",
                        "--",
                        "--concurrency=1",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=open(tmp_path / f"{name}.log", "w"),  # noqa: SIM115 (open for the worker's life)
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )  # its own process group: the celery process it starts stops with it
        wait_for_workers(broker, 2)
        from .celery_job import RECONSTRUCTABLE

        run_config = {"execution": {"config": {"broker": broker, "backend": broker}}}
        with DagsterInstance.get() as instance:
            result = execute_job(RECONSTRUCTABLE, instance=instance, run_config=run_config, tags=WINDOW_TAGS)
            assert result.success, [(e.step_key, e.message) for e in result.all_events if e.is_step_failure]
            run = instance.get_run_by_id(result.run_id)
            assert run.status == DagsterRunStatus.SUCCESS
        logs = "".join((tmp_path / f"{name}.log").read_text() for name in ("w1", "w2"))
        # both workers took steps
        assert (tmp_path / "w1.log").read_text().count("succeeded") > 0, logs[-3000:]
        assert (tmp_path / "w2.log").read_text().count("succeeded") > 0, logs[-3000:]

        inproc, celery = tables(urls["inproc"]), tables(urls["celery"])
        assert len(inproc) >= 20 and inproc.keys() == celery.keys()
        assert [name for name in inproc if inproc[name] != celery[name]] == []
    finally:
        patch.undo()
        for process in workers:
            os.killpg(process.pid, signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        redis.terminate()
        for name in names.values():
            drop_database(server_url, name)
        drop_database(server_url, f"{names['celery']}_dagster")
