"""Freshness checks: one ``freshness`` check per raw asset, and Dagster's own on the key marts.

The raw assets' check (``lib/freshness.py``, evaluated at the current time) runs after its asset
in every run that materializes it, including runs whose files were all unchanged: it passes when
every store's newest successful file load (read from ``ops.load_manifest``, a header-only file
counting as a load) is within the warn hours, fails with severity WARN past them (or when the
source was never loaded) and ERROR past the error hours. It never blocks.

The key marts carry Dagster's last-update freshness check (``build_last_update_freshness_checks``):
ERROR when the mart's latest materialization is older than NEXUS_FRESHNESS_ERROR_HOURS (default
60). It reads Dagster's materialization records, the same "last built" that `nexus status` shows
(``mart_last_built``). Dagster 1.13 marks that factory as superseded by a ``FreshnessPolicy``
attached to the assets (``FreshnessPolicy.time_window(fail_window=..., warn_window=...)``, which
would give the 36 h warning too); the policy belongs on the dbt asset specs (the translator), so
until it is set there the check below stands in, and the factory's notice is silenced here.
In a run it follows the mart's build (and passes, or is skipped when the chain built nothing), so
``mart_freshness_sensor`` (Dagster's ``build_sensor_for_freshness_checks``, running by default)
evaluates these checks on their own: every few minutes it launches a run of the checks never
evaluated yet or that passed and could be overdue by now (a check that failed is left alone
until the mart is built again, which runs it). The sensor factory carries the same notice, silenced here too.
"""

import datetime as dt
import warnings
from collections.abc import Sequence

import psycopg
from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    SupersessionWarning,
    asset_check,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)
from dagster_dbt import get_asset_key_for_model

from ...lib import freshness
from ...lib.config import load_settings
from ...lib.formats import SOURCES
from ...lib.formats.base import SourceSpec
from ...lib.windows import utc_now
from ..dbt.assets import dbt_asset_definitions
from ..resources import WarehouseResource


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def freshness_result(rows: Sequence[freshness.SourceFreshness]) -> AssetCheckResult:
    """The check result of one source's rows (one per store)."""
    statuses = [row.status for row in rows]
    failing = freshness.worst(statuses)
    severity = AssetCheckSeverity.ERROR if failing == freshness.Status.ERROR else AssetCheckSeverity.WARN
    thresholds = rows[0].thresholds if rows else None
    ages = [row.age_hours for row in rows if row.age_hours is not None]
    table = "\n".join(
        f"| {row.store_id or '-'} | {_when(row.last_loaded_at)} | {_when(row.last_partition)} | "
        f"{row.files} | {row.rows} | {'' if row.age_hours is None else f'{row.age_hours:.1f}'} | "
        f"{row.status} |"
        for row in rows
    )
    late = [row for row in rows if row.status in freshness.FAILING]
    description = (
        "; ".join(
            f"{row.store_id or row.source}: {row.status}"
            + (f" ({row.age_hours:.1f} h since the last load)" if row.age_hours is not None else "")
            for row in late
        )
        if late
        else None
    )
    metadata: dict[str, MetadataValue] = {
        "stores": MetadataValue.md(
            "| store | last load | last partition | files | rows | age (h) | status |\n"
            "|---|---|---|---|---|---|---|\n" + table
        ),
        "max_age_hours": MetadataValue.float(round(max(ages), 2)) if ages else MetadataValue.text("never"),
        "warn_after_hours": MetadataValue.int(thresholds.warn_hours)
        if thresholds
        else MetadataValue.text("none"),
        "error_after_hours": MetadataValue.int(thresholds.error_hours)
        if thresholds
        else MetadataValue.text("none"),
    }
    loads = [row.last_loaded_at for row in rows if row.last_loaded_at is not None]
    if loads:
        metadata["oldest_last_load"] = MetadataValue.timestamp(min(loads))
    return AssetCheckResult(
        passed=failing is None, severity=severity, description=description, metadata=metadata
    )


def build_freshness_check(spec: SourceSpec) -> AssetChecksDefinition:
    @asset_check(
        asset=["raw", spec.name],
        name="freshness",
        blocking=False,
        description="Every store's newest successful file load (ops.load_manifest) at most "
        "NEXUS_FRESHNESS_WARN_HOURS old (default 36; WARN beyond), ERROR beyond NEXUS_FRESHNESS_ERROR_HOURS (default 60); "
        "NEXUS_FRESHNESS_HOURS_<SOURCE> sets both for one source."
        + ("" if spec.partitioned else " Reference data: not judged unless its variable is set."),
    )
    def _check(warehouse: WarehouseResource) -> AssetCheckResult:
        with psycopg.connect(warehouse.url) as conn:
            rows = freshness.source_freshness(conn, utc_now(), warehouse.settings, [spec.name])
        return freshness_result(rows)

    return _check


raw_freshness_checks = [build_freshness_check(spec) for spec in SOURCES.values()]


def _mart_key(model: str) -> AssetKey:
    """The asset key of dbt model ``model``, from the dbt chain that builds it."""
    for chain in dbt_asset_definitions:
        key = get_asset_key_for_model([chain], model)
        if key in chain.keys:
            return key
    raise KeyError(f"no dbt chain builds the model {model}")


# asset keys of the key marts, as the dbt assets define them
MART_ASSET_KEYS: dict[str, AssetKey] = {name: _mart_key(name) for name in freshness.KEY_MARTS}

with warnings.catch_warnings():
    warnings.simplefilter("ignore", SupersessionWarning)
    mart_freshness_checks = build_last_update_freshness_checks(
        assets=list(MART_ASSET_KEYS.values()),
        lower_bound_delta=dt.timedelta(hours=freshness.mart_thresholds(load_settings()).error_hours),
        severity=AssetCheckSeverity.ERROR,
    )

freshness_checks = [*raw_freshness_checks, *mart_freshness_checks]

# how often the daemon asks whether a mart's freshness check is due again
MART_FRESHNESS_SENSOR_INTERVAL_SECONDS = 5 * 60

with warnings.catch_warnings():
    warnings.simplefilter("ignore", SupersessionWarning)
    mart_freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=mart_freshness_checks,
        minimum_interval_seconds=MART_FRESHNESS_SENSOR_INTERVAL_SECONDS,
        name="mart_freshness_sensor",
        default_status=DefaultSensorStatus.RUNNING,
    )


def mart_last_built(instance: DagsterInstance) -> dict[str, dt.datetime | None]:
    """mart -> time of its latest materialization in ``instance`` (None: never materialized)."""
    built: dict[str, dt.datetime | None] = {}
    for name, key in MART_ASSET_KEYS.items():
        event = instance.get_latest_materialization_event(key)
        built[name] = dt.datetime.fromtimestamp(event.timestamp, dt.UTC) if event else None
    return built
