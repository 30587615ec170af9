"""`nexus docs`: dbt's documentation site, its catalog built from the configured warehouse.

``dbt docs generate`` runs against the warehouse (the embedded server, started if needed, or
NEXUS_DATABASE_URL), quietly: its output is shown only when it fails. The site is written to
``$NEXUS_HOME/dbt_docs`` (``lib/dbt_docs.py``), then served on http://HOST:PORT until Ctrl+C
(``--no-serve``: generate only). `nexus demo` generates it at the end of a successful run.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

import click
from psycopg.conninfo import conninfo_to_dict

from .lib import dbt_docs
from .lib.config import Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _generate(settings: Settings, url: str) -> dbt_docs.DocsSite:
    try:
        return dbt_docs.generate(settings, url)
    except dbt_docs.DocsError as exc:
        if not exc.tail:
            raise click.ClickException(str(exc)) from exc
        shown = "\n".join(f"  {line}" for line in exc.tail)
        raise click.ClickException(
            f"{exc}\ndbt's last output lines (the whole log: {exc.log}):\n{shown}"
        ) from exc


def generate_docs(settings: Settings) -> dbt_docs.DocsSite:
    """Generate the site against the configured warehouse; a ``ClickException`` when dbt fails."""
    from .lib.warehouse.connection import warehouse_url

    return _generate(settings, warehouse_url(settings))


@click.command(
    "docs",
    help="Generate dbt's documentation site (its catalog read from the warehouse) and serve it "
    "on http://HOST:PORT until Ctrl+C.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Port to serve the docs on.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--no-serve", is_flag=True, help="Generate only, and print where the files are.")
def docs(port: int, host: str, no_serve: bool) -> None:
    from .lib.warehouse.connection import warehouse_url

    settings = _settings()
    server = None if no_serve else _bind(settings, host, port)  # a taken port is known at once
    try:
        url = warehouse_url(settings)
        click.echo(f"generating the dbt docs from the warehouse ({_describe(settings, url)}) ...")
        site = _generate(settings, url)
        found, total = site.models_in_catalog()
        click.echo(f"catalog: {site.catalog} ({found} of {total} models built in the warehouse)")
        click.echo(f"site: {site.index}")
        if server is None:
            return
        click.echo(f"serving the dbt docs: open {dbt_docs.browse_url(host, port)} (Ctrl+C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped serving the dbt docs")
    finally:
        if server is not None:
            server.server_close()


def _bind(settings: Settings, host: str, port: int) -> ThreadingHTTPServer:
    try:
        return dbt_docs.docs_server(dbt_docs.docs_dir(settings), host, port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve on {host}:{port}: {exc.strerror or exc} (choose another --port or --host)"
        ) from exc


def _describe(settings: Settings, url: str) -> str:
    """Where the catalog is read from, without credentials."""
    if settings.embedded:
        return f"embedded PostgreSQL, data in {settings.pgdata}"
    params = conninfo_to_dict(url)
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}/{params.get('dbname') or ''}"
    return f"NEXUS_DATABASE_URL, {where}"
