"""Resources, chosen by configuration (lib/config.py): the warehouse and dbt."""

import importlib.metadata
import os
from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import PrivateAttr

from ..lib.config import Settings, load_settings
from ..lib.warehouse.connection import dbt_env, warehouse_url
from .dbt.project import DBT_EXECUTABLE, nexus_dbt_project


class WarehouseResource(ConfigurableResource):
    """The PostgreSQL warehouse and the landing folder.

    Empty fields fall back to the environment (NEXUS_DATABASE_URL, NEXUS_LANDING_DIR); with no
    database URL at all the embedded server is started on first use.
    """

    database_url: str = ""
    landing_dir: str = ""
    # reload landing files even when their sha256 matches their last successful load
    force_reload: bool = False
    _url: str | None = PrivateAttr(default=None)

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.database_url or warehouse_url(self.settings)
        return self._url

    @property
    def landing_path(self) -> Path:
        return Path(self.landing_dir) if self.landing_dir else self.settings.landing_dir

    def export_dbt_env(self) -> None:
        """Point the dbt profile (env vars) at this warehouse before invoking dbt."""
        os.environ.update(dbt_env(self.url))


class NexusDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, told the dbt version instead of asking ``dbt --version`` on every run.

    dagster-dbt runs ``dbt --version`` once per run to learn the engine's version; that command
    starts dbt and asks PyPI for the latest release (two HTTP requests with a 1 s timeout each):
    3-4 s of every run, more when offline. dbt-core is installed in this environment, so its
    version is known without starting it. (This overrides a private member of dagster-dbt; if a
    later version renames it, the override is simply unused and runs pay the check again.)
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def build_resources() -> dict:
    return {
        "warehouse": WarehouseResource(),
        "dbt": NexusDbtCliResource(
            project_dir=nexus_dbt_project,  # type: ignore[arg-type]  # __init__ takes a DbtProject; the field is str
            profiles_dir=str(nexus_dbt_project.project_dir),
            dbt_executable=DBT_EXECUTABLE,
        ),
    }
