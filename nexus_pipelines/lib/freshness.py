"""How fresh the raw sources and the key marts are, Dagster-free.

A raw source's last load is read from ``ops.load_manifest``, the loader's record of one row per
file load: per store for the Amazon sources (their files come per store, ``amazon/<store_id>/...``;
the store is the second component of the file path), the newest end
(``started_at + duration_seconds``) of a successful load (status ``loaded``) of any of its files.
A file found unchanged is skipped and not recorded again, so that is the newest load of a new or
changed file; every daily delivery is a new file, so a healthy feed moves it every day. Its age at
``now`` is compared with its thresholds, in hours:

* ``pass``: age at most the warn hours; ``warn``: more than the warn hours; ``error``: more than
  the error hours (strictly more, as dbt compares);
* ``never-loaded``: no file of the source (of any store) was ever loaded successfully;
* ``not-checked``: loaded, but the source has no expectation (``stores``, reference data that is
  reloaded only when stores.yaml is edited, unless NEXUS_FRESHNESS_HOURS_STORES gives it one).

Why the manifest and not the raw rows (``max(_loaded_at)``, ``count(*)``): it has one row per file
load, not per data row, so reading it costs the same whether ``raw.events`` holds a thousand rows
or tens of millions, and a delivered file that has no data row (a returns report with only its
header, on a day without returns) counts as a load: the source stays fresh while its feed is
healthy. Alongside come the newest partition date loaded, the number of files loaded and the rows
their latest successful loads put into the raw table (as counted at load time; a file whose
latest load failed keeps its earlier rows, so its earlier successful load counts).

dbt's source freshness (``dbt_project/models/staging/_sources.yml``) reads the same manifest
through a ``loaded_at_query`` (dbt >= 1.10), so ``dbt source freshness`` and these checks agree on
each source's last load; dbt judges a table as a whole, i.e. by its freshest store, while here
each store is judged alone.

Thresholds: NEXUS_FRESHNESS_HOURS_<SOURCE> when set, else NEXUS_FRESHNESS_WARN_HOURS /
NEXUS_FRESHNESS_ERROR_HOURS (default 36 and 60) for the daily sources (``lib/config.py``).

A key mart's last build is given by the caller (Dagster's latest materialization of the mart's
asset, read in ``defs/``); its age is judged with the global thresholds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import psycopg

from .config import Settings, load_settings
from .formats import SOURCES, store_id_from_path
from .warehouse.connection import scalar

# The marts BI reads first (all in schema marts): their last build tells whether dashboards are current.
KEY_MARTS = (
    "fct_daily_sales",
    "fct_daily_store_performance",
    "fct_inventory_daily",
    "fct_returns",
    "fct_sessions",
    "fct_orders_web",
)


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    ERROR = "error"
    NEVER_LOADED = "never-loaded"
    NEVER_BUILT = "never-built"
    NOT_CHECKED = "not-checked"


# statuses a freshness check does not pass with
FAILING = frozenset({Status.WARN, Status.ERROR, Status.NEVER_LOADED, Status.NEVER_BUILT})


@dataclass(frozen=True)
class Thresholds:
    warn_hours: int
    error_hours: int

    def __str__(self) -> str:
        return f"warn > {self.warn_hours} h, error > {self.error_hours} h"


def classify(age_hours: float | None, thresholds: Thresholds | None, *, never: Status) -> Status:
    """The status of something last updated ``age_hours`` ago (None: never), by ``thresholds``."""
    if age_hours is None:
        return never
    if thresholds is None:
        return Status.NOT_CHECKED
    if age_hours > thresholds.error_hours:
        return Status.ERROR
    if age_hours > thresholds.warn_hours:
        return Status.WARN
    return Status.PASS


def source_thresholds(source: str, settings: Settings) -> Thresholds | None:
    """The thresholds of raw ``source``: its override, else the global ones (daily sources only)."""
    override = settings.freshness_override(source)
    if override is not None:
        return Thresholds(*override)
    if not SOURCES[source].partitioned:
        return None
    return Thresholds(settings.freshness_warn_hours, settings.freshness_error_hours)


def mart_thresholds(settings: Settings) -> Thresholds:
    return Thresholds(settings.freshness_warn_hours, settings.freshness_error_hours)


def per_store(source: str) -> bool:
    """Whether the files of ``source`` come per store (``amazon/<store_id>/...``)."""
    return store_id_from_path(SOURCES[source].landing_glob) is not None


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    store_id: str | None  # None: a source without stores
    last_loaded_at: dt.datetime | None  # end of the newest successful file load; None: never loaded
    last_partition: dt.date | None  # newest partition date loaded (None for unpartitioned sources)
    files: int  # files with a successful load
    rows: int  # rows loaded by the latest successful load of each of those files
    age_hours: float | None
    thresholds: Thresholds | None

    @property
    def status(self) -> Status:
        return classify(self.age_hours, self.thresholds, never=Status.NEVER_LOADED)


# Per source and store (NULL for a source without stores), over the successful loads in the
# manifest: the newest load's end, the newest partition, the files, the rows of each file's latest
# load (nth = 1) and the age at %(now)s. The store is what store_id_from_path reads from the path:
# the second component of amazon/<store_id>/<...>.
_FRESHNESS_SQL = """
with loads as (
    select source,
           case when split_part(file_path, '/', 1) = 'amazon' and split_part(file_path, '/', 3) <> ''
                then split_part(file_path, '/', 2) end as store_id,
           partition_date,
           rows_loaded,
           started_at + make_interval(secs => coalesce(duration_seconds, 0)) as finished_at,
           row_number() over (partition by source, file_path order by load_id desc) as nth
    from ops.load_manifest
    where status = 'loaded' and source = any(%(sources)s)
)
select source, store_id, max(finished_at), max(partition_date),
       count(*) filter (where nth = 1),
       coalesce(sum(rows_loaded) filter (where nth = 1), 0),
       extract(epoch from (%(now)s::timestamptz - max(finished_at)))::float8 / 3600.0
