"""Landing files hold customer ship addresses: under a permissive umask the demo landing folder,
the generation stamp and the Dagster home still come out 0700 (folders) and 0600 (files)."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import pytest

from nexus_pipelines.cli import _generate
from nexus_pipelines.demo import generate
from nexus_pipelines.lib.config import load_settings
from nexus_pipelines.lib.dagster_home import STORAGE_URL_ENV, prepare_dagster_home

TINY = {"days": 2, "stores": 1, "skus": 4, "users": 50}


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def wrong_modes(root: Path) -> list[str]:
    """``root``, every folder below it (0700) and every file (0600) whose mode is another."""
    wrong = [f"{root}: {mode(root):o}"] if mode(root) != 0o700 else []
    count = 0
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            if mode(path) != 0o700:
                wrong.append(f"{path.relative_to(root)}/: {mode(path):o}")
        for name in names:
            count += 1
            path = Path(folder, name)
            if mode(path) != 0o600:
                wrong.append(f"{path.relative_to(root)}: {mode(path):o}")
    assert count, f"no files under {root}"
    return wrong


@pytest.fixture(autouse=True)
def permissive_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_demo_landing_folder_is_private(tmp_path):
    landing = tmp_path / "fresh" / "landing"
    generate(landing, **TINY)
    assert (landing / "truth.json").is_file() and (landing / "stores.yaml").is_file()
    assert any(landing.glob("amazon/*/orders/*.txt"))  # the files with the ship addresses
    assert mode(tmp_path / "fresh") == 0o700
    assert wrong_modes(landing) == []
    assert not list(landing.rglob(".*.tmp"))


def test_generating_again_over_readable_files_makes_them_private(tmp_path):
    landing = tmp_path / "landing"
    generate(landing, **TINY)
    for path in landing.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(landing, 0o700)
    generate(landing, **TINY)
    wrong = wrong_modes(landing)
    # the folders existed: they keep their mode; every file is written anew
    assert wrong and all(line.endswith("/: 755") for line in wrong)


def test_a_landing_folder_that_exists_keeps_its_mode(tmp_path):
    landing = tmp_path / "shared"
    landing.mkdir()
    os.chmod(landing, 0o775)
    generate(landing, **TINY)
    assert mode(landing) == 0o775
    assert wrong_modes(landing) == [f"{landing}: 775"]


def test_the_generation_stamp_is_private(tmp_path):
    landing = tmp_path / "landing"
    _generate(42, date(2026, 3, 1), 2, 1, 4, 50, None, 0.0, landing, reuse=True)
    assert (landing / ".generated.json").is_file()
    assert wrong_modes(landing) == []


def test_the_dagster_home_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "/nonexistent/before")
    monkeypatch.setenv(STORAGE_URL_ENV, "before")
    settings = load_settings(
        {
            "NEXUS_HOME": str(tmp_path / "home"),
            # an external Dagster database: prepare_dagster_home needs no server
            "NEXUS_DAGSTER_DATABASE_URL": "postgresql://dagster:pw@db.internal:5433/dagster_runs",
        }
    )
    home = prepare_dagster_home(settings)
    assert home == settings.dagster_home
    assert (home / "dagster.yaml").is_file()
    assert mode(settings.home) == 0o700
    assert wrong_modes(home) == []
