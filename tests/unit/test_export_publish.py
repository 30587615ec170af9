"""Publishing an export folder (lib/exports/publish.py): all files or none, a manifest that matches
the files (checked with hashlib), staging folders of killed processes cleaned up, old exports pruned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nexus_pipelines.lib.exports import publish as publishing
from nexus_pipelines.lib.exports.publish import prune, publish, remove_stale_staging


def text_writer(text: str, rows: int):
    def write(path: Path) -> int:
        path.write_text(text, encoding="utf-8")
        return rows

    return write


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def hidden_entries(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def first_export(folder: Path) -> dict[str, bytes]:
    publish(
        folder,
        {"a.csv": text_writer("x\n1\n", 1), "b.csv": text_writer("y\n2\n3\n", 2)},
        meta={"store_id": "s1", "period": "2026-10-03"},
    )
    return snapshot(folder)


def test_publish_writes_the_files_and_a_manifest_that_matches_them(tmp_path):
    folder = tmp_path / "exports" / "s1" / "day" / "2026-10-03"
    seen: list[str] = []

    def workbook(path: Path) -> dict[str, int]:
        path.write_bytes(b"PK\x03\x04 not really a workbook")
        return {"About": 0, "sales": 5}

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    manifest = publish(
        folder,
        {"sales.csv": text_writer("a,b\n1,2\n", 1), "export.xlsx": workbook},
        meta={"store_id": "s1", "period": "2026-10-03", "formats": ["csv", "xlsx"]},
        progress=seen.append,
    )
    after = dt.datetime.now(dt.UTC)
    assert seen == ["sales.csv", "export.xlsx"]
    assert sorted(p.name for p in folder.iterdir()) == ["export.xlsx", "manifest.json", "sales.csv"]
    assert (folder / "sales.csv").read_text() == "a,b\n1,2\n"

    on_disk = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert on_disk["store_id"] == "s1" and on_disk["formats"] == ["csv", "xlsx"]
    assert on_disk["generated_at"].endswith("Z")
    assert before <= dt.datetime.fromisoformat(on_disk["generated_at"]) <= after
    assert on_disk["files"] == [
        {
            "name": "sales.csv",
            "bytes": 8,
            "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
            "rows": 1,
        },
        {
            "name": "export.xlsx",
            "bytes": len(b"PK\x03\x04 not really a workbook"),
            "sha256": hashlib.sha256((folder / "export.xlsx").read_bytes()).hexdigest(),
            "rows": {"About": 0, "sales": 5},
        },
    ]
    assert hidden_entries(folder.parent) == []  # no staging folder left
    for name in ("sales.csv", "export.xlsx", "manifest.json"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failing_writer_leaves_the_previous_files_as_they_were(tmp_path, error):
    folder = tmp_path / "2026-10-03"
    before = first_export(folder)

    def failing(path: Path) -> int:
        path.write_text("half a fi", encoding="utf-8")
        raise error

    seen: list[str] = []
    with pytest.raises(type(error)):
        publish(
            folder,
            {"a.csv": text_writer("new\n", 1), "b.csv": failing, "c.csv": text_writer("c\n", 0)},
            meta={},
            progress=seen.append,
        )
    assert seen == ["a.csv"]
    assert snapshot(folder) == before
    assert hidden_entries(tmp_path) == []


def test_a_writer_that_writes_nothing_or_returns_no_count_fails(tmp_path):
    folder = tmp_path / "2026-10-03"
    before = first_export(folder)
    with pytest.raises(FileNotFoundError, match=r"the writer of a\.csv wrote no file"):
        publish(folder, {"a.csv": lambda path: 1}, meta={})
    with pytest.raises(TypeError, match=r"the writer of a\.csv returned 'x'"):
        publish(folder, {"a.csv": lambda path: path.write_text("x") and "x"}, meta={})
    assert snapshot(folder) == before
    assert hidden_entries(tmp_path) == []


@pytest.mark.parametrize("name", ["../evil.csv", "sub/a.csv", "manifest.json", ".hidden", ""])
def test_file_names_that_are_not_plain_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="is not a file name an export can have"):
        publish(tmp_path / "out", {name: text_writer("x", 1)}, meta={})
    assert list(tmp_path.iterdir()) == []


def test_files_of_the_previous_export_no_longer_produced_are_removed_others_kept(tmp_path):
    folder = tmp_path / "2026-10-03"
    first_export(folder)
    (folder / "notes.txt").write_text("mine")
    manifest = publish(folder, {"a.csv": text_writer("x\n9\n", 1)}, meta={})
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv", "manifest.json", "notes.txt"]
    assert (folder / "a.csv").read_text() == "x\n9\n"
    assert (folder / "notes.txt").read_text() == "mine"
    assert [f["name"] for f in manifest["files"]] == ["a.csv"]


SLOW_PUBLISH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nexus_pipelines.lib.exports.publish import publish

    folder, ready = Path(sys.argv[1]), Path(sys.argv[2])

    def slow(path):
        path.write_text("partial")
        ready.write_text("writing")
        time.sleep(60)
        return 1

    publish(folder, {"a.csv": lambda p: p.write_text("killed run") and 1, "b.csv": slow}, meta={})
    """
)


