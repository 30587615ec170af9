"""Data Docs rebuilt after every run of the job the daemon launches (schedule, sensor, UI).

``nexus run`` rebuilds them itself at the end of its in-process run (``runner.py``).
"""

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    run_status_sensor,
)

from ...lib.config import load_settings
from ...lib.quality.validate import build_data_docs
from ..automation import refresh_job


def _rebuild(context: RunStatusSensorContext) -> None:
    index = build_data_docs(load_settings().home)
    if index is not None:
        context.log.info(f"Great Expectations Data Docs: {index}")


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[refresh_job],
    default_status=DefaultSensorStatus.RUNNING,
    description="Rebuild the Great Expectations Data Docs in $NEXUS_HOME/gx after a successful run.",
)
def data_docs_after_success(context: RunStatusSensorContext) -> None:
    _rebuild(context)


@run_status_sensor(
    run_status=DagsterRunStatus.FAILURE,
    monitored_jobs=[refresh_job],
    default_status=DefaultSensorStatus.RUNNING,
    description="Rebuild the Great Expectations Data Docs after a failed run (a blocking check, say).",
)
def data_docs_after_failure(context: RunStatusSensorContext) -> None:
    _rebuild(context)
