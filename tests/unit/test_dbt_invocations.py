"""dbt invocation folders (defs/dbt/project.py): one per invocation under NEXUS_HOME, a bounded few kept.

The real-dbt test runs `dbt parse` on a one-model project in tmp_path through the same helpers as
a chain's build (``invocation_folder``, ``DbtCliResource.cli(target_path=...)``,
``keep_partial_parse``); the real dbt_project/target is never written.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from nexus_pipelines.defs.dbt.project import (
    ABANDONED_AFTER_SECONDS,
    DBT_EXECUTABLE,
    FINISHED_MARK,
    RUNS_FOLDER,
    RUNS_KEPT,
    invocation_folder,
    keep_partial_parse,
    prune_invocations,
    prune_legacy_invocations,
)
from nexus_pipelines.lib.config import PROJECT_ROOT

TINY_PROJECT_YML = 'name: probe\nversion: "1.0"\nprofile: nexus\nconfig-version: 2\n'
NOW = 1_800_000_000.0


def tiny_project(folder: Path) -> DbtProject:
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(TINY_PROJECT_YML)
    shutil.copy(PROJECT_ROOT / "dbt_project" / "profiles.yml", folder / "profiles.yml")
    (folder / "models" / "probe_model.sql").write_text("select 1 as probe\n")
    return DbtProject(project_dir=folder, profiles_dir=folder)


def folder_at(parent: Path, name: str, written: float, *, finished: float | None = None) -> Path:
    """A fake invocation folder with a dbt.log last written at ``written`` (and its finish mark)."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "dbt.log").write_text("log\n")
    os.utime(folder / "dbt.log", (written, written))
    if finished is not None:
        (folder / FINISHED_MARK).touch()
        os.utime(folder / FINISHED_MARK, (finished, finished))
    os.utime(folder, (written, written))
    return folder


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_prune_keeps_the_newest_finished_folders_and_every_live_one(tmp_path):
    runs = tmp_path / RUNS_FOLDER
    for n in range(7):  # finished one minute apart: f6 is the newest
        folder_at(runs, f"f{n}", NOW - 3600 + 60 * n, finished=NOW - 3600 + 60 * n)
    folder_at(runs, "live-recent", NOW - 60)  # a running invocation (another run's)
    folder_at(runs, "live-slow", NOW - ABANDONED_AFTER_SECONDS + 600)  # long, still within the limit
    folder_at(runs, "dead", NOW - ABANDONED_AFTER_SECONDS - 600)  # a killed process's
    folder_at(runs, ".deleting-f9-abc123", NOW - 10)  # a deletion left half done
    (runs / "notes.txt").write_text("not a folder: left alone\n")

    deleted = prune_invocations(runs, 5, now=NOW)

    assert sorted(p.name for p in deleted) == [".deleting-f9-abc123", "dead", "f0", "f1"]
    assert names(runs) == ["f2", "f3", "f4", "f5", "f6", "live-recent", "live-slow", "notes.txt"]
    assert prune_invocations(runs, 5, now=NOW) == []  # nothing more to do


def test_legacy_folders_in_target_go_once_untouched_for_the_abandon_limit(tmp_path):
    project = tiny_project(tmp_path / "p")
    target = Path(project.project_dir) / "target"
    old = time.time() - ABANDONED_AFTER_SECONDS - 600
    folder_at(target, "dbt_amazon-05bd707-9a11324", old)
    folder_at(target, "dbt_product-4e639d6-2ac9530", time.time() - 60)  # maybe still running
    folder_at(target, "other-folder", old)  # not dagster-dbt's naming: not ours to delete
    (target / "manifest.json").write_text("{}")
    assert [p.name for p in prune_legacy_invocations(project)] == ["dbt_amazon-05bd707-9a11324"]
    assert names(target) == ["dbt_product-4e639d6-2ac9530", "manifest.json", "other-folder"]


def test_consecutive_real_dbt_invocations_leave_a_bounded_number_of_folders(tmp_path):
    project = tiny_project(tmp_path / "p")
    dbt = DbtCliResource(
        project_dir=project, profiles_dir=str(project.project_dir), dbt_executable=DBT_EXECUTABLE
    )
    home = tmp_path / "home"
    runs = home / RUNS_FOLDER
    with ExitStack() as still_running:
        # a concurrent run's invocation that has not finished: never deleted under it
        live = still_running.enter_context(invocation_folder(home, "dbt_other-run", keep=1))
        done = []
        for n in range(2):
            with invocation_folder(home, f"dbt_probe-run{n}", keep=1) as target:
                invocation = dbt.cli(["parse", "--quiet"], target_path=target)
                invocation.wait()
                keep_partial_parse(invocation.target_path, project)
                assert (target / "manifest.json").is_file()  # dbt wrote its artifacts there
            done.append(target.name)
        # the newest finished folder and the live one; the first invocation's folder is gone
        assert names(runs) == sorted([done[1], live.name])
        assert (Path(project.project_dir) / "target" / "partial_parse.msgpack").is_file()
    assert names(runs) == [live.name]  # it finished last, so it is the one kept
    assert not list((Path(project.project_dir) / "target").glob("dbt_*"))  # nothing under target/
    assert 1 <= RUNS_KEPT <= 10
