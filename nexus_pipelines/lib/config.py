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
NEXUS_PARTITIONS_START       first daily partition, YYYY-MM-DD (default: the date of the
                             earliest landing file, or ``DEMO_FIRST_DAY`` when there is none)
NEXUS_LOOKBACK_DAYS          days the nightly refresh re-processes before the latest (default 3)
NEXUS_DBT_PROJECT_DIR        the dbt project (default: ``dbt_project`` beside the package)
NEXUS_DB_NAME                database name on the embedded server (default ``nexus``)
NEXUS_DB_LISTEN              ``HOST:PORT`` (or ``PORT``, on 127.0.0.1) on which the embedded
                             server also listens on TCP, for BI tools (default: unix socket
                             only); every TCP connection needs a BI user's password
NEXUS_BI_PASSWORD            the password `nexus bi add-user` / `rotate-password` set instead
                             of generating one
NEXUS_EXPORTS_DIR            where export files go (default ``$NEXUS_HOME/exports``)
NEXUS_EXPORT_RETENTION_DAYS  days an export folder is kept after it was written (default 90;
                             0 keeps every export)
NEXUS_EXPORT_FORMATS         the daily run's export formats, and `nexus export`'s without --format
                             (default ``csv,json,xlsx,pdf``)
NEXUS_API_RATE_LIMIT         requests a minute per API key of `nexus api` (default 600; 0: no
                             limit; read in ``nexus_pipelines/api/ratelimit.py``)
NEXUS_ANALYTICS_SCHEMA       schema of the tables the Python analytics assets write
                             (default ``analytics``)
NEXUS_FRESHNESS_WARN_HOURS   hours after a source's last load (or a key mart's last build) at
                             which its freshness warns (whole hours, default 36)
NEXUS_FRESHNESS_ERROR_HOURS  hours after which its freshness is an error (default 60; not less
                             than the warn hours)
NEXUS_FRESHNESS_HOURS_<SRC>  ``warn,error`` hours for one raw source, e.g.
                             ``NEXUS_FRESHNESS_HOURS_EVENTS=6,12`` (``<SRC>``: the raw table's
                             name in capitals); the only way to give ``stores`` (reference data,
                             reloaded only when edited) a freshness expectation
===========================  ==================================================================

The dbt project reads the ``NEXUS_FRESHNESS_*`` variables too (the source freshness in
``dbt_project/models/staging/_sources.yml``), so `dbt source freshness` and the Dagster checks
agree; the values are validated here.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The first day the demo generator writes by default (`nexus generate`, `nexus demo`), and the first
# partition while the landing folder holds no dated file yet.
DEMO_FIRST_DAY = dt.date(2026, 3, 1)
DEFAULT_FRESHNESS_WARN_HOURS = 36
DEFAULT_FRESHNESS_ERROR_HOURS = 60
FRESHNESS_OVERRIDE_PREFIX = "NEXUS_FRESHNESS_HOURS_"


EXPORT_FORMATS = ("csv", "json", "xlsx", "pdf")


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None  # None: use the embedded server
    dagster_database_url: str | None
    landing_dir: Path
    partitions_start_override: dt.date | None  # NEXUS_PARTITIONS_START; None: see partitions_start
    lookback_days: int
    dbt_project_dir: Path
    db_name: str
    analytics_schema: str = "analytics"
    freshness_warn_hours: int = DEFAULT_FRESHNESS_WARN_HOURS
    freshness_error_hours: int = DEFAULT_FRESHNESS_ERROR_HOURS
    # (source, warn hours, error hours) from NEXUS_FRESHNESS_HOURS_<SOURCE>, sorted by source
    freshness_overrides: tuple[tuple[str, int, int], ...] = ()
    # (host, port) of the embedded server's TCP listener (NEXUS_DB_LISTEN); None: unix socket only
    db_listen: tuple[str, int] | None = None
    # NEXUS_BI_PASSWORD: the password `nexus bi` sets instead of generating one (never shown)
    bi_password: str | None = field(default=None, repr=False)
    exports_dir_override: Path | None = None  # NEXUS_EXPORTS_DIR; None: $NEXUS_HOME/exports
    export_retention_days: int = 90
    export_formats: tuple[str, ...] = EXPORT_FORMATS

    @property
    def partitions_start(self) -> dt.date:
        """The first daily partition: NEXUS_PARTITIONS_START, else the earliest landing file's date
        (found once per landing folder and process, see ``landing.first_partition_date``), else
        ``DEMO_FIRST_DAY`` while the landing folder holds no dated file."""
        if self.partitions_start_override is not None:
            return self.partitions_start_override
        from .landing import first_partition_date  # the parsers' registry: only when asked

        return first_partition_date(self.landing_dir) or DEMO_FIRST_DAY

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def exports_dir(self) -> Path:
        return self.exports_dir_override or self.home / "exports"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def freshness_override(self, source: str) -> tuple[int, int] | None:
        """(warn, error) hours set for ``source`` by NEXUS_FRESHNESS_HOURS_<SOURCE>, if any."""
        return next(((warn, error) for name, warn, error in self.freshness_overrides if name == source), None)


