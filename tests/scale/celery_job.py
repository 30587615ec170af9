"""The refresh_all job on the Celery executor, for `make test-scale` only.

The same assets, resources and checks as the product's Definitions; only the executor differs.
Celery workers import this module to load the job (``reconstructable``).
"""

from dagster import AssetSelection, Definitions, define_asset_job, reconstructable
from dagster_celery import celery_executor

from nexus_pipelines.definitions import defs as product

refresh_all_celery = define_asset_job(
    "refresh_all", selection=AssetSelection.all(), executor_def=celery_executor
)

defs = Definitions(
    assets=list(product.assets or []),
    asset_checks=list(product.asset_checks or []),
    jobs=[refresh_all_celery],
    resources=dict(product.resources or {}),
)


def celery_job():
    return defs.resolve_job_def("refresh_all")


RECONSTRUCTABLE = reconstructable(celery_job)
