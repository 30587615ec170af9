"""prepare_dagster_home against a real server: Dagster's database is created beside the
warehouse and the instance dagster.yaml describes stores its runs there (psycopg2 driver)."""

from __future__ import annotations

import os

from dagster import DagsterInstance

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import STORAGE_URL_ENV, prepare_dagster_home

from .dbt_runner import drop_database, query


def test_the_instance_stores_its_runs_in_the_dagster_database(fresh_db, server_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "/nonexistent/before")
    monkeypatch.setenv(STORAGE_URL_ENV, "before")
    warehouse = query(fresh_db, "select current_database()")[0][0]
    dagster_db = f"{warehouse}_dagster"
    settings = load_settings({"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DATABASE_URL": fresh_db})
    try:
        home = prepare_dagster_home(settings)
        # the same server and URL, another database, and the psycopg2 driver
        assert fresh_db.startswith("postgresql://") and f"/{warehouse}" in fresh_db
        expected = "postgresql+psycopg2://" + fresh_db[len("postgresql://") :].replace(
            f"/{warehouse}", f"/{dagster_db}", 1
        )
        assert os.environ[STORAGE_URL_ENV] == expected
        assert os.environ["DAGSTER_HOME"] == str(home)
        assert query(server_url, "select count(*) from pg_database where datname = %s", (dagster_db,)) == [
            (1,)
        ]

        instance = DagsterInstance.from_config(str(home))
        try:
            assert instance.get_runs() == []
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.run_storage.postgres_url == expected
        finally:
            instance.dispose()
        tables = {
            row[0] for row in query(expected.replace("+psycopg2", ""), "select tablename from pg_tables")
        }
        assert {"runs", "event_logs", "jobs"} <= tables
        # a second preparation finds the database and changes nothing
        prepare_dagster_home(settings)
        assert os.environ[STORAGE_URL_ENV] == expected
    finally:
        drop_database(server_url, dagster_db)
