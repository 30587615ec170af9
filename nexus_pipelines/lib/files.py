"""Private folders and files: NEXUS_HOME and the landing folder hold customer data (ship addresses)
that other local users must not read.

Folders the project creates are 0700 and files it writes are 0600 (a umask can narrow these modes,
never widen them).
``private_dir`` only sets the mode of the folders it creates: a folder that already exists keeps
its mode (a landing folder the user made may be shared with an upload process on purpose).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """``mkdir -p path``: every folder created on the way gets mode 0700; returns ``path``.

    Folders that already exist (``path`` itself included) are not changed. The mode is set by
    ``mkdir`` and masked by the umask like any other, so it is never wider than 0700. A folder
    another process creates at the same moment counts as existing. Raises ``FileExistsError`` when
    ``path`` or one of its parents is something other than a folder.
    """
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
    return path


def write_private_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (its folder made with ``private_dir``).

    The bytes go to a temporary file next to ``path`` (a hidden ``.<name>.<random>.tmp``, created
    0600), are flushed to disk (``fsync``) and then renamed over ``path``: a reader sees the old
    file or the new one, never a part. An existing ``path`` is replaced by a new file, so it ends
    up 0600 and owned by the writing user whatever it was before (a symbolic link is replaced, not
    followed). ``durable=False`` skips the ``fsync``, for many files that can be written again
    (demo data): the rename stays atomic, but a crash of the machine may leave an empty file.
    """
    path = Path(path)
    private_dir(path.parent)
    fd, temp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_private_text(path: Path, text: str, *, durable: bool = True) -> None:
    """``write_private_bytes`` of ``text`` in UTF-8 (line endings are written as they are)."""
    write_private_bytes(path, text.encode("utf-8"), durable=durable)


@contextmanager
def private_umask() -> Iterator[None]:
    """Set the umask to 0o077 for the duration of the block, then restore the previous one.

    For code that lets libraries create files and folders (csv, gzip, ...): they come out 0600
    and 0700 (new ones only: an existing file that is opened for writing keeps its mode). The umask
    belongs to the process: other threads creating files meanwhile are affected too.
    """
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside ``path``, opened for writing with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, flags, FILE_MODE), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")