def _env(name: str, environ: dict[str, str]) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _hours(name: str, text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or int(value) == 0:
        raise ValueError(f"{name} must be a whole number of hours greater than 0, got {text!r}")
    return int(value)


def _ordered(warn: int, error: int, warn_label: str, error_label: str) -> None:
    """Warn hours after error hours would never warn: a configuration mistake, named."""
    if warn > error:
        raise ValueError(f"{warn_label} must not be greater than {error_label}")


def _freshness_overrides(env: dict[str, str]) -> tuple[tuple[str, int, int], ...]:
    """NEXUS_FRESHNESS_HOURS_<SOURCE>=warn,error for raw sources, validated."""
    names = sorted(n for n in env if n.startswith(FRESHNESS_OVERRIDE_PREFIX) and _env(n, env))
    if not names:
        return ()
    from .formats import SOURCES  # only when an override is set: the parsers are not needed otherwise

    known = {source.upper(): source for source in SOURCES}
    overrides = []
    for name in names:
        text = env[name]
        source = known.get(name[len(FRESHNESS_OVERRIDE_PREFIX) :])
        if source is None:
            choices = ", ".join(FRESHNESS_OVERRIDE_PREFIX + key for key in sorted(known))
            raise ValueError(f"{name} names no raw source; the variables are {choices}")
        parts = text.split(",")
        if len(parts) != 2:
            raise ValueError(f"{name} must be 'warn,error' hours, e.g. {name}=36,60, got {text!r}")
        warn, error = _hours(name, parts[0]), _hours(name, parts[1])
        _ordered(warn, error, f"the warn hours of {name} ({warn} h)", f"its error hours ({error} h)")
        overrides.append((source, warn, error))
    return tuple(sorted(overrides))


def parse_listen(text: str, label: str = "NEXUS_DB_LISTEN") -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``PORT`` (on 127.0.0.1) as (host, port)."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", value
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() or c in "'\\\"," for c in host):
        raise ValueError(f"{label} must be HOST:PORT, e.g. 127.0.0.1:5433, got {text!r}")
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{label} needs a port from 1 to 65535, e.g. 127.0.0.1:5433, got {text!r}")
    return host, int(port_text)


# The working directory the process started in. dbt changes the working directory of the process
# it runs in to the project's (dbt.task.base.move_to_nearest_project_dir), so a relative path such
# as the default ``.nexus`` is resolved against where the command was started, not against
# wherever dbt left the process.
LAUNCH_DIR = Path.cwd()


def _absolute(text: str) -> Path:
    return (LAUNCH_DIR / Path(text).expanduser()).resolve()


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = _absolute(_env("NEXUS_HOME", env) or ".nexus")
    landing = _env("NEXUS_LANDING_DIR", env)
    start_text = _env("NEXUS_PARTITIONS_START", env)
    try:
        partitions_start = dt.date.fromisoformat(start_text) if start_text else None
    except ValueError as exc:
        raise ValueError(f"NEXUS_PARTITIONS_START must be YYYY-MM-DD, got {start_text!r}") from exc
    lookback_text = _env("NEXUS_LOOKBACK_DAYS", env) or "3"
    if not lookback_text.isdigit():
        raise ValueError(f"NEXUS_LOOKBACK_DAYS must be a whole number of days, got {lookback_text!r}")
    dbt_dir = _env("NEXUS_DBT_PROJECT_DIR", env)
    warn_text = _env("NEXUS_FRESHNESS_WARN_HOURS", env)
    error_text = _env("NEXUS_FRESHNESS_ERROR_HOURS", env)
    warn_hours = (
        _hours("NEXUS_FRESHNESS_WARN_HOURS", warn_text) if warn_text else DEFAULT_FRESHNESS_WARN_HOURS
    )
    error_hours = (
        _hours("NEXUS_FRESHNESS_ERROR_HOURS", error_text) if error_text else DEFAULT_FRESHNESS_ERROR_HOURS
    )
    _ordered(
        warn_hours,
        error_hours,
        f"NEXUS_FRESHNESS_WARN_HOURS ({warn_hours} h{'' if warn_text else ', the default'})",
        f"NEXUS_FRESHNESS_ERROR_HOURS ({error_hours} h{'' if error_text else ', the default'})",
    )
    return Settings(
        home=home,
        database_url=_env("NEXUS_DATABASE_URL", env),
        dagster_database_url=_env("NEXUS_DAGSTER_DATABASE_URL", env),
        landing_dir=_absolute(landing) if landing else home / "landing",
        partitions_start_override=partitions_start,
        lookback_days=int(lookback_text),
        dbt_project_dir=_absolute(dbt_dir) if dbt_dir else PROJECT_ROOT / "dbt_project",
        db_name=_env("NEXUS_DB_NAME", env) or "nexus",
        analytics_schema=_env("NEXUS_ANALYTICS_SCHEMA", env) or "analytics",
        freshness_warn_hours=warn_hours,
        freshness_error_hours=error_hours,
        freshness_overrides=_freshness_overrides(env),
        db_listen=parse_listen(listen) if (listen := _env("NEXUS_DB_LISTEN", env)) else None,
        bi_password=env.get("NEXUS_BI_PASSWORD") or None,
        exports_dir_override=_absolute(exports) if (exports := _env("NEXUS_EXPORTS_DIR", env)) else None,
        export_retention_days=_whole(
            "NEXUS_EXPORT_RETENTION_DAYS", _env("NEXUS_EXPORT_RETENTION_DAYS", env) or "90"
        ),
        export_formats=parse_formats(
            _env("NEXUS_EXPORT_FORMATS", env) or ",".join(EXPORT_FORMATS), "NEXUS_EXPORT_FORMATS"
        ),
    )


def _whole(name: str, text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{name} must be a whole number of days, got {text!r}")
    return int(text)


def parse_formats(text: str, label: str = "--format") -> tuple[str, ...]:
    """``csv,json,xlsx,pdf`` (any subset, any order) as a tuple in the canonical order."""
    asked = [item.strip().lower() for item in text.split(",") if item.strip()]
    unknown = [item for item in asked if item not in EXPORT_FORMATS]
    if unknown or not asked:
        raise ValueError(
            f"{label}: unknown format {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {','.join(EXPORT_FORMATS)}"
        )
    return tuple(f for f in EXPORT_FORMATS if f in asked)
