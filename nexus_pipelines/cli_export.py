"""`nexus export`: one store's figures for a period as CSV, JSON, Excel and a PDF report.

    nexus export --store S (--period 2026-10 | --week 2026-W41 | --day 2026-10-03)
                 [--format csv,json,xlsx,pdf] [--out DIR]

Without a period it writes the latest complete day, ISO week and month as of the store's last
day with data, as the daily run does. Files go to ``$NEXUS_HOME/exports/<store>/<grain>/<period>/``
(``--out DIR`` writes into DIR instead), each complete before it replaces an earlier one, with a
``manifest.json`` listing every file's sha256 and rows. A progress bar shows the files written.
"""

from __future__ import annotations

from pathlib import Path

import click

from .lib.config import EXPORT_FORMATS, load_settings, parse_formats


def _formats(_ctx, _param, value):
    if value is None:
        return load_settings().export_formats
    try:
        return parse_formats(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--format: ")) from exc


def _period_option(grain: str):
    def parse(_ctx, _param, value):
        from .lib.exports import periods

        if value is None:
            return None
        try:
            return periods.parse(value, grain)  # type: ignore[arg-type]
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc

    return parse


HELP = """One store's figures for a period as CSV, JSON, Excel and a PDF report.

\b
  nexus export --store S --week 2026-W41
  nexus export --store S --period 2026-10 --format xlsx,pdf --out ~/reports

Without --period/--week/--day it writes the latest complete day, ISO week and month as of the
store's last day with data, as the daily run does. Files go to
$NEXUS_HOME/exports/<store>/<grain>/<period>/ (or --out DIR), each complete before it replaces
an earlier one, with a manifest.json listing every file's sha256 and rows.
"""


@click.command(name="export", help=HELP)
@click.option("--store", "store_id", required=True, help="Store id (as in stores.yaml).")
@click.option("--period", "month", callback=_period_option("month"), help="A month, YYYY-MM (2026-10).")
@click.option("--week", callback=_period_option("week"), help="An ISO week, YYYY-Www (2026-W41).")
@click.option("--day", callback=_period_option("day"), help="A day, YYYY-MM-DD (2026-10-03).")
@click.option(
    "--format",
    "formats",
    default=None,
    callback=_formats,
    help=f"Comma-separated formats (default: NEXUS_EXPORT_FORMATS, else {','.join(EXPORT_FORMATS)}).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write into this folder instead of $NEXUS_HOME/exports/<store>/<grain>/<period>/.",
)
def export(store_id, month, week, day, formats, out):
    from tqdm import tqdm

    from .lib.exports import data, exporter
    from .lib.warehouse.connection import warehouse_url

    asked = [p for p in (month, week, day) if p is not None]
    if len(asked) > 1:
        raise click.UsageError("give one of --period, --week and --day")
    settings = load_settings()
    url = warehouse_url(settings)
    import psycopg

    with psycopg.connect(url) as conn:
        known = {s[0] for s in data.stores(conn)}
        if store_id not in known:
            raise click.BadParameter(
                f"unknown store {store_id!r}; the warehouse knows {', '.join(sorted(known)) or 'no store yet (run `nexus run` first)'}",
                param_hint="'--store'",
            )
        span = data.data_span(conn, store_id)
    if asked:
        chosen = asked
    elif span is None:
        raise click.ClickException(
            f"store {store_id!r} has no sales data yet: give --period, --week or --day"
        )
    else:
        chosen = exporter.daily_periods(span[1], span[0])
    if out is not None and len(chosen) > 1:
        raise click.UsageError("--out takes one period: give --period, --week or --day")
    total = len(chosen) * exporter.steps(formats)
    with tqdm(total=total, unit="step", desc="export", disable=None, leave=False) as bar:
        for period in chosen:

            def advance(name: str, period=period) -> None:
                bar.set_postfix_str(f"{period.label} {name}", refresh=False)
                bar.update(1)

            result = exporter.export(
                url,
                store_id,
                period,
                formats,
                settings.exports_dir,
                out=out,
                analytics_schema=settings.analytics_schema,
                progress=advance,
            )
            tqdm.write(
                f"{store_id} {period.grain} {period.label}: {len(result.files)} file(s) in {result.folder}"
            )
    if out is None:  # exports older than NEXUS_EXPORT_RETENTION_DAYS go
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        for path in exporter.prune(settings.exports_dir, settings.export_retention_days, now):
            click.echo(f"removed an export older than {settings.export_retention_days} days: {path}")
