"""dbt's documentation site for the project, its catalog read from the configured warehouse.

``dbt docs generate`` parses and compiles the project and reads the warehouse's information
schema for the relations the project builds: catalog.json holds the tables and views that
exist, with their columns and types as they are in the database. With index.html and
manifest.json beside it, that is the whole site (`nexus docs` serves it).

dbt runs with the connection of ``warehouse_url`` (the embedded server or NEXUS_DATABASE_URL)
passed as the environment variables the profile reads (``connection.dbt_env``); without them the
profile falls back to localhost:5432.

The site is written to a folder of its own, ``$NEXUS_HOME/dbt_docs``, not to the project's
``target/``: that folder holds the manifest and parse state the runs read, which a docs build
must not replace under a running job. The project is compiled with its default vars (the SQL of
a full rebuild), not with the daily runs' ``rebuild_from_ops``: with those, compiling would read
``ops.rebuild_ranges`` and the docs would show the last run's dates as the models' code. The
folder keeps its own parse state, so a second build parses only what changed.

``docs_server`` serves the three files of the site (nothing else of the folder: compiled SQL,
logs). It is not ``dbt docs serve``: that server does not reuse its address, so after a browser
has loaded a page it cannot be started on the same port again for a minute (the closed
connections wait in TIME_WAIT), and it answers Ctrl+C with a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .config import Settings
from .files import private_dir, private_umask
from .warehouse.connection import dbt_env

DOCS_FOLDER = "dbt_docs"
TAIL_LINES = 20  # of dbt's output, shown when it fails

_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d  ")  # dbt's "HH:MM:SS  message"
_ERROR_HEADING = re.compile(r"\b(Error|error)\b")


class DocsError(Exception):
    """dbt failed: ``str()`` is one line naming the problem; ``tail`` is dbt's last output lines."""

    def __init__(self, summary: str, tail: list[str], log: Path) -> None:
        super().__init__(summary)
        self.tail = tail
        self.log = log


@dataclass(frozen=True)
class DocsSite:
    """The generated site: ``folder`` holds index.html, manifest.json and catalog.json."""

    folder: Path

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    @property
    def catalog(self) -> Path:
        return self.folder / "catalog.json"

    @property
    def manifest(self) -> Path:
        return self.folder / "manifest.json"

    def models_in_catalog(self) -> tuple[int, int]:
        """(models found in the warehouse, models of the project)."""
        models = {
            key
            for key, node in json.loads(self.manifest.read_text())["nodes"].items()
            if node.get("resource_type") == "model"
        }
        found = json.loads(self.catalog.read_text())["nodes"].keys() & models
        return len(found), len(models)


def docs_dir(settings: Settings) -> Path:
    return settings.home / DOCS_FOLDER


def dbt_executable() -> str:
    """dbt of this interpreter's environment (the venv need not be on PATH), else PATH's."""
    sibling = Path(sys.executable).with_name("dbt")
    return str(sibling) if sibling.exists() else shutil.which("dbt") or "dbt"


def generate_command(settings: Settings) -> list[str]:
    """``dbt docs generate`` of the project into ``docs_dir`` (its log in ``logs/`` there)."""
    folder = docs_dir(settings)
    project = str(settings.dbt_project_dir)
    return [
        dbt_executable(),
        "docs",
        "generate",
        "--no-use-colors",
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        str(folder),
        "--log-path",
        str(folder / "logs"),
    ]


def dbt_process_env(url: str) -> dict[str, str]:
    """This process's environment plus the profile's connection variables for ``url``."""
    return {**os.environ, **dbt_env(url)}


def generate(settings: Settings, url: str) -> DocsSite:
    """Run ``dbt docs generate`` against ``url``, its output captured; raise ``DocsError`` on failure."""
    folder = private_dir(docs_dir(settings))
    log = folder / "logs" / "dbt.log"
    if not settings.dbt_project_dir.is_dir():
        raise DocsError(f"the dbt project folder {settings.dbt_project_dir} does not exist", [], log)
    command = generate_command(settings)
    try:
        with private_umask():
            done = subprocess.run(
                command,
                cwd=settings.dbt_project_dir,
                env=dbt_process_env(url),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
    except OSError as exc:  # no dbt executable
        raise DocsError(f"cannot run {command[0]}: {exc.strerror or exc}", [], log) from exc
    site = DocsSite(folder)
    lines = _lines(done.stdout)
    if done.returncode != 0:
        raise DocsError(
            f"dbt docs generate failed (exit {done.returncode}): {failure_summary(lines)}",
            lines[-TAIL_LINES:],
            log,
        )
    missing = [p.name for p in (site.catalog, site.manifest, site.index) if not p.exists()]
    if missing:
        raise DocsError(
            f"dbt docs generate wrote no {', '.join(missing)} in {folder}", lines[-TAIL_LINES:], log
        )
    return site


def _lines(output: str) -> list[str]:
    """dbt's output lines, without their timestamps and trailing blanks."""
    lines = (_TIMESTAMP.sub("", line).rstrip() for line in output.splitlines())
    return [line for line in lines if line.strip()]


def failure_summary(lines: list[str]) -> str:
    """One line for dbt's failure: its last error heading ("Database Error", "Compilation Error in
    model x") joined with the line after it (the message), else its last line."""
    for i in range(len(lines) - 1, -1, -1):
        heading = lines[i].strip()
        if _ERROR_HEADING.search(heading) and not heading.startswith(("Completed with", "Done.")):
            detail = next((line.strip() for line in lines[i + 1 : i + 2] if line.startswith(" ")), "")
            return f"{heading.rstrip(':')}: {detail}" if detail else heading
    return lines[-1].strip() if lines else "dbt printed nothing"


SITE_FILES = ("index.html", "manifest.json", "catalog.json")


class _SiteHandler(SimpleHTTPRequestHandler):
    """The site's files from its folder (``/`` is index.html); 404 for anything else; no access log."""

    def send_head(self):
        path = urlsplit(self.path).path
        if path.lstrip("/") not in ("", *SITE_FILES):
            self.send_error(HTTPStatus.NOT_FOUND, "not part of the dbt docs")
            return None
        return super().send_head()

    def log_message(self, format, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser's open connection does not hold up Ctrl+C

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser that went away: no trace
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def docs_server(folder: Path, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server of the site in ``folder``, bound to ``(host, port)`` (not serving yet: call
    ``serve_forever``). Raises ``OSError`` when the address cannot be bound (in use, unknown host)."""
    handler = partial(_SiteHandler, directory=str(folder))
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), handler)


def browse_url(host: str, port: int) -> str:
    """The address to open for a server bound to ``host`` (all interfaces: this machine's)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
