"""The dbt project as Dagster sees it, prepared the dagster-dbt way.

``prepare(nexus_dbt_project)`` (called where the dbt assets are defined) runs dagster-dbt's own
``prepare_if_dev()`` (a parse on every load under `dagster dev`), and elsewhere parses only when
manifest.json is missing or older than a file of the project: `nexus run` right after editing a
model, or a fresh clone, must not build from a stale manifest. For a deployment, build the manifest ahead with
``dagster-dbt project prepare-and-package --file nexus_pipelines/defs/dbt/project.py``.

The parse uses the same ``--vars`` as every run's invocations, and its partial-parse state is what
the runs start from, so dbt does not re-parse the project on each invocation.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from ...lib.config import load_settings
from .translator import FULL_HISTORY_TAG

# dbt from the same environment as this interpreter (the venv need not be on PATH), else PATH's.
DBT_EXECUTABLE = (
    str(Path(sys.executable).with_name("dbt"))
    if Path(sys.executable).with_name("dbt").exists()
    else shutil.which("dbt") or "dbt"
)

# The same vars on every invocation: the incremental facts read their dates from ops.rebuild_ranges,
# so dbt's partial parsing is not invalidated by changing vars from one step or run to the next.
# Data tests of the incremental facts check the rebuilt dates only; the weekly full check uses
# FULL_CHECK_VARS (every test over every row).
DBT_VARS = {"rebuild_from_ops": True, "tests_on_rebuilt_dates": True}
DBT_VARS_ARGS = ["--vars", json.dumps(DBT_VARS)]
FULL_CHECK_VARS = {"rebuild_from_ops": True, "tests_on_rebuilt_dates": False}
# What a run builds: models and their data tests (asset checks). dbt's unit tests check the SQL,
# not the data; they run in the test suite, not in every production build. The tests tagged
# full_history (those of the staging and intermediate views, which read the whole history: see
# dbt_project.yml) run in the weekly full check only.
BUILD_ARGS = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--exclude",
    f"tag:{FULL_HISTORY_TAG}",
    *DBT_VARS_ARGS,
]
FULL_CHECK_BUILD_ARGS = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--vars",
    json.dumps(FULL_CHECK_VARS),
]

_SOURCE_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")


def newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for folder in _SOURCE_FOLDERS:
        for path in (project_dir / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in _SOURCE_FILES:
        if (project_dir / name).exists():
            newest = max(newest, (project_dir / name).stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = Path(project.manifest_path)
    return not manifest.exists() or manifest.stat().st_mtime < newest_source_mtime(Path(project.project_dir))


def parse(project: DbtProject) -> None:
    """`dbt parse` into a scratch folder, then move the parse state and manifest into place atomically.

    Two processes parsing at once both succeed; a reader never sees a half-written manifest.
    """
    target = Path(project.project_dir) / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=target))
    try:
        resource = DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        resource.cli(["parse", "--quiet", *DBT_VARS_ARGS], target_path=scratch).wait()
        for name in ("partial_parse.msgpack", "manifest.json"):  # manifest last: it marks the parse done
            if (scratch / name).exists():
                os.replace(scratch / name, target / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prepare(project: DbtProject) -> None:
    """dagster-dbt's preparation under `dagster dev`; elsewhere a parse only when the manifest is stale."""
    project.prepare_if_dev()
    if manifest_is_stale(project):
        parse(project)


_settings = load_settings()
nexus_dbt_project = DbtProject(
    project_dir=_settings.dbt_project_dir,
    profiles_dir=_settings.dbt_project_dir,
    prepare_project_cli_args=["parse", "--quiet", *DBT_VARS_ARGS],
)


@cache
def manifest(project: DbtProject = nexus_dbt_project) -> dict:
    """The parsed manifest.json, read once per process (after ``prepare``)."""
    return json.loads(Path(project.manifest_path).read_text())


def project_fingerprint(project: DbtProject = nexus_dbt_project) -> str:
    """sha256 over the project's source files and the run vars: what a build's output depends on besides data."""
    digest = hashlib.sha256(json.dumps(DBT_VARS, sort_keys=True).encode())
    project_dir = Path(project.project_dir)
    paths = [p for folder in _SOURCE_FOLDERS for p in (project_dir / folder).rglob("*") if p.is_file()]
    paths += [project_dir / name for name in _SOURCE_FILES if (project_dir / name).exists()]
    for path in sorted(paths):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def keep_partial_parse(invocation_target: Path, project: DbtProject = nexus_dbt_project) -> None:
    """Hand an invocation's parse state to the next one (dagster-dbt seeds each invocation from target/)."""
    produced = Path(invocation_target) / "partial_parse.msgpack"
    shared = Path(project.project_dir) / project.target_path / "partial_parse.msgpack"
    if produced.exists():
        temporary = shared.with_name(f".partial_parse.{os.getpid()}.msgpack")
        shutil.copyfile(produced, temporary)
        os.replace(temporary, shared)


@cache
def bi_schemas() -> tuple[str, ...]:
    """The schemas BI reads: those of the marts models (from the manifest) and the analytics schema."""
    marts = {
        node["schema"]
        for node in manifest()["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    }
    return (*sorted(marts), load_settings().analytics_schema)
