"""Private folders and files (lib/files.py): modes checked with os.stat under a permissive umask."""

from __future__ import annotations

import os
import stat

import pytest

from nexus_pipelines.lib import files
from nexus_pipelines.lib.files import private_dir, private_umask, write_private_bytes, write_private_text


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def permissive_umask():
    """0o022, as on most systems: without care, files come out 0644 and folders 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_private_dir_creates_every_missing_folder_0700(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert private_dir(target) == target
    for folder in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert folder.is_dir()
        assert mode(folder) == 0o700, folder


def test_private_dir_leaves_existing_folders_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o775)  # e.g. a landing folder shared with an upload process
    private_dir(shared)
    assert mode(shared) == 0o775
    private_dir(shared / "new" / "deeper")
    assert mode(shared) == 0o775
    assert mode(shared / "new") == 0o700
    assert mode(shared / "new" / "deeper") == 0o700


def test_private_dir_accepts_a_str_and_an_existing_path(tmp_path):
    assert private_dir(str(tmp_path / "x")) == tmp_path / "x"
    assert private_dir(tmp_path / "x") == tmp_path / "x"
    assert mode(tmp_path / "x") == 0o700


def test_private_dir_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        private_dir(tmp_path / "file")
    with pytest.raises((FileExistsError, NotADirectoryError)):
        private_dir(tmp_path / "file" / "below")


def test_write_private_text_writes_0600_in_0700_folders(tmp_path):
    target = tmp_path / "new" / "folder" / "file.txt"
    write_private_text(target, "zoë\nline two\n")
    assert target.read_bytes() == "zoë\nline two\n".encode()
    assert mode(target) == 0o600
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "folder") == 0o700


@pytest.mark.parametrize("durable", [True, False])
def test_write_private_bytes_writes_0600(tmp_path, durable):
    target = tmp_path / "data.bin"
    write_private_bytes(target, b"\x00\x01\xff", durable=durable)
    assert target.read_bytes() == b"\x00\x01\xff"
    assert mode(target) == 0o600


def test_replacing_a_readable_file_makes_it_0600_and_keeps_no_temp_file(tmp_path):
    target = tmp_path / "addresses.txt"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    write_private_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert mode(target) == 0o600
    assert os.listdir(tmp_path) == ["addresses.txt"]


def test_the_existing_folder_of_a_written_file_keeps_its_mode(tmp_path):
    os.chmod(tmp_path, 0o755)
    write_private_text(tmp_path / "file.txt", "x")
    assert mode(tmp_path) == 0o755
    assert mode(tmp_path / "file.txt") == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "file.txt"
    write_private_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_private_text(target, "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


def test_private_umask_makes_library_writes_private_and_restores_the_umask(tmp_path):
    with private_umask():
        (tmp_path / "made").mkdir()
        with open(tmp_path / "made" / "plain.csv", "w") as handle:
            handle.write("a,b\n")
    assert mode(tmp_path / "made") == 0o700
    assert mode(tmp_path / "made" / "plain.csv") == 0o600
    assert os.umask(0o022) == 0o022  # restored (os.umask returns the one it replaces)


def test_private_umask_is_restored_after_an_exception():
    with pytest.raises(RuntimeError), private_umask():
        raise RuntimeError("boom")
    assert os.umask(0o022) == 0o022
