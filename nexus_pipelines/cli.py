"""The `nexus` command: generate demo data, run the pipeline, manage the embedded database.

It sits above both layers: the Dagster-free ``lib/`` and the Dagster objects in ``defs/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click

from .lib.config import LAUNCH_DIR, PROJECT_ROOT, Settings, load_settings


def _settings() -> Settings:
    return load_settings()


def _date(_ctx, _param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from exc


class _Group(click.Group):
    """The root group: an embedded server that cannot start is a one-line error, in every command."""

    def invoke(self, ctx):
        from .lib.warehouse.embedded import ServerStartError

        try:
            return super().invoke(ctx)
        except ServerStartError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, help=__doc__)
@click.version_option(package_name="nexus-pipelines", prog_name="nexus", message="%(prog)s %(version)s")
def main() -> None:
    # children (Dagster's step processes, `dagster dev`) find the same home whatever directory
    # they start in
    os.environ.setdefault("NEXUS_HOME", str(LAUNCH_DIR / ".nexus"))


# ---------------------------------------------------------------- generate
def _generate_options(f):
    options = [
        click.option(
            "--seed", default=42, show_default=True, help="Random seed; the same seed gives the same files."
        ),
        click.option(
            "--start", "start", default="2026-03-01", show_default=True, callback=_date, help="First day."
        ),
        click.option("--days", default=180, show_default=True, help="Number of daily partitions."),
        click.option("--stores", default=2, show_default=True, help="Amazon stores."),
        click.option("--skus", default=20, show_default=True, help="SKUs per store."),
        click.option("--users", default=3000, show_default=True, help="Web-store users."),
        click.option(
            "--events-per-day", type=int, default=None, help="Average events per day (default: from --users)."
        ),
        click.option(
            "--bad-rows", default=0.0, show_default=True, help="Share of malformed data lines to inject."
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            default=None,
            help="Landing folder to write (default: NEXUS_LANDING_DIR).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _check_generator_options(**params) -> None:
    """The generator's own bounds (SynthConfig's), checked before anything is written: an option
    out of range is a usage error that names the option, not a traceback."""
    from .demo import SynthConfig

    try:
        SynthConfig(**params)
    except ValueError as exc:
        ctx = click.get_current_context()
        field = str(exc).split(maxsplit=1)[0] if str(exc) else ""
        param = next((p for p in ctx.command.params if p.name == field), None)
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


def _generate(seed, start, days, stores, skus, users, events_per_day, bad_rows, out, *, reuse: bool) -> Path:
    from .demo import generate
    from .lib.files import write_private_text

    out = out or _settings().landing_dir
    params = {
        "seed": seed,
        "start": start,
        "days": days,
        "stores": stores,
        "skus": skus,
        "users": users,
        "events_per_day": events_per_day,
        "bad_rows": bad_rows,
    }
    stamp = out / ".generated.json"
    wanted = json.dumps(params, default=str, sort_keys=True)
    if reuse and stamp.exists() and stamp.read_text() == wanted:
        click.echo(f"landing data in {out} already generated with these options: reusing it")
        return out
    t0 = time.perf_counter()
    generate(out, progress=True, **params)
    write_private_text(stamp, wanted)
    click.echo(f"generated landing data in {out} ({time.perf_counter() - t0:.1f} s)")
    return out


@main.command(help="Write a deterministic synthetic data set into the landing folder.")
@_generate_options
def generate(seed, start, days, stores, skus, users, events_per_day, bad_rows, out):
    _check_generator_options(
        seed=seed,
        start=start,
        days=days,
        stores=stores,
        skus=skus,
        users=users,
        events_per_day=events_per_day,
        bad_rows=bad_rows,
    )
    _generate(seed, start, days, stores, skus, users, events_per_day, bad_rows, out, reuse=False)


# ---------------------------------------------------------------- run
# run logs kept in $NEXUS_HOME/logs (the newest ones; older ones are deleted by the next run)
RUN_LOGS_KEPT = 20


class LiveLine:
    """One line at the bottom of a terminal, redrawn in place; other lines are printed above it."""

    def __init__(self, stream) -> None:
        import shutil
        import threading

        self._stream, self._text, self._lock = stream, "", threading.Lock()
        self._width = max(20, shutil.get_terminal_size().columns - 1)

    def _write(self, text: str) -> None:
        self._stream.write("\r\x1b[K" + text)
        self._stream.flush()

    def update(self, text: str) -> None:
        with self._lock:
            self._text = text[: self._width]
            self._write(self._text)

    def print(self, line: str) -> None:
        with self._lock:
            self._write(line + "\n" + self._text)

    def clear(self) -> None:
        with self._lock:
            self._text = ""
            self._write("")


def _run_log(settings: Settings) -> Path:
    """A new log file for this run's dbt and Dagster output; the oldest beyond RUN_LOGS_KEPT go."""
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(logs.glob("run-*.log"))[: -(RUN_LOGS_KEPT - 1)]:
        with contextlib.suppress(OSError):
            old.unlink()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return logs / f"run-{stamp}-{os.getpid()}.log"


