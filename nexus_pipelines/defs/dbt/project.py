"""The dbt project as Dagster sees it; its manifest is (re)built by `dbt parse` when stale."""


import fcntl
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from ...lib.config import load_settings

_settings = load_settings()
nexus_dbt_project = DbtProject(project_dir=_settings.dbt_project_dir, profiles_dir=_settings.dbt_project_dir)


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "snapshots", "tests"):
        for path in (project_dir / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (project_dir / name).stat().st_mtime)
    return newest


def ensure_manifest(project: DbtProject = nexus_dbt_project) -> Path:
    """Run `dbt parse` when manifest.json is missing or older than the project files."""
    manifest = Path(project.manifest_path)
    project_dir = Path(project.project_dir)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent / ".parse.lock", "w") as lock:  # one parser at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir):
            return manifest
        _parse(project_dir)
    return manifest


def _parse(project_dir: Path) -> None:
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt) if dbt.exists() else "dbt", "parse", "--quiet",
               "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    done = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, env={**os.environ})
    if done.returncode != 0:
        raise RuntimeError(f"dbt parse failed in {project_dir}:\n{done.stdout}\n{done.stderr}")
