"""The dbt project as Dagster sees it, prepared the dagster-dbt way.

``prepare(nexus_dbt_project)`` (called where the dbt assets are defined) runs dagster-dbt's own
``prepare_if_dev()`` (a parse on every load under `dagster dev`), and elsewhere parses only when
manifest.json is missing or older than a file of the project: `nexus run` right after editing a
model, or a fresh clone, must not build from a stale manifest. For a deployment, build the manifest ahead with
``dagster-dbt project prepare-and-package --file nexus_pipelines/defs/dbt/project.py``.

The parse uses the same ``--vars`` as every run's invocations, and its partial-parse state is what
the runs start from, so dbt does not re-parse the project on each invocation.

A run's dbt invocation writes its artifacts (compiled SQL, ``run_results.json``, ``dbt.log``:
5-10 MB) into a folder of its own under ``$NEXUS_HOME/dbt_runs/`` (``invocation_folder``), not
into ``target/``. When the invocation is over its folder is marked finished and only the newest
``RUNS_KEPT`` finished folders are kept, for debugging; a folder without the mark belongs to an
invocation still running (another run's, maybe) and is never deleted, unless nothing has been
written in it for ``ABANDONED_AFTER_SECONDS`` (a process killed mid-build).
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from ...lib.config import load_settings
from ...lib.files import private_dir
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
        shared.parent.mkdir(parents=True, exist_ok=True)  # a new project may have no target/ yet
        temporary = shared.with_name(f".partial_parse.{os.getpid()}.msgpack")
        shutil.copyfile(produced, temporary)
        os.replace(temporary, shared)


RUNS_FOLDER = "dbt_runs"  # under NEXUS_HOME: one folder per dbt invocation of a run
RUNS_KEPT = 5  # finished invocation folders kept (the newest), for debugging
ABANDONED_AFTER_SECONDS = 2 * 86_400  # an unfinished folder untouched this long is a dead process's
FINISHED_MARK = ".finished"
_TRASH_PREFIX = ".deleting-"
# folders dagster-dbt made under target/ before the invocations moved to NEXUS_HOME
_LEGACY_PREFIXES = ("dbt_amazon-", "dbt_product-")


@contextmanager
def invocation_folder(home: Path, name: str, *, keep: int = RUNS_KEPT) -> Iterator[Path]:
    """A new private folder ``$NEXUS_HOME/dbt_runs/<name>-<random>`` for one dbt invocation.

    Leave the block only after the invocation's event stream is consumed (dagster-dbt reads the
    folder's artifacts while it streams): the folder is then marked finished, whatever the
    outcome, and the older finished folders beyond the newest ``keep`` are deleted.
    """
    runs = private_dir(Path(home) / RUNS_FOLDER)
    target = runs / f"{name}-{uuid.uuid4().hex[:7]}"
    target.mkdir(mode=0o700)
    try:
        yield target
    finally:
        with suppress(FileNotFoundError):  # deleted as abandoned: nothing written for days
            (target / FINISHED_MARK).touch()
        prune_invocations(runs, keep)


def prune_invocations(runs: Path, keep: int, *, now: float | None = None) -> list[Path]:
    """Delete the finished invocation folders in ``runs`` but the newest ``keep`` (by the time they
    finished), and unfinished ones untouched for ``ABANDONED_AFTER_SECONDS``; returns those deleted.

    Safe beside concurrent invocations and concurrent prunes: a running invocation's folder has no
    mark yet, and a folder is renamed away before it is deleted, so no half-deleted folder is left
    under its name.
    """
    now = time.time() if now is None else now
    finished: list[tuple[float, str]] = []
    doomed: list[Path] = []
    for folder in _folders(runs):
        try:
            if folder.name.startswith(_TRASH_PREFIX):
                doomed.append(folder)  # a deletion another prune did not complete
            elif (folder / FINISHED_MARK).exists():
                finished.append(((folder / FINISHED_MARK).stat().st_mtime, folder.name))
            elif now - _last_write(folder) > ABANDONED_AFTER_SECONDS:
                doomed.append(folder)
        except FileNotFoundError:  # deleted meanwhile by a concurrent prune
            continue
    finished.sort(reverse=True)
    doomed += [runs / name for _, name in finished[keep:]]
    return [folder for folder in doomed if _delete(folder)]


def prune_legacy_invocations(project: DbtProject) -> list[Path]:
    """Delete the invocation folders earlier versions left in the dbt project's ``target/``
    (``dbt_amazon-*``, ``dbt_product-*``) once untouched for ``ABANDONED_AFTER_SECONDS``; the
    manifest, the parse state and any other folder stay."""
    target = Path(project.project_dir) / project.target_path
    now = time.time()
    doomed = []
    for folder in _folders(target):
        with suppress(FileNotFoundError):
            if folder.name.startswith(_TRASH_PREFIX) or (
                folder.name.startswith(_LEGACY_PREFIXES)
                and now - _last_write(folder) > ABANDONED_AFTER_SECONDS
            ):
                doomed.append(folder)
    return [folder for folder in doomed if _delete(folder)]


def _folders(parent: Path) -> list[Path]:
    try:
        return sorted(path for path in parent.iterdir() if path.is_dir() and not path.is_symlink())
    except FileNotFoundError:
        return []


def _last_write(folder: Path) -> float:
    """The newest modification time of the folder and the files right in it (dbt.log grows)."""
    return max(path.stat().st_mtime for path in (folder, *folder.iterdir()))


def _delete(folder: Path) -> bool:
    """Rename ``folder`` out of the way, then remove it; False when a concurrent prune took it first."""
    if folder.name.startswith(_TRASH_PREFIX):
        trash = folder
    else:
        trash = folder.with_name(f"{_TRASH_PREFIX}{folder.name}-{uuid.uuid4().hex[:6]}")
        try:
            folder.rename(trash)
        except FileNotFoundError:
            return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


@cache
def bi_schemas() -> tuple[str, ...]:
    """The schemas BI reads: those of the marts models (from the manifest) and the analytics schema."""
    marts = {
        node["schema"]
        for node in manifest()["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    }
    return (*sorted(marts), load_settings().analytics_schema)
