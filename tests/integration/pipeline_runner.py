"""Test helper: generate a small landing folder and materialize every asset in one real Dagster run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance

from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database


@contextmanager
def pipeline_run(
    server_url: str, tmp: Path, *, export_formats: str | None = None, **generate_options
) -> Iterator[dict]:
    """Yield {url, landing, truth, outcome, instance, run_window, home} for a run in a new database
    (dropped after); ``export_formats`` replaces the suite's NEXUS_EXPORT_FORMATS for this run."""
    landing = tmp / "landing"
    truth = generate(landing, **generate_options)
    name = create_database(server_url, "nexus_run")
    url = with_database(server_url, name)
    patch = pytest.MonkeyPatch()
    patch.setenv("NEXUS_DATABASE_URL", url)
    patch.setenv("NEXUS_LANDING_DIR", str(landing))
    patch.setenv("NEXUS_HOME", str(tmp / "home"))
    if export_formats:
        patch.setenv("NEXUS_EXPORT_FORMATS", export_formats)
    from nexus_pipelines.defs.runner import run_window

    try:
        with DagsterInstance.ephemeral() as instance:
            outcome = run_window(instance=instance, settings=load_settings())
            yield {
                "url": url,
                "landing": landing,
                "truth": truth,
                "outcome": outcome,
                "instance": instance,
                "run_window": run_window,
                "home": tmp / "home",
            }
    finally:
        patch.undo()
        drop_database(server_url, name)


def rows(url: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()
