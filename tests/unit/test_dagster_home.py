"""DAGSTER_HOME for NEXUS (lib/dagster_home.py): the dagster.yaml written, the environment set,
and the psycopg2 form of the storage URL."""

from __future__ import annotations

import os

import pytest

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import (
    STORAGE_URL_ENV,
    conninfo_url,
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


def test_a_key_value_database_url_still_gives_dagster_a_url(tmp_path, clean_env):
    from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
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
    url = os.environ[STORAGE_URL_ENV]
    assert url == "postgresql+psycopg2://postgres@/nexus_dagster?host=/tmp/sock&port=5432"
    _args, kwargs = PGDialect_psycopg2().create_connect_args(make_url(url))
    assert kwargs == {"host": "/tmp/sock", "port": "5432", "user": "postgres", "dbname": "nexus_dagster"}


def test_a_key_value_dagster_database_url_is_a_url_too(tmp_path, clean_env):
    settings = settings_for(
        tmp_path, NEXUS_DAGSTER_DATABASE_URL="host=db.internal port=5433 user=dagster password=pw dbname=runs"
    )
    prepare_dagster_home(settings)
    assert os.environ[STORAGE_URL_ENV] == "postgresql+psycopg2://dagster:pw@db.internal:5433/runs"


@pytest.mark.parametrize(
    ("conninfo", "expected", "connect_args"),
    [
        # TCP: credentials and the database percent-encoded, other parameters in the query
        (
            "host=db.example.com port=5433 user='a@b c' password='p:w/@%?' dbname='my db' "
            "sslmode=require options='-c search_path=x'",
            "postgresql://a%40b%20c:p%3Aw%2F%40%25%3F@db.example.com:5433/my%20db"
            "?options=-c%20search_path%3Dx&sslmode=require",
            {
                "host": "db.example.com",
                "port": 5433,
                "user": "a@b c",
                "password": "p:w/@%?",
                "dbname": "my db",
                "sslmode": "require",
                "options": "-c search_path=x",
            },
        ),
        (
            "host=10.0.0.7 user=u dbname=d",
            "postgresql://u@10.0.0.7/d",
            {"host": "10.0.0.7", "user": "u", "dbname": "d"},
        ),
        (
            "host=::1 port=5432 dbname=d",
            "postgresql://[::1]:5432/d",
            {"host": "::1", "port": 5432, "dbname": "d"},
        ),
        ("host=my_db dbname=d", "postgresql://my_db/d", {"host": "my_db", "dbname": "d"}),
        # a unix socket directory (and its port) in the query, as in the embedded server's URL
        (
            "host=/run/postgresql port=6000 user=postgres dbname=d",
            "postgresql://postgres@/d?host=/run/postgresql&port=6000",
            {"host": "/run/postgresql", "port": "6000", "user": "postgres", "dbname": "d"},
        ),
        # several hosts: libpq's comma lists, passed through as they are
        (
            "host=h1,h2 port=5432,5433 dbname=d",
            "postgresql:///d?host=h1%2Ch2&port=5432%2C5433",
            {"host": "h1,h2", "port": "5432,5433", "dbname": "d"},
        ),
        # no host: libpq's default socket
        ("dbname=d port=6000", "postgresql:///d?port=6000", {"dbname": "d", "port": "6000"}),
        ("user=u password='' dbname=d", "postgresql://u@/d", {"user": "u", "dbname": "d"}),
    ],
)
def test_conninfo_url(conninfo, expected, connect_args):
    from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
    from sqlalchemy.engine import make_url

    assert conninfo_url(conninfo) == expected
    _args, kwargs = PGDialect_psycopg2().create_connect_args(make_url(sqlalchemy_psycopg2_url(conninfo)))
    assert kwargs == connect_args


@pytest.mark.parametrize(
    "url", ["postgresql://u@h/d", "postgresql+psycopg2://u@h/d", "sqlite:///tmp/x.db", "", "  "]
)
def test_conninfo_url_leaves_a_url_alone(url):
    assert conninfo_url(url) == url