@contextlib.contextmanager
def _output_to(log: Path | None):
    """dbt's output (which dagster-dbt writes to stdout) and anything else printed during the run
    into ``log``, without colour codes; nothing redirected when ``log`` is None (--verbose)."""
    if log is None:
        yield
        return
    before = os.environ.get("DBT_USE_COLORS")
    os.environ["DBT_USE_COLORS"] = "false"
    try:
        with open(log, "a", encoding="utf-8") as out, contextlib.redirect_stdout(out):
            yield
    finally:
        if before is None:
            os.environ.pop("DBT_USE_COLORS", None)
        else:
            os.environ["DBT_USE_COLORS"] = before


def _run(start, end, force, verbose: bool = False) -> bool:
    from .lib.dagster_home import prepare_dagster_home
    from .lib.warehouse.business import business_summary, format_business
    from .lib.warehouse.connection import warehouse_url

    settings = _settings()
    from .defs.runner import NoLandingFiles, NothingToRun, resolve_window, run_window

    try:
        resolve_window(settings, start, end)  # before anything starts: nothing to do is said at once
    except NoLandingFiles as exc:
        click.echo(f"{exc}: nothing to do")
        return True
    except NothingToRun as exc:
        raise click.ClickException(str(exc)) from exc
    prepare_dagster_home(settings)

    live = LiveLine(sys.stderr) if not verbose and sys.stderr.isatty() else None

    def show(line: str) -> None:
        if live is not None:
            live.print(line)
        else:
            click.echo(line, err=True)

    log = None if verbose else _run_log(settings)
    t0 = time.perf_counter()
    click.echo(f"materializing every asset (landing folder {settings.landing_dir}) ...")
    try:
        with _output_to(log):
            outcome = run_window(
                start,
                end,
                force=force,
                settings=settings,
                on_line=None if verbose else show,
                on_tick=None if live is None else live.update,
            )
    except NoLandingFiles as exc:  # the landing folder changed since the check above
        if log is not None:
            log.unlink(missing_ok=True)
        click.echo(f"{exc}: nothing to do")
        return True
    except NothingToRun as exc:
        if log is not None:
            log.unlink(missing_ok=True)
        raise click.ClickException(str(exc)) from exc
    finally:
        if live is not None:
            live.clear()
    elapsed = time.perf_counter() - t0
    for run_id in outcome.swept_runs:
        click.echo(f"marked failed: run {run_id} (its process ended without finishing it)", err=True)
    click.echo(f"partitions {outcome.start} .. {outcome.end}, run {outcome.run_id}, {elapsed:.1f} s")
    if log is not None:
        click.echo(f"dbt and Dagster output: {log} (`nexus run --verbose` shows it here)")
    click.echo("")
    click.echo(format_business(business_summary(warehouse_url(settings), settings)))
    click.echo("")
    click.echo(f"warehouse: {_describe_database(settings)}")
    click.echo("tables and row counts: `nexus status --tables`; freshness and runs: `nexus status`")
    if outcome.export_run_id is not None:
        click.echo(
            f"exports (CSV, JSON, Excel, PDF report per store): {settings.exports_dir} "
            f"(run {outcome.export_run_id})"
        )
    elif outcome.export_note:
        click.echo(f"exports: {outcome.export_note}")
    click.echo("open the UI: `make dev` (or `nexus dev`), then http://localhost:3000")
    if outcome.skipped_steps:
        click.echo(f"skipped (nothing upstream changed): {', '.join(outcome.skipped_steps)}")
    click.echo(_quality_line(outcome, settings))
    _show_unmatched(settings)
    if outcome.failed_checks:
        click.echo(f"checks that did not pass: {', '.join(outcome.failed_checks)}", err=True)
    if not outcome.success:
        click.echo(f"FAILED steps: {', '.join(outcome.failed_steps) or '(see the run in the UI)'}", err=True)
        for step, error in outcome.errors.items():
            click.echo(f"  {step}: {error}", err=True)
    return outcome.success


