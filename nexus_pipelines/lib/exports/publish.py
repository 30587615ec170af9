"""Publishing an export folder safely, and removing old ones.

``publish`` writes every file of an export into a hidden staging folder beside the export folder
first; only when all of them are complete (and flushed to disk) are they moved into the folder,
one ``os.replace`` each, and ``manifest.json`` last. A failure or an interruption while writing
leaves the files already in the folder as they were, and the staging folder is removed. A staging
folder left behind by a killed process (``.<folder>.tmp-<pid>-<random>``) is removed by the next
``publish`` into the same parent once its process is gone or it is more than an hour old.

The manifest lists each file with its size, SHA-256 and row count, so a reader can check that
the files belong to one export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

from nexus_pipelines.lib.files import DIR_MODE, private_dir, private_umask, write_private_bytes

MANIFEST = "manifest.json"
STALE_AFTER_SECONDS = 3600
_STAGING = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]+$")

Writer = Callable[[Path], int | dict[str, int]]


def publish(
    folder: Path,
    writers: Mapping[str, Writer],
    *,
    meta: dict[str, Any],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write the files of one export into ``folder``; returns the manifest written with them.

    ``writers`` maps each file name to a function that writes that file at the path it is given
    (a temporary one) and returns its row count (or the rows per sheet of a workbook).
    ``progress(name)`` is called after each file is written. The manifest is ``meta`` with
    ``generated_at`` (now, UTC) and ``files`` (name, bytes, sha256, rows) added. Files of a
    previous export in ``folder`` that this one no longer produces are removed; other files are
    left alone.
    """
    folder = Path(folder)
    for name in writers:
        _check_file_name(name, folder)
    parent = folder.parent
    private_dir(parent)
    remove_stale_staging(parent)
    staging = _make_staging(folder)
    try:
        files: list[dict[str, Any]] = []
        for name, writer in writers.items():
            temp = staging / name
            with private_umask():
                rows = writer(temp)
            if not temp.is_file():
                raise FileNotFoundError(f"{folder / name}: the writer of {name} wrote no file")
            size, digest = _sync_and_hash(temp)
            files.append({"name": name, "bytes": size, "sha256": digest, "rows": _rows(rows, name, folder)})
            if progress is not None:
                progress(name)
        manifest = {**meta, "generated_at": _utc_text(dt.datetime.now(dt.UTC)), "files": files}
        manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n").encode()
        write_private_bytes(staging / MANIFEST, manifest_bytes)
        _sync_dir(staging)
        previous = _previous_files(folder)
        private_dir(folder)
        with _interrupts_deferred():
            for entry in files:
                os.replace(staging / entry["name"], folder / entry["name"])
            _sync_dir(folder)
            os.replace(staging / MANIFEST, folder / MANIFEST)
            _sync_dir(folder)
        produced = {entry["name"] for entry in files}
        for name in sorted(previous - produced):
            with suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                (folder / name).unlink()
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(parent: Path, *, now: float | None = None) -> list[Path]:
    """Remove the staging folders in ``parent`` that no running ``publish`` uses any more.

    A staging folder is stale when the process named in it is gone or it was last changed more
    than an hour ago. Returns the folders removed.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(parent))
    except FileNotFoundError:
        return []
    for entry in entries:
        match = _STAGING.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        if age > STALE_AFTER_SECONDS or not _process_alive(int(match["pid"])):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def prune(root: Path, retention_days: int, now: dt.datetime) -> list[Path]:
    """Remove the export folders under ``root`` generated more than ``retention_days`` ago.

    An export folder is one holding a ``manifest.json`` with a ``generated_at``; folders without a
    readable manifest are kept. Parents left empty are removed too (``root`` itself never).
    ``retention_days <= 0`` keeps everything. Returns the export folders removed.
    """
    root = Path(root)
    if retention_days <= 0 or not root.is_dir():
        return []
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    cutoff = now - dt.timedelta(days=retention_days)
    old: list[Path] = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # staging folders are hidden
        here = Path(current)
        if here == root or MANIFEST not in names:
            continue
        generated = _generated_at(here / MANIFEST)
        if generated is not None and generated < cutoff:
            old.append(here)
            dirs[:] = []  # removed with this folder
    for folder in old:
        shutil.rmtree(folder)
        parent = folder.parent
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
    return old


# --- internals --------------------------------------------------------------------------------------


def _check_file_name(name: str, folder: Path) -> None:
    if (
        not name
        or name in {".", "..", MANIFEST}
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise ValueError(f"{folder}: {name!r} is not a file name an export can have")


def _make_staging(folder: Path) -> Path:
    for _ in range(100):
        staging = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(staging, DIR_MODE)
        except FileExistsError:
            continue
        return staging
    raise FileExistsError(f"no free staging folder name beside {folder}")


def _rows(rows: Any, name: str, folder: Path) -> int | dict[str, int]:
    if isinstance(rows, int) and not isinstance(rows, bool):
        return rows
    if isinstance(rows, Mapping) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in rows.items()
    ):
        return dict(rows)
    raise TypeError(
        f"{folder / name}: the writer of {name} returned {rows!r}, not a row count or rows per sheet"
    )


def _sync_and_hash(path: Path) -> tuple[int, str]:
    """Flush ``path`` to disk; its size and SHA-256 (hex)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(handle.fileno())
    return size, digest.hexdigest()


def _sync_dir(path: Path) -> None:
    """Flush the entries of a folder (its renames) to disk, where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _previous_files(folder: Path) -> set[str]:
    """The file names listed by the manifest already in ``folder`` (none when it is unreadable)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        return set()
    names = set()
    for entry in files:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            try:
                _check_file_name(name, folder)
            except ValueError:
                continue
            names.add(name)
    return names


def _generated_at(path: Path) -> dt.datetime | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        value = dt.datetime.fromisoformat(manifest["generated_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) while the files are moved into place, then deliver it.

    Only the main thread can set signal handlers; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif previous != signal.SIG_IGN:
            signal.raise_signal(signal.SIGINT)
