"""The first daily partition (lib/config.py ``Settings.partitions_start``): NEXUS_PARTITIONS_START,
else the date of the earliest landing file, else the demo's first day."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from nexus_pipelines.lib.config import DEMO_FIRST_DAY, load_settings


def _landing(root, *relative_paths: str):
    for relative in relative_paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    return root


def _settings(tmp_path, landing, **extra):
    return load_settings({"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_LANDING_DIR": str(landing), **extra})


def test_the_start_is_the_date_of_the_earliest_landing_file(tmp_path):
    landing = _landing(
        tmp_path / "landing",
        "amazon/s1/orders/2026-03-05.txt",
        "amazon/s2/inventory/2026-03-04.txt",
        "events/2026-03-03.jsonl.gz",
        "marketing/spend/2026-03-09.csv",
        "stores.yaml",
        "amazon/s1/orders/2026-02-30.txt",  # no such day: a misnamed file, in no partition
        "amazon/s1/order/2026-01-02.txt",  # misspelled folder: no source reads it
        "events/.2026-01-03.jsonl",  # hidden
        "2026-01-04.txt",  # at the root only stores.yaml is read
    )
    assert _settings(tmp_path, landing).partitions_start == dt.date(2026, 3, 3)


def test_nexus_partitions_start_wins_over_the_landing_files(tmp_path):
    landing = _landing(tmp_path / "landing", "events/2026-03-03.jsonl")
    settings = _settings(tmp_path, landing, NEXUS_PARTITIONS_START="2026-01-15")
    assert settings.partitions_start == dt.date(2026, 1, 15)
    assert settings.partitions_start_override == dt.date(2026, 1, 15)
    assert _settings(tmp_path, landing).partitions_start_override is None
    with pytest.raises(ValueError, match="NEXUS_PARTITIONS_START must be YYYY-MM-DD, got '2026-13-01'"):
        _settings(tmp_path, landing, NEXUS_PARTITIONS_START="2026-13-01")


def test_without_dated_landing_files_the_start_is_the_demos_first_day(tmp_path):
    from nexus_pipelines.demo import SynthConfig

    demo_start = dt.date(2026, 3, 1)
    assert SynthConfig().start == demo_start == DEMO_FIRST_DAY  # `nexus generate` starts there
    assert _settings(tmp_path, tmp_path / "missing").partitions_start == demo_start
    only_stores = _landing(tmp_path / "stores-only", "stores.yaml", "amazon/s1/orders/undated.txt")
    assert _settings(tmp_path, only_stores).partitions_start == demo_start
    # an empty folder is looked at again: the first file to arrive sets the start
    _landing(only_stores, "amazon/s1/orders/2026-05-02.txt")
    assert _settings(tmp_path, only_stores).partitions_start == dt.date(2026, 5, 2)


def test_the_folder_is_scanned_once_per_process_and_afresh_by_a_new_one(tmp_path):
    landing = _landing(tmp_path / "landing", "events/2026-03-03.jsonl")
    assert _settings(tmp_path, landing).partitions_start == dt.date(2026, 3, 3)
    # a file dated earlier arrives: this process keeps the start its definitions were built with ...
    _landing(landing, "amazon/s1/returns/2026-02-20.txt")
    assert _settings(tmp_path, landing).partitions_start == dt.date(2026, 3, 3)
    # ... a new process (`nexus run`, definitions reloaded in the UI) starts at the new file
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(NEXUS_HOME=str(tmp_path / "home"), NEXUS_LANDING_DIR=str(landing))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from nexus_pipelines.lib.config import load_settings as s; print(s().partitions_start)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "2026-02-20"