def _show_unmatched(settings: Settings, limit: int = 20) -> None:
    """The landing files no source reads: never skipped without a word."""
    from .lib.landing import unmatched_files

    unmatched = unmatched_files(settings.landing_dir)
    for u in unmatched[:limit]:
        click.echo(f"not loaded: {u.relative_path}: {u.reason}", err=True)
    if len(unmatched) > limit:
        click.echo(
            f"not loaded: ... and {len(unmatched) - limit} more (see the landing_files_recognised checks)",
            err=True,
        )


def _quality_line(outcome, settings: Settings) -> str:
    """One line on the Great Expectations checks of the run and where their Data Docs are."""
    from .lib.quality.validate import data_docs_index

    def gx(names: list[str]) -> list[str]:
        return [n for n in names if n.split(" ")[0].rsplit(":", 1)[-1].startswith("gx_")]

    passed, failed = gx(outcome.passed_checks), gx(outcome.failed_checks)
    if not passed and not failed:
        return "data quality: no Great Expectations suite ran"
    blocked = [n for n in failed if "(ERROR)" in n]
    verdict = f"{len(blocked)} blocking failure(s), " if blocked else ""
    docs = data_docs_index(settings.home)
    return (
        f"data quality: {len(passed)} of {len(passed) + len(failed)} Great Expectations checks passed"
        f" ({verdict}{len(failed) - len(blocked)} warning(s)); Data Docs: {docs}"
    )


def _describe_database(settings: Settings) -> str:
    from .lib.warehouse.connection import warehouse_url

    if settings.embedded:
        return f'embedded PostgreSQL, data in {settings.pgdata}; connect with `nexus db psql` or `psql "$(nexus db url)"`'
    return "NEXUS_DATABASE_URL (" + warehouse_url(settings).split("@")[-1] + ")"


@main.command(
    help="Materialize every asset, in dependency order, for every partition with landing files "
    "(or the given range), in one run with the configured Dagster instance."
)
@click.option("--from", "start", callback=_date, default=None, help="First partition (YYYY-MM-DD).")
@click.option("--to", "end", callback=_date, default=None, help="Last partition (YYYY-MM-DD).")
@click.option("--force", is_flag=True, help="Reload landing files even when unchanged since their last load.")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Dagster's full console log and dbt's output here instead of the compact view and a log file.",
)
def run(start, end, force, verbose):
    if not _run(start, end, force, verbose):
        sys.exit(1)


@main.command(
    help="generate (reusing identical earlier output) + run + dbt docs (serve them with `nexus docs`)."
)
@_generate_options
def demo(seed, start, days, stores, skus, users, events_per_day, bad_rows, out):
    _check_generator_options(
        seed=seed,
        start=start,
        days=days,
        stores=stores,
        skus=skus,
        users=users,
        events_per_day=events_per_day,
        bad_rows=bad_rows,
    )
    if out is not None:
        os.environ["NEXUS_LANDING_DIR"] = str(out.resolve())
    _generate(seed, start, days, stores, skus, users, events_per_day, bad_rows, out, reuse=True)
    if not _run(None, None, False):
        sys.exit(1)
    from .cli_docs import generate_docs

    click.echo(f"dbt docs: {generate_docs(_settings()).index} (serve them with `nexus docs`)")


# ---------------------------------------------------------------- db
@main.group(help="The warehouse database: start|stop|status|url|psql.")
def db():
    pass


def _listen(_ctx, _param, value):
    from .lib.config import parse_listen

    if value is None:
        return None
    try:
        return parse_listen(value, "--listen")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _tcp_line(s) -> str:
    if s.tcp:
        return f"tcp {s.tcp} (scram-sha-256 passwords, BI users only)"
    return "tcp off (`nexus db start --listen 127.0.0.1:5433` for BI tools)"


@db.command(
    help="Start the embedded PostgreSQL server (no-op when running or when NEXUS_DATABASE_URL is set)."
)
@click.option(
    "--listen",
    callback=_listen,
    default=None,
    metavar="HOST:PORT",
    help="Also listen on TCP, for BI tools (default NEXUS_DB_LISTEN; off when unset). "
    "Every TCP connection needs a BI user's password.",
)
def start(listen):
    from .lib.warehouse import embedded
    from .lib.warehouse.connection import warehouse_url

    settings = _settings()
    if not settings.embedded:
        click.echo("using NEXUS_DATABASE_URL, nothing to start")
        return
    wanted = listen or settings.db_listen
    before = embedded.status(settings)
    if (
        before.running
        and wanted
        and before.tcp
        != embedded.ServerStatus(True, before.pgdata, port=wanted[1], listen_host=wanted[0]).tcp
    ):
        raise click.ClickException(
            f"the server is already running ({_tcp_line(before)}); to listen on {wanted[0]}:{wanted[1]}, "
            "`nexus db stop` it first (open connections are closed), then start it again"
        )
    try:
        if listen:
            embedded.start(settings, listen=listen)
        url = warehouse_url(settings)
    except embedded.ServerStartError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"running: {url}")
    click.echo(_tcp_line(embedded.status(settings)))


