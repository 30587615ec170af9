"""DAGSTER_HOME for NEXUS: a dagster.yaml that stores runs, schedules and event logs in PostgreSQL.

The storage URL is not written into the file: dagster.yaml reads it from the environment variable
NEXUS_DAGSTER_STORAGE_URL, which ``prepare_dagster_home`` sets from the configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .config import Settings
from .warehouse.connection import dagster_storage_url

STORAGE_URL_ENV = "NEXUS_DAGSTER_STORAGE_URL"


def dagster_yaml() -> dict:
    return {
        "storage": {"postgres": {"postgres_url": {"env": STORAGE_URL_ENV}}},
        "telemetry": {"enabled": False},
        # one run at a time: the schedule, the sensor and the UI queue behind each other (their
        # windows overlap); `nexus run` runs in-process and waits on the warehouse locks instead
        "run_queue": {"max_concurrent_runs": 1},
        # a run whose worker process died is marked failed instead of staying STARTED
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 300, "poll_interval_seconds": 60},
        "nux": {"enabled": False},
    }


def prepare_dagster_home(settings: Settings) -> Path:
    """Write $NEXUS_HOME/dagster/dagster.yaml and export DAGSTER_HOME and the storage URL."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(dagster_yaml(), sort_keys=False)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ[STORAGE_URL_ENV] = sqlalchemy_psycopg2_url(dagster_storage_url(settings))
    return home


def sqlalchemy_psycopg2_url(url: str) -> str:
    """dagster-postgres needs the psycopg2 driver (its NOTIFY with a bound parameter fails on psycopg 3,
    which SQLAlchemy picks by default for postgresql:// URLs)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url
