"""Manifest preparation of the dbt project (defs/dbt/project.py), on copies in tmp_path: the real
dbt_project/target is never written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from dagster_dbt import DbtProject

from nexus_pipelines.defs.dbt import project as dbt_project
from nexus_pipelines.defs.dbt.project import (
    keep_partial_parse,
    manifest,
    manifest_is_stale,
    newest_source_mtime,
    prepare,
    project_fingerprint,
)
from nexus_pipelines.lib.config import PROJECT_ROOT

REAL_PROJECT = PROJECT_ROOT / "dbt_project"
T0 = 1_700_000_000
TINY_PROJECT_YML = 'name: probe\nversion: "1.0"\nprofile: nexus\nconfig-version: 2\n'


def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def set_all_mtimes(folder: Path, seconds: float) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            set_mtime(path, seconds)


def copy_real_project(destination: Path) -> DbtProject:
    shutil.copytree(REAL_PROJECT, destination, ignore=shutil.ignore_patterns("target", "logs"))
    return DbtProject(project_dir=destination, profiles_dir=destination)


def tiny_project(folder: Path, model_sql: str = "select 1 as probe\n") -> DbtProject:
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(TINY_PROJECT_YML)
    shutil.copy(REAL_PROJECT / "profiles.yml", folder / "profiles.yml")
    (folder / "models" / "probe_model.sql").write_text(model_sql)
    return DbtProject(project_dir=folder, profiles_dir=folder)


@pytest.fixture
def copied(tmp_path) -> DbtProject:
    return copy_real_project(tmp_path / "dbt_project")


@pytest.fixture(autouse=True)
def not_under_dagster_dev(monkeypatch):
    # dagster-dbt's prepare_if_dev parses on every load under `dagster dev`
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)


def a_model(project: DbtProject) -> Path:
    return sorted((Path(project.project_dir) / "models").rglob("*.sql"))[0]


# ---------------------------------------------------------------- newest_source_mtime
def test_newest_source_mtime_looks_at_the_source_folders_and_files_only(tmp_path):
    files = {
        "models/marts/a.sql": T0 + 10,
        "macros/m.sql": T0 + 30,
        "tests/t.sql": T0 + 5,
        "dbt_project.yml": T0 + 20,
        # not sources: build output, logs, docs, packages
        "target/manifest.json": T0 + 900,
        "logs/dbt.log": T0 + 900,
        "README.md": T0 + 900,
        "dbt_packages/x/models/y.sql": T0 + 900,
    }
    for name, mtime in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        set_mtime(path, mtime)
    # a folder's own mtime does not count, only the files in it
    set_mtime(tmp_path / "models" / "marts", T0 + 800)
    assert newest_source_mtime(tmp_path) == T0 + 30

    (tmp_path / "profiles.yml").write_text("x")
    set_mtime(tmp_path / "profiles.yml", T0 + 40)
    assert newest_source_mtime(tmp_path) == T0 + 40
    for name, mtime in (("seeds/s.csv", T0 + 50), ("snapshots/s.sql", T0 + 60), ("analyses/a.sql", T0 + 70)):
        path = tmp_path / name
        path.parent.mkdir()
        path.write_text("x")
        set_mtime(path, mtime)
        assert newest_source_mtime(tmp_path) == mtime
    (tmp_path / "packages.yml").write_text("x")
    set_mtime(tmp_path / "packages.yml", T0 + 80)
    assert newest_source_mtime(tmp_path) == T0 + 80


def test_newest_source_mtime_of_an_empty_folder_is_zero(tmp_path):
    assert newest_source_mtime(tmp_path) == 0.0


# ---------------------------------------------------------------- manifest_is_stale / prepare
def test_a_missing_manifest_is_stale(copied):
    assert not Path(copied.manifest_path).exists()
    assert manifest_is_stale(copied)


def test_a_manifest_older_than_a_model_is_stale(copied):
    root = Path(copied.project_dir)
    set_all_mtimes(root, T0)
    manifest = Path(copied.manifest_path)
    manifest.parent.mkdir()
    manifest.write_text("{}")
    set_mtime(manifest, T0 + 10)
    assert not manifest_is_stale(copied)

    set_mtime(manifest, T0)  # as new as the newest source: not stale
    assert not manifest_is_stale(copied)

    set_mtime(a_model(copied), T0 + 20)
    assert manifest_is_stale(copied)
    set_mtime(a_model(copied), T0)

    set_mtime(root / "dbt_project.yml", T0 + 1)
    assert manifest_is_stale(copied)
    set_mtime(root / "dbt_project.yml", T0)
    set_mtime(root / "profiles.yml", T0 + 1)
    assert manifest_is_stale(copied)
    set_mtime(root / "profiles.yml", T0)

    # newer files that are not sources change nothing
    for name in ("target/run_results.json", "logs/dbt.log", "notes.md"):
        path = root / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
        set_mtime(path, T0 + 1000)
    assert not manifest_is_stale(copied)


def test_prepare_parses_only_a_stale_manifest(copied, monkeypatch):
    parsed = []
    monkeypatch.setattr(dbt_project, "parse", parsed.append)
    prepare(copied)
    assert parsed == [copied]  # no manifest yet

    set_all_mtimes(Path(copied.project_dir), T0)
    Path(copied.manifest_path).parent.mkdir()
    Path(copied.manifest_path).write_text("{}")
    set_mtime(Path(copied.manifest_path), T0 + 5)
    prepare(copied)
    assert parsed == [copied]

    set_mtime(a_model(copied), T0 + 6)  # a model edited after the last parse
    prepare(copied)
    assert parsed == [copied, copied]


def test_prepare_with_a_real_parse_puts_a_fresh_manifest_in_place(tmp_path):
    project = tiny_project(tmp_path / "tiny")
    target = Path(project.project_dir) / "target"
    prepare(project)

    manifest = json.loads(Path(project.manifest_path).read_text())
    assert "model.probe.probe_model" in manifest["nodes"]
    assert manifest["nodes"]["model.probe.probe_model"]["raw_code"].strip() == "select 1 as probe"
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "partial_parse.msgpack"]
    assert not manifest_is_stale(project)


def test_the_manifest_is_read_once_per_process(tmp_path):
    project = tiny_project(tmp_path / "p")
    path = Path(project.manifest_path)
    path.parent.mkdir()
    path.write_text('{"nodes": {"model.probe.a": {}}}')
    assert manifest(project) == {"nodes": {"model.probe.a": {}}}
    path.write_text('{"nodes": {}}')
    assert manifest(project) == {"nodes": {"model.probe.a": {}}}


# ---------------------------------------------------------------- project_fingerprint
def test_the_fingerprint_of_a_tiny_project_by_hand(tmp_path):
    project = tiny_project(tmp_path / "p")
    (Path(project.project_dir) / "profiles.yml").write_text("nexus: {}\n")
    expected = hashlib.sha256(
        b'{"rebuild_from_ops": true, "tests_on_rebuilt_dates": true}'
        + b"dbt_project.yml\0"
        + TINY_PROJECT_YML.encode()
        + b"\0"
        + b"models/probe_model.sql\0select 1 as probe\n\0"
        + b"profiles.yml\0nexus: {}\n\0"
    ).hexdigest()
    assert project_fingerprint(project) == expected


def test_the_fingerprint_follows_the_sql_and_nothing_else(copied, tmp_path):
    root = Path(copied.project_dir)
    original = project_fingerprint(copied)
    assert len(original) == 64
    assert project_fingerprint(copied) == original
    # the same files elsewhere: the same fingerprint (paths are relative to the project)
    assert project_fingerprint(copy_real_project(tmp_path / "elsewhere" / "copy")) == original

    model = a_model(copied)
    sql = model.read_text()
    model.write_text(sql + "\n-- changed\n")
    changed = project_fingerprint(copied)
    assert changed != original
    model.write_text(sql)
    assert project_fingerprint(copied) == original  # content, not history

    set_mtime(model, T0)  # a touch alone changes nothing
    assert project_fingerprint(copied) == original

    for name in ("target/manifest.json", "logs/dbt.log", "README.md", "dbt_packages/pkg/models/x.sql"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("unrelated")
    assert project_fingerprint(copied) == original

    moved = model.with_name("zz_" + model.name)
    model.rename(moved)  # same SQL under another name: another model
    assert project_fingerprint(copied) != original
    moved.rename(model)
    assert project_fingerprint(copied) == original

    macro = root / "macros" / "zz_new_macro.sql"
    macro.write_text("{% macro zz() %}1{% endmacro %}\n")
    assert project_fingerprint(copied) != original
    macro.unlink()
    (root / "profiles.yml").write_text((root / "profiles.yml").read_text() + "# comment\n")
    assert project_fingerprint(copied) != original


def test_the_fingerprint_includes_the_run_vars(copied, monkeypatch):
    original = project_fingerprint(copied)
    monkeypatch.setattr(dbt_project, "DBT_VARS", {**dbt_project.DBT_VARS, "tests_on_rebuilt_dates": False})
    assert project_fingerprint(copied) != original


# ---------------------------------------------------------------- keep_partial_parse
def test_keep_partial_parse_hands_the_state_on(tmp_path):
    project = tiny_project(tmp_path / "p")
    shared = Path(project.project_dir) / "target" / "partial_parse.msgpack"
    shared.parent.mkdir()
    shared.write_bytes(b"state-1")
    invocation = tmp_path / "invocation-target"
    invocation.mkdir()

    keep_partial_parse(invocation, project)  # the invocation wrote no state: nothing changes
    assert shared.read_bytes() == b"state-1"

    (invocation / "partial_parse.msgpack").write_bytes(b"state-2")
    keep_partial_parse(str(invocation), project)
    assert shared.read_bytes() == b"state-2"
    assert (invocation / "partial_parse.msgpack").read_bytes() == b"state-2"  # copied, not moved
    assert sorted(p.name for p in shared.parent.iterdir()) == ["partial_parse.msgpack"]


def test_keep_partial_parse_into_an_empty_target(tmp_path):
    project = tiny_project(tmp_path / "p")
    (Path(project.project_dir) / "target").mkdir()
    invocation = tmp_path / "inv"
    invocation.mkdir()
    (invocation / "partial_parse.msgpack").write_bytes(b"first")
    keep_partial_parse(invocation, project)
    assert (Path(project.project_dir) / "target" / "partial_parse.msgpack").read_bytes() == b"first"


def test_every_build_uses_the_run_vars():
    assert dbt_project.BUILD_ARGS[:5] == [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--exclude",
        "tag:full_history",
    ]
    assert json.loads(dbt_project.BUILD_ARGS[-1]) == {
        "rebuild_from_ops": True,
        "tests_on_rebuilt_dates": True,
    }
    assert json.loads(dbt_project.FULL_CHECK_BUILD_ARGS[-1]) == {
        "rebuild_from_ops": True,
        "tests_on_rebuilt_dates": False,
    }