@db.command(help="Stop the embedded PostgreSQL server.")
def stop():
    from .lib.warehouse import embedded

    settings = _settings()
    if not settings.embedded:
        raise click.ClickException("NEXUS_DATABASE_URL is set: the server is not managed by nexus")
    click.echo("stopped" if embedded.stop(settings) else "was not running")


@db.command(help="Show whether the embedded server runs, its data directory, socket and TCP listener.")
def status():
    from .lib.warehouse import embedded

    settings = _settings()
    if not settings.embedded:
        click.echo("external server (NEXUS_DATABASE_URL)")
        return
    s = embedded.status(settings)
    if s.running:
        click.echo(f"running  pid {s.pid}  data {s.pgdata}  socket {s.socket_dir}  {_tcp_line(s)}")
    else:
        click.echo(f"stopped  data {s.pgdata}")
        sys.exit(3)


@db.command(help="Print the warehouse URL (starting the embedded server if needed).")
def url():
    from .lib.warehouse.connection import warehouse_url

    click.echo(warehouse_url(_settings()))


@db.command(help="Open psql on the warehouse.")
def psql():
    from .lib.warehouse import embedded
    from .lib.warehouse.connection import warehouse_url

    target = warehouse_url(_settings())
    binary = embedded.psql_path()
    os.execv(str(binary), [str(binary), target])


# ---------------------------------------------------------------- dev
@main.command(help="Start the database (if needed) and the Dagster UI on localhost:3000.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=3000, show_default=True, help="Port of the UI."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI listens on.")
def dev(port, host):
    from .lib.dagster_home import prepare_dagster_home

    settings = _settings()
    prepare_dagster_home(settings)
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(port), "-h", host]
    click.echo(
        f"Dagster UI on http://{host}:{port} (instance in {settings.dagster_home}, storage in PostgreSQL)"
    )
    # this environment's executables first: under `dagster dev`, dagster-dbt's preparation runs `dbt`
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    sys.exit(run_supervised(command, cwd=PROJECT_ROOT, env=env))


# how long `dagster dev` gets to stop its webserver, daemon and code servers after a signal
DEV_STOP_SECONDS = 20.0


def run_supervised(command: list[str], *, cwd: Path, env: dict[str, str]) -> int:
    """Run ``command`` as the leader of its own process group until it ends, and stop it on
    SIGINT or SIGTERM.

    Started in the background from a shell, a process inherits SIGINT ignored, and a plain
    ``subprocess.call`` neither passes SIGTERM on nor waits for the children of ``dagster dev``
    (webserver, daemon, code servers), which then outlive it. Here both signals are caught
    whatever their inherited disposition, sent on to the whole group (``dagster dev`` shuts its
    children down on either), and what is still running after ``DEV_STOP_SECONDS`` is killed.
    The exit code is the child's, or 128 + the signal's number when a signal stopped it.
    """
    import signal

    received: list[int] = []
    started: list[subprocess.Popen] = []

    def forward(signum, _frame) -> None:
        received.append(signum)
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)

    # The handlers go in before the child starts: a handled signal is reset to its default in the
    # child at exec, whereas an ignored one (SIGINT of a background job) would stay ignored there.
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True)
        started.append(child)
        if received:  # a signal that came while it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, received[0])
        deadline = None
        while True:
            try:
                code = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if received and deadline is None:
                deadline = time.monotonic() + DEV_STOP_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                click.echo(f"the UI did not stop within {DEV_STOP_SECONDS:.0f} s: killing it", err=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                code = child.wait()
                break
        # whatever the group left behind (a code server whose parent died first)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        click.echo("stopped the Dagster UI", err=True)
        return 128 + received[0]
    return code


from .cli_status import status as status_command  # noqa: E402

main.add_command(status_command)

from .cli_quarantine import quarantine  # noqa: E402

main.add_command(quarantine)

from .cli_bi import bi  # noqa: E402

main.add_command(bi)

from .cli_docs import docs as docs_command  # noqa: E402

main.add_command(docs_command)

from .cli_export import export as export_command  # noqa: E402

main.add_command(export_command)

from .cli_api import api  # noqa: E402

main.add_command(api)


if __name__ == "__main__":
    main()
