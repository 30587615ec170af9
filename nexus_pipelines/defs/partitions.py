"""The shared daily partitions (UTC calendar days) and the window of a running step.

The rule for windows (latest complete day, clipping, lookback) lives in ``lib/windows.py``; this
module only turns Dagster's view of a step's partitions into that module's ``Window``.
"""

import datetime as dt
import warnings
from collections.abc import Mapping

from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    BackfillPolicy,
    BetaWarning,
    DailyPartitionsDefinition,
)

from ..lib.config import load_settings
from ..lib.windows import Window, from_time_window

# The first partition is fixed when the definitions load: NEXUS_PARTITIONS_START, else the date of
# the earliest landing file (file names only), else the demo's first day (``lib/config.py``). A file
# dated earlier that arrives later extends the partitions at the next load (`nexus run` loads them
# afresh; the UI and the daemon after Deployment > Reload).
daily_partitions = DailyPartitionsDefinition(
    start_date=load_settings().partitions_start.isoformat(), timezone="UTC"
)


def first_partition_day() -> dt.date:
    """The first daily partition of the definitions loaded in this process."""
    return daily_partitions.start.date()


# Single-run backfills are the intended design here (one COPY pass per file and one dbt invocation
# per step); the parameter is marked beta in Dagster, which is known and accepted.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")

# A backfill of N days runs as one run: one COPY pass per file and one dbt invocation.
single_run_backfill = BackfillPolicy.single_run()


# Dagster's documented run tags for a single run over a range of partitions, and for one partition.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def range_tags(window: Window) -> dict[str, str]:
    """The tags that make a run of the job cover ``window``."""
    first, last = window.keys
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def window_of_run(context: AssetExecutionContext | AssetCheckExecutionContext) -> Window | None:
    """The partition window of the run a step belongs to (None for a run without partitions).

    Unpartitioned steps (the dbt chains) and the quality checks use it to rebuild the run's dates besides the changes.
    """
    return window_of_tags(context.run.tags)


def window_of_tags(tags: Mapping[str, str]) -> Window | None:
    """The partition window that a run's tags ask for (None: no daily partition tags)."""
    first, last = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if first is None and PARTITION_TAG in tags:
        first = last = tags[PARTITION_TAG]
    if not first or not last:
        return None
    try:
        return Window(dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    except ValueError:  # not a daily key (a run of some other partitioned job)
        return None


def step_window(context: AssetExecutionContext) -> Window:
    """The inclusive dates of the partitions this step materializes."""
    window = context.partition_time_window
    return from_time_window(window.start, window.end)
