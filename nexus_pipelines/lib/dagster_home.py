"""DAGSTER_HOME for NEXUS: a dagster.yaml that stores runs, schedules and event logs in PostgreSQL.

The storage URL is not written into the file: dagster.yaml reads it from the environment variable
NEXUS_DAGSTER_STORAGE_URL, which ``prepare_dagster_home`` sets from the configuration. Dagster hands
it to SQLAlchemy, which only parses URLs: a libpq key=value string (``host=... dbname=...``, which
NEXUS_DATABASE_URL may be) is turned into the same connection as a ``postgresql://`` URL first.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import quote, urlencode

import yaml
from psycopg.conninfo import conninfo_to_dict

from .config import Settings
from .files import private_dir, write_private_text
from .warehouse.connection import dagster_storage_url

STORAGE_URL_ENV = "NEXUS_DAGSTER_STORAGE_URL"


def dagster_yaml() -> dict:
    return {
        "storage": {"postgres": {"postgres_url": {"env": STORAGE_URL_ENV}}},
        "telemetry": {"enabled": False},
        # one run at a time: the schedule, the sensor and the UI queue behind each other (their
        # windows overlap); `nexus run` runs in-process and waits on the warehouse locks instead
        "run_queue": {"max_concurrent_runs": 1},
        # a run whose worker process died is marked failed instead of staying STARTED
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 300, "poll_interval_seconds": 60},
        "nux": {"enabled": False},
    }


def prepare_dagster_home(settings: Settings) -> Path:
    """Write $NEXUS_HOME/dagster/dagster.yaml and export DAGSTER_HOME and the storage URL.

    The folder is created 0700 (Dagster keeps run logs in it) and dagster.yaml is written 0600.
    """
    home = private_dir(settings.dagster_home)
    text = yaml.safe_dump(dagster_yaml(), sort_keys=False)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text() != text:
        write_private_text(target, text)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ[STORAGE_URL_ENV] = sqlalchemy_psycopg2_url(dagster_storage_url(settings))
    return home


# a host name as the authority of a URL takes it (a unix socket directory, an abstract socket or a
# list of hosts does not)
_HOST_NAME = re.compile(
    r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?"
)


def _netloc_host(host: str) -> str | None:
    """``host`` as it is written in a URL's authority, or None when it has to go in the query."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host if _HOST_NAME.fullmatch(host) else None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def conninfo_url(conninfo: str) -> str:
    """A libpq key=value connection string as a ``postgresql://`` URL to the same server; a URL is
    returned unchanged.

    User, password and database are percent-encoded; a TCP host (and its port) goes into the
    authority; a unix socket directory, or a list of hosts, goes into a ``host=`` query parameter
    (with ``port=`` beside it), as in the embedded server's URL; every other parameter (sslmode,
    options, ...) becomes a query parameter.
    """
    if "://" in conninfo or not conninfo.strip():
        return conninfo
    params = {key: str(value) for key, value in conninfo_to_dict(conninfo).items() if value not in (None, "")}
    user, password = params.pop("user", None), params.pop("password", None)
    host, port = params.pop("host", None), params.pop("port", None)
    dbname = params.pop("dbname", None)

    userinfo = ""
    if user is not None or password is not None:
        userinfo = quote(user or "", safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        userinfo += "@"
    query: dict[str, str] = {}
    netloc_host = _netloc_host(host) if host is not None else None
    if netloc_host is not None:
        authority = netloc_host + (f":{port}" if port is not None else "")
    else:  # a socket, a list of hosts, or none (libpq's default socket)
        authority = ""
        query.update({key: value for key, value in (("host", host), ("port", port)) if value is not None})
    query.update(params)
    path = "/" + quote(dbname, safe="") if dbname is not None else "/"
    suffix = "?" + urlencode(query, quote_via=quote, safe="/") if query else ""
    return f"postgresql://{userinfo}{authority}{path}{suffix}"


def sqlalchemy_psycopg2_url(url: str) -> str:
    """dagster-postgres needs the psycopg2 driver (its NOTIFY with a bound parameter fails on psycopg 3,
    which SQLAlchemy picks by default for postgresql:// URLs). A libpq key=value string is turned
    into a URL first (``conninfo_url``)."""
    url = conninfo_url(url)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url