def test_a_killed_publish_leaves_the_previous_files_and_its_staging_is_cleaned_next_time(tmp_path):
    folder = tmp_path / "2026-10-03"
    before = first_export(folder)
    ready = tmp_path / "ready"
    process = subprocess.Popen([sys.executable, "-c", SLOW_PUBLISH, str(folder), str(ready)])
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, "the publishing process ended early"
            assert time.monotonic() < deadline, "the publishing process never reached its slow writer"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    staging = [n for n in hidden_entries(tmp_path) if n.startswith(".2026-10-03.tmp-")]
    assert staging == [f".2026-10-03.tmp-{process.pid}-{staging[0].rsplit('-', 1)[1]}"]
    assert sorted(p.name for p in (tmp_path / staging[0]).iterdir()) == ["a.csv", "b.csv"]
    assert snapshot(folder) == before

    # the next export into the same parent (here of another day) removes the stale staging folder
    publish(tmp_path / "2026-10-04", {"a.csv": text_writer("z\n", 0)}, meta={})
    assert hidden_entries(tmp_path) == []
    assert snapshot(folder) == before


def test_only_stale_staging_folders_are_removed(tmp_path):
    alive = tmp_path / f".day.tmp-{os.getpid()}-00aa"  # this process: in use
    old = tmp_path / f".week.tmp-{os.getpid()}-00bb"  # in use by a live process, but 2 hours old
    other = tmp_path / ".cache"  # not a staging folder
    gone = tmp_path / ".month.tmp-999999999-00cc"  # no such process
    for path in (alive, old, other, gone):
        path.mkdir()
        (path / "f").write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    removed = remove_stale_staging(tmp_path)
    assert sorted(p.name for p in removed) == sorted([old.name, gone.name])
    assert hidden_entries(tmp_path) == sorted([alive.name, other.name])


def test_ctrl_c_while_moving_the_files_is_delivered_afterwards():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be set in the main thread")
    handler = signal.getsignal(signal.SIGINT)
    done = []
    with pytest.raises(KeyboardInterrupt), publishing._interrupts_deferred():
        signal.raise_signal(signal.SIGINT)
        done.append("moved")
    assert done == ["moved"]
    assert signal.getsignal(signal.SIGINT) is handler


# --- prune ----------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC)


def export_folder(root: Path, relative: str, generated_at: str) -> Path:
    folder = root / relative
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("x\n")
    (folder / "manifest.json").write_text(json.dumps({"generated_at": generated_at, "files": []}))
    return folder


def test_prune_removes_only_exports_older_than_the_retention(tmp_path):
    root = tmp_path / "exports"
    old = export_folder(root, "s1/day/2026-09-30", "2026-10-01T11:59:59Z")  # 30 days and 1 s
    kept = export_folder(root, "s1/day/2026-10-01", "2026-10-01T12:00:01+00:00")  # 1 s short of 30 days
    lonely = export_folder(root, "s2/week/2026-W38", "2026-09-20T00:00:00Z")
    no_manifest = root / "s3" / "day" / "2026-01-01"
    no_manifest.mkdir(parents=True)
    (no_manifest / "a.csv").write_text("x")
    broken = export_folder(root, "s3/day/2026-01-02", "not a date")

    removed = prune(root, 30, NOW)
    assert sorted(removed) == sorted([old, lonely])
    assert not old.exists() and not lonely.exists()
    assert not (root / "s2").exists()  # left empty: removed up to the root
    assert kept.is_dir() and (kept / "a.csv").exists()
    assert no_manifest.is_dir() and broken.is_dir()
    assert (root / "s1" / "day").is_dir() and root.is_dir()


def test_prune_with_no_retention_keeps_everything(tmp_path):
    root = tmp_path / "exports"
    old = export_folder(root, "s1/day/2020-01-01", "2020-01-02T00:00:00Z")
    assert prune(root, 0, NOW) == []
    assert prune(root, -1, NOW) == []
    assert old.is_dir()
    assert prune(tmp_path / "missing", 30, NOW) == []


def test_prune_leaves_the_root_and_staging_folders_alone(tmp_path):
    root = tmp_path / "exports"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"generated_at": "2020-01-01T00:00:00Z"}))
    staging = export_folder(root, ".2026-10-03.tmp-1-ab", "2020-01-01T00:00:00Z")
    assert prune(root, 1, NOW) == []
    assert staging.is_dir() and (root / "manifest.json").exists()
