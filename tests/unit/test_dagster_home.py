"""DAGSTER_HOME for NEXUS (lib/dagster_home.py): the dagster.yaml written, the environment set,
and the psycopg2 form of the storage URL."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.exc import ArgumentError

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import (
    STORAGE_URL_ENV,
    dagster_yaml,
    prepare_dagster_home,
    sqlalchemy_psycopg2_url,
)

EXPECTED_YAML = """\
storage:
  postgres:
    postgres_url:
      env: NEXUS_DAGSTER_STORAGE_URL
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 300
  poll_interval_seconds: 60
nux:
  enabled: false
"""


@pytest.fixture
def clean_env(monkeypatch):
    """prepare_dagster_home writes os.environ: let monkeypatch restore both variables afterwards."""
    monkeypatch.setenv("DAGSTER_HOME", "/nonexistent/before")
    monkeypatch.setenv(STORAGE_URL_ENV, "before")
    return monkeypatch


def settings_for(tmp_path, **extra):
    return load_settings(
        {
            "NEXUS_HOME": str(tmp_path / "home"),
            "NEXUS_DATABASE_URL": "postgresql://nexus:pw@db.internal:5433/warehouse",
            "NEXUS_DAGSTER_DATABASE_URL": "postgresql://dagster:pw@db.internal:5433/dagster_runs",
            **extra,
        }
    )


def test_the_yaml_keeps_the_url_out_of_the_file():
    assert dagster_yaml() == {
        "storage": {"postgres": {"postgres_url": {"env": "NEXUS_DAGSTER_STORAGE_URL"}}},
        "telemetry": {"enabled": False},
        "run_queue": {"max_concurrent_runs": 1},
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 300, "poll_interval_seconds": 60},
        "nux": {"enabled": False},
    }
    assert STORAGE_URL_ENV == "NEXUS_DAGSTER_STORAGE_URL"


def test_prepare_writes_the_file_and_exports_the_environment(tmp_path, clean_env):
    settings = settings_for(tmp_path)
    home = prepare_dagster_home(settings)

    assert home == tmp_path / "home" / "dagster"
    assert (home / "dagster.yaml").read_text() == EXPECTED_YAML
    assert os.environ["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster")
    assert os.environ[STORAGE_URL_ENV] == "postgresql+psycopg2://dagster:pw@db.internal:5433/dagster_runs"
    assert "dagster:pw" not in (home / "dagster.yaml").read_text()


def test_an_unchanged_file_is_not_rewritten_and_a_changed_one_is_restored(tmp_path, clean_env):
    settings = settings_for(tmp_path)
    target = prepare_dagster_home(settings) / "dagster.yaml"
    os.utime(target, (1_000_000_000, 1_000_000_000))
    prepare_dagster_home(settings)
    assert target.stat().st_mtime == 1_000_000_000  # same text: left alone (a running UI watches it)

    target.write_text("storage: {}\n")
    prepare_dagster_home(settings)
    assert target.read_text() == EXPECTED_YAML


def test_dagster_reads_the_written_file(tmp_path, clean_env):
    from dagster._core.instance.config import dagster_instance_config

    home = prepare_dagster_home(settings_for(tmp_path))
    config, _ = dagster_instance_config(str(home))
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "NEXUS_DAGSTER_STORAGE_URL"}}}
    assert config["run_queue"]["max_concurrent_runs"] == 1
    assert config["run_monitoring"]["enabled"] is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # the embedded server: unix socket in the query string, no host in the authority
        (
            "postgresql://postgres@/nexus_dagster?host=/tmp/nexus-x/pgdata&port=5432",
            "postgresql+psycopg2://postgres@/nexus_dagster?host=/tmp/nexus-x/pgdata&port=5432",
        ),
        # TCP with credentials, port and options
        (
            "postgresql://alice:s3cr%40t@db.example.com:5433/runs?sslmode=require",
            "postgresql+psycopg2://alice:s3cr%40t@db.example.com:5433/runs?sslmode=require",
        ),
        # the short scheme libpq also accepts
        ("postgres://bob@10.0.0.7/dagster", "postgresql+psycopg2://bob@10.0.0.7/dagster"),
        # already explicit: unchanged
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
        # not a PostgreSQL URL: unchanged
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        # only a leading scheme is replaced
        ("mysql://h/postgresql://x", "mysql://h/postgresql://x"),
    ],
)
def test_sqlalchemy_psycopg2_url(url, expected):
    assert sqlalchemy_psycopg2_url(url) == expected


@pytest.mark.xfail(
    strict=True,
    raises=ArgumentError,
    reason="a libpq key=value NEXUS_DATABASE_URL (accepted by psycopg, by dbt_env and by with_database) "
    "gives Dagster a key=value storage string that SQLAlchemy cannot parse",
)
def test_a_key_value_database_url_still_gives_dagster_a_url(tmp_path, clean_env):
    from sqlalchemy.engine import make_url

    from nexus_pipelines.lib.warehouse import connection

    settings = load_settings(
        {
            "NEXUS_HOME": str(tmp_path / "home"),
            "NEXUS_DATABASE_URL": "host=/tmp/sock port=5432 user=postgres dbname=nexus",
            "NEXUS_DAGSTER_DATABASE_URL": "",
        }
    )
    clean_env.setattr(connection, "_ensure_database", lambda admin_url, name: None)
    prepare_dagster_home(settings)
    make_url(os.environ[STORAGE_URL_ENV])
