"""`nexus bi`: read-only users for BI tools (Metabase, Superset, Tableau, psql).

A BI user is a PostgreSQL login role, member of ``nexus_bi_reader`` (every store) or
``nexus_bi_store_reader`` (the stores given with ``--stores``, enforced by row-level security);
``lib/warehouse/bi.py`` has the grants. Passwords are generated (or taken from
``NEXUS_BI_PASSWORD``), printed once and stored only as a SCRAM verifier by the server.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import click

from .lib.config import Settings, load_settings


def _context() -> tuple[Settings, str]:
    from .lib.warehouse.connection import warehouse_url

    settings = load_settings()
    return settings, warehouse_url(settings)


def _schemas() -> tuple[str, ...]:
    from .defs.dbt.project import bi_schemas, nexus_dbt_project, prepare

    prepare(nexus_dbt_project)
    return bi_schemas()


def _password() -> tuple[str, bool]:
    """(password, whether it was generated)."""
    from .lib.warehouse.bi import generate_password

    given = load_settings().bi_password
    if given:
        if len(given) < 12:
            raise click.UsageError("NEXUS_BI_PASSWORD must have at least 12 characters")
        return given, False
    return generate_password(), True


def _stores(_ctx, _param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    stores = [s.strip() for s in value.split(",")]
    if not all(stores):
        raise click.BadParameter(
            f"{value!r}: give store ids separated by commas, e.g. --stores us-main,eu-de"
        )
    return stores


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def _show_password(name: str, password: str, generated: bool) -> None:
    if generated:
        click.echo(f"password of {name} (shown only now; keep it in your BI tool's connection settings):")
        click.echo(password)
    else:
        click.echo(f"password of {name}: the one in NEXUS_BI_PASSWORD")


@click.group(
    help="Read-only users for BI tools: add-user, list, remove, rotate-password, url. "
    "Each reads the marts and analytics tables of every store or of its stores only."
)
def bi() -> None:
    pass


@bi.command(
    "add-user",
    help="Create a BI user (or change an existing one's stores) and print its password once. "
    "Exactly one of --stores and --all-stores.",
)
@click.argument("name")
@click.option("--stores", callback=_stores, default=None, help="Comma-separated store ids the user may read.")
@click.option("--all-stores", is_flag=True, help="The user reads every store.")
def add_user(name: str, stores: list[str] | None, all_stores: bool) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from .lib.warehouse import bi as bi_access
    from .lib.warehouse.connection import same_server_dagster_database

    if (stores is None) == (not all_stores):
        raise click.UsageError("give exactly one of --stores S1,S2 and --all-stores")
    try:
        bi_access.check_name(name)
    except bi_access.BiError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    password, generated = _password()
    settings, url = _context()
    try:
        user, created, report = bi_access.add_user(
            url,
            name,
            stores,
            password,
            _schemas(),
            dagster_database=same_server_dagster_database(settings, url),
        )
    except bi_access.BiError as exc:
        raise _fail(exc) from exc
    for line in report.lines():
        click.echo(f"warning: {line}", err=True)
    database = conninfo_to_dict(url).get("dbname")
    if created:
        click.echo(f"created BI user {name} ({user.scope}) on database {database}")
        click.echo(f"connection settings: `nexus bi url {name}`")
        _show_password(name, password, generated)
    else:
        click.echo(
            f"BI user {name} exists: now reads {user.scope}; password unchanged (`nexus bi rotate-password {name}`)"
        )


@bi.command("list", help="The BI users and the stores each reads.")
def list_users() -> None:
    from .lib.warehouse import bi as bi_access

    _settings, url = _context()
    users = bi_access.list_users(url)
    if not users:
        click.echo("no BI users: `nexus bi add-user NAME --all-stores` (or --stores S1,S2) creates one")
        return
    width = max(len(u.name) for u in users)
    click.echo(f"{'user':<{width}}  stores")
    for user in users:
        login = "" if user.can_login else "  (cannot log in)"
        click.echo(f"{user.name:<{width}}  {user.scope}{login}")


@bi.command(help="Remove a BI user (its login role).")
@click.argument("name")
def remove(name: str) -> None:
    from .lib.warehouse import bi as bi_access

    _settings, url = _context()
    try:
        bi_access.remove_user(url, name)
    except bi_access.BiError as exc:
        raise _fail(exc) from exc
    click.echo(f"removed BI user {name}")


@bi.command("rotate-password", help="Give a BI user a new password, printed once; the old one stops working.")
@click.argument("name")
def rotate_password(name: str) -> None:
    from .lib.warehouse import bi as bi_access

    password, generated = _password()
    _settings, url = _context()
    try:
        bi_access.rotate_password(url, name, password)
    except bi_access.BiError as exc:
        raise _fail(exc) from exc
    click.echo(f"new password set for {name}")
    _show_password(name, password, generated)


def tcp_endpoint(settings: Settings, url: str) -> tuple[str, int]:
    """Host and port a BI tool connects to; a usage error when the server has no TCP listener."""
    from psycopg.conninfo import conninfo_to_dict

    from .lib.warehouse import embedded

    if settings.embedded:
        status = embedded.status(settings)
        if not status.listen_host:
            raise click.ClickException(
                "the embedded server listens on its unix socket only, which BI tools cannot reach: "
                "`nexus db stop`, then `nexus db start --listen 127.0.0.1:5433` "
                "(or set NEXUS_DB_LISTEN=127.0.0.1:5433)"
            )
        host = status.listen_host
        if host in ("*", "0.0.0.0", "::"):
            host = "<this machine's address>"
        return host, int(status.port or 5432)
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "localhost")
    if host.startswith("/"):
        raise click.ClickException(
            f"NEXUS_DATABASE_URL connects through the unix socket {host}: give BI tools the server's TCP address"
        )
    return host, int(params.get("port") or 5432)


@bi.command(help="Host, port, database and user for a BI tool's connection form.")
@click.argument("name")
def url(name: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from .lib.warehouse import bi as bi_access

    settings, warehouse = _context()
    if name not in {u.name for u in bi_access.list_users(warehouse)}:
        raise click.ClickException(f"no BI user {name}; `nexus bi list` shows them")
    host, port = tcp_endpoint(settings, warehouse)
    database = str(conninfo_to_dict(warehouse).get("dbname"))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"host      {host}")
    click.echo(f"port      {port}")
    click.echo(f"database  {database}")
    click.echo(f"user      {name}")
    click.echo("password  the one `nexus bi add-user` printed (`nexus bi rotate-password` for a new one)")
    click.echo(f"url       postgresql://{quote(name)}@{shown}:{port}/{quote(database)}")
    if re.fullmatch(r"127\.\d+\.\d+\.\d+|localhost|::1", host):
        click.echo(
            "note      a BI tool in a container reaches this machine as host.docker.internal (or its address), "
            "not 127.0.0.1: listen on an address it can reach, e.g. --listen 0.0.0.0:5433"
        )
