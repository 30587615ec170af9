"""`nexus api`: serve the metrics API and the event collector; make, list and revoke their keys.

``nexus api [--host 127.0.0.1] [--port 8000]`` serves ``api.app.create_app()`` with uvicorn.
Keys live in ``ops.api_keys`` (``lib/warehouse/api_keys.py``): only a digest of each is kept, so
a token is printed once, when it is made, as the last line of `add-key`'s output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from .lib.config import load_settings

if TYPE_CHECKING:
    from .lib.warehouse.api_keys import ApiKey


def _url() -> str:
    from .lib.warehouse.connection import warehouse_url

    return warehouse_url(load_settings())


@contextmanager
def _database() -> Iterator[str]:
    """The warehouse URL; a failing database is a one-line error (exit 1), not a traceback."""
    import psycopg

    try:
        yield _url()
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"the warehouse database cannot be reached: {first}") from exc


def _stores(_ctx, _param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    stores = [s.strip() for s in value.split(",")]
    if not all(stores):
        raise click.BadParameter(f"{value!r}: give store ids separated by commas, e.g. --stores 101,202")
    return list(dict.fromkeys(stores))


def _serve(host: str, port: int) -> None:
    import uvicorn

    from .api.app import create_app
    from .api.ratelimit import RateLimiter

    try:
        limiter = RateLimiter.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    app = create_app(limiter=limiter)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"NEXUS API on http://{shown}:{port} (OpenAPI at /docs); Ctrl-C stops it", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "note: reachable from other machines; put a TLS-terminating proxy in front, keys travel in headers",
            err=True,
        )
    # the API writes one JSON line per request itself (logger nexus.api): no access log
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@click.group(
    "api",
    invoke_without_command=True,
    help="Serve the metrics API (and the event collector) on http://HOST:PORT; "
    "add-key, list-keys and revoke manage the keys that call it.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port to listen on."
)
@click.pass_context
def api(ctx: click.Context, host: str, port: int) -> None:
    if ctx.invoked_subcommand is None:
        _serve(host, port)


def _unknown_stores(url: str, stores: list[str]) -> list[str]:
    """Those of ``stores`` that marts.dim_store does not have (none when it does not exist yet)."""
    import psycopg

    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('marts.dim_store')").fetchone() == (None,):
            return []
        known = {
            str(r[0])
            for r in conn.execute(
                "select store_id::text from marts.dim_store where store_id::text = any(%s)", (stores,)
            )
        }
    return [s for s in stores if s not in known]


@api.command(
    "add-key",
    help="Make an API key and print its token once (the last line). Exactly one of --stores, "
    "--all-stores (read keys of the metrics API) and --write (a key of the event collector).",
)
@click.option(
    "--stores", callback=_stores, default=None, help="Comma-separated store ids the read key may read."
)
@click.option("--all-stores", is_flag=True, help="A read key of every store, present and future.")
@click.option(
    "--write", is_flag=True, help="A write key for the event collector (POST /v1/track, /v1/batch, ...)."
)
@click.option("--label", default=None, help="A note shown by list-keys, e.g. who or what uses the key.")
def add_key(stores: list[str] | None, all_stores: bool, write: bool, label: str | None) -> None:
    if [stores is not None, all_stores, write].count(True) != 1:
        raise click.UsageError("give exactly one of --stores S1,S2, --all-stores and --write")
    with _database() as url:
        key, token = _make_key(url, stores, write, label)
    labelled = f", label {key.label!r}" if key.label else ""
    click.echo(f"created {key.kind} key {key.key_id} ({key.scope}{labelled})")
    if write:
        click.echo(
            "the token (shown only now) is the collector's write key: HTTP basic auth user, empty password:"
        )
    else:
        click.echo("the token (shown only now) goes in the header `Authorization: Bearer <token>`:")
    click.echo(token)


def _make_key(url: str, stores: list[str] | None, write: bool, label: str | None) -> tuple[ApiKey, str]:
    from .lib.warehouse import api_keys

    if write:
        return api_keys.add_key(url, "write", label=label)
    for store in _unknown_stores(url, stores) if stores else []:
        click.echo(f"warning: the warehouse has no store {store} (yet)", err=True)
    return api_keys.add_key(url, "read", stores=stores, label=label)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@api.command("list-keys", help="The API keys: id, kind, scope, label, created, revoked (never the tokens).")
def list_keys() -> None:
    from .lib.warehouse import api_keys

    with _database() as url:
        keys = api_keys.list_keys(url)
    if not keys:
        click.echo("no API keys: `nexus api add-key --stores S1,S2` (or --all-stores, --write) makes one")
        return
    rows = [("id", "kind", "scope", "label", "created", "revoked")] + [
        (k.key_id, k.kind, k.scope, k.label or "-", _when(k.created_at), _when(k.revoked_at)) for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@api.command(
    help="Revoke an API key by its id (as list-keys shows it); a running server refuses it within 5 seconds."
)
@click.argument("key_id")
def revoke(key_id: str) -> None:
    from .lib.warehouse import api_keys

    key_id = key_id.strip()
    if key_id.startswith(("nxk_", "nxw_")):  # a whole token pasted: name only its id, never echo the secret
        key_id = key_id.split("_")[1]
    with _database() as url:
        found = api_keys.revoke(url, key_id)
    if not found:
        raise click.ClickException(f"no API key {key_id!r}; `nexus api list-keys` shows them")
    click.echo(f"revoked key {key_id}")
