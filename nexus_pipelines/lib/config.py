"""The one place that reads NEXUS_* environment variables.

Everything else receives a ``Settings`` object (or calls ``load_settings()``), so the whole
configuration surface of the product is visible here:

===========================  ==================================================================
NEXUS_HOME                   working folder: embedded database, Dagster home, default landing
                             folder, exports (default ``.nexus`` in the working directory)
NEXUS_DATABASE_URL           a PostgreSQL URL to use instead of the embedded server
NEXUS_DAGSTER_DATABASE_URL   where Dagster keeps runs/schedules/event logs (default: database
                             ``dagster`` on the same server)
NEXUS_LANDING_DIR            where seller reports and event files are dropped
                             (default ``$NEXUS_HOME/landing``)
NEXUS_PARTITIONS_START       first daily partition, YYYY-MM-DD (default 2026-01-01)
NEXUS_LOOKBACK_DAYS          days the nightly refresh re-processes before the latest (default 3)
NEXUS_DBT_PROJECT_DIR        the dbt project (default: ``dbt_project`` beside the package)
NEXUS_DB_NAME                database name on the embedded server (default ``nexus``)
NEXUS_ANALYTICS_SCHEMA       schema of the tables the Python analytics assets write
                             (default ``analytics``)
===========================  ==================================================================
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None  # None: use the embedded server
    dagster_database_url: str | None
    landing_dir: Path
    partitions_start: dt.date
    lookback_days: int
    dbt_project_dir: Path
    db_name: str
    analytics_schema: str = "analytics"

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def _env(name: str, environ: dict[str, str]) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(_env("NEXUS_HOME", env) or ".nexus").expanduser().resolve()
    landing = _env("NEXUS_LANDING_DIR", env)
    start_text = _env("NEXUS_PARTITIONS_START", env) or "2026-01-01"
    try:
        partitions_start = dt.date.fromisoformat(start_text)
    except ValueError as exc:
        raise ValueError(f"NEXUS_PARTITIONS_START must be YYYY-MM-DD, got {start_text!r}") from exc
    lookback_text = _env("NEXUS_LOOKBACK_DAYS", env) or "3"
    if not lookback_text.isdigit():
        raise ValueError(f"NEXUS_LOOKBACK_DAYS must be a whole number of days, got {lookback_text!r}")
    dbt_dir = _env("NEXUS_DBT_PROJECT_DIR", env)
    return Settings(
        home=home,
        database_url=_env("NEXUS_DATABASE_URL", env),
        dagster_database_url=_env("NEXUS_DAGSTER_DATABASE_URL", env),
        landing_dir=Path(landing).expanduser().resolve() if landing else home / "landing",
        partitions_start=partitions_start,
        lookback_days=int(lookback_text),
        dbt_project_dir=Path(dbt_dir).resolve() if dbt_dir else PROJECT_ROOT / "dbt_project",
        db_name=_env("NEXUS_DB_NAME", env) or "nexus",
        analytics_schema=_env("NEXUS_ANALYTICS_SCHEMA", env) or "analytics",
    )