from loads
group by source, store_id
order by source, store_id
"""


def source_freshness(
    conn: psycopg.Connection,
    now: dt.datetime,
    settings: Settings | None = None,
    sources: Iterable[str] | None = None,
) -> list[SourceFreshness]:
    """Freshness at ``now`` of every raw source (or of ``sources``), per store, from the manifest.

    ``now`` is a bound parameter, so the clock can be simulated; it must be timezone-aware.
    One query on ``ops.load_manifest`` (never the raw tables); a source without a successful load
    (or a database without a manifest yet) is one never-loaded row.
    """
    if now.tzinfo is None:
        raise ValueError("source_freshness needs an aware datetime (naive times are ambiguous)")
    settings = settings or load_settings()
    names = list(SOURCES) if sources is None else list(sources)
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise ValueError(f"not raw sources: {', '.join(unknown)}")
    found: dict[str, list[tuple]] = {name: [] for name in names}
    if names and scalar(conn, "select to_regclass('ops.load_manifest') is not null"):
        for source, *row in conn.execute(_FRESHNESS_SQL, {"sources": names, "now": now}).fetchall():
            found[source].append(tuple(row))
    out: list[SourceFreshness] = []
    for name in names:
        thresholds = source_thresholds(name, settings)
        rows = found[name] or [(None, None, None, 0, 0, None)]
        out.extend(
            SourceFreshness(name, store, loaded_at, partition, int(files), int(count), age, thresholds)
            for store, loaded_at, partition, files, count, age in rows
        )
    return out


@dataclass(frozen=True)
class MartFreshness:
    mart: str
    last_built_at: dt.datetime | None  # None: never built
    age_hours: float | None
    thresholds: Thresholds

    @property
    def status(self) -> Status:
        return classify(self.age_hours, self.thresholds, never=Status.NEVER_BUILT)


def mart_freshness(
    last_built: Mapping[str, dt.datetime | None], now: dt.datetime, thresholds: Thresholds
) -> list[MartFreshness]:
    """Freshness at ``now`` of each mart, given when it was last built (None: never)."""
    if now.tzinfo is None:
        raise ValueError("mart_freshness needs an aware datetime (naive times are ambiguous)")
    return [
        MartFreshness(
            mart,
            built,
            (now - built).total_seconds() / 3600.0 if built is not None else None,
            thresholds,
        )
        for mart, built in last_built.items()
    ]


def worst(statuses: Iterable[Status]) -> Status | None:
    """ERROR before WARN before never-loaded/never-built; None when none of them fails."""
    failing = set(statuses) & FAILING
    for status in (Status.ERROR, Status.WARN, Status.NEVER_LOADED, Status.NEVER_BUILT):
        if status in failing:
            return status
    return None
