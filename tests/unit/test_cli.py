"""The `nexus` command (cli.py): help, argument errors, `generate`, and the commands that only
hand over to something else (`dev`, `db psql`, `demo`'s run), with that something replaced.

Nothing here starts a database server or runs the pipeline (tests/integration/test_cli_db.py does
the `db` commands on an embedded server and `run` with a recorded outcome).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nexus_pipelines import cli
from nexus_pipelines.lib.config import PROJECT_ROOT, load_settings
from nexus_pipelines.lib.dagster_home import STORAGE_URL_ENV

EXTERNAL_URL = "postgresql://nexus:pw@db.internal:5433/warehouse"
DAGSTER_URL = "postgresql://nexus:pw@db.internal:5433/warehouse_dagster"
SMALL = ["--days", "2", "--stores", "1", "--skus", "4", "--users", "20"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No NEXUS_* variable from the caller's environment; NEXUS_HOME in tmp_path. Variables the
    commands set themselves (DAGSTER_HOME, the storage URL, NEXUS_LANDING_DIR) are restored after."""
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", "/nonexistent/before")
    monkeypatch.setenv(STORAGE_URL_ENV, "before")
    monkeypatch.setenv("NEXUS_LANDING_DIR", str(tmp_path / "landing"))
    return monkeypatch


@pytest.fixture
def external(env):
    env.setenv("NEXUS_DATABASE_URL", EXTERNAL_URL)
    env.setenv("NEXUS_DAGSTER_DATABASE_URL", DAGSTER_URL)
    return env


def nexus(*args: str):
    return CliRunner().invoke(cli.main, list(args), prog_name="nexus")


def usage_error(result) -> str:
    """The one error line of a usage error (exit code 2), after click's usage lines."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Usage: nexus") and "Traceback" not in result.stderr
    assert lines[-1].startswith("Error: ")
    return lines[-1]


# ---------------------------------------------------------------- help and usage errors
def test_version_is_the_installed_package_version():
    from importlib.metadata import version

    result = nexus("--version")
    assert (result.exit_code, result.stdout) == (0, f"nexus {version('nexus-pipelines')}\n")
    assert version("nexus-pipelines").count(".") == 2


def test_help_lists_every_command():
    result = nexus("--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: nexus [OPTIONS] COMMAND [ARGS]...\n")
    assert "generate demo data, run the pipeline, manage the embedded" in result.stdout
    commands = result.stdout.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in commands] == [
        "api",
        "bi",
        "db",
        "demo",
        "dev",
        "docs",
        "export",
        "generate",
        "quarantine",
        "run",
        "status",
    ]


def every_command(group=None, path=()):
    """(path, command) of every command and subcommand under ``nexus``."""
    import click

    group = group or cli.main
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))


@pytest.mark.parametrize(
    ("path", "command"), list(every_command()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_has_help_that_describes_it_and_each_option(path, command):
    result = nexus(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: nexus {' '.join(path)} ")
    assert (command.help or "").strip(), f"nexus {' '.join(path)} has no help text"
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.name != "help":
            assert (param.help or "").strip(), f"nexus {' '.join(path)} {param.opts[0]} has no help text"


def test_an_unknown_command_or_option_is_a_usage_error():
    assert nexus("frobnicate").exit_code == 2
    assert "No such command 'frobnicate'" in nexus("frobnicate").stderr
    result = nexus("run", "--frm", "2026-03-01")
    assert result.exit_code == 2
    assert "Error: No such option '--frm'. (Did you mean one of: '--force', '--from'?)" in result.stderr


def test_db_help_lists_its_subcommands():
    result = nexus("db", "--help")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in commands] == ["psql", "start", "status", "stop", "url"]


def test_generate_help_shows_the_defaults():
    result = nexus("generate", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for expected in (
        "--seed INTEGER Random seed; the same seed gives the same files. [default: 42]",
        "--start TEXT First day. [default: 2026-03-01]",
        "--days INTEGER Number of daily partitions. [default: 180]",
        "--stores INTEGER Amazon stores. [default: 2]",
        "--skus INTEGER SKUs per store. [default: 20]",
        "--users INTEGER Web-store users. [default: 3000]",
        "--bad-rows FLOAT Share of malformed data lines to inject. [default: 0.0]",
    ):
        assert expected in text


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["run", "--from", "2026-02-30"],
            "Error: Invalid value for '--from': '2026-02-30' is not a YYYY-MM-DD date",
        ),
        (
            ["run", "--to", "yesterday"],
            "Error: Invalid value for '--to': 'yesterday' is not a YYYY-MM-DD date",
        ),
        (
            ["generate", "--start", "03/01/2026"],
            "Error: Invalid value for '--start': '03/01/2026' is not a YYYY-MM-DD date",
        ),
        (
            ["demo", "--start", "2026-13-01"],
            "Error: Invalid value for '--start': '2026-13-01' is not a YYYY-MM-DD date",
        ),
        (["generate", "--days", "two"], "Error: Invalid value for '--days': 'two' is not a valid integer."),
        (["generate", "--bad-rows", "x"], "Error: Invalid value for '--bad-rows': 'x' is not a valid float."),
        (
            ["dev", "--port", "http"],
            "Error: Invalid value for '--port': 'http' is not a valid integer range.",
        ),
        (["run", "--window", "3"], "Error: No such option '--window'."),
        (["frobnicate"], "Error: No such command 'frobnicate'."),
        (["db", "restart"], "Error: No such command 'restart'. (Did you mean one of: 'start', 'status'?)"),
    ],
)
def test_a_bad_argument_is_a_one_line_usage_error(env, monkeypatch, args, error):
    ran = []
    monkeypatch.setattr(cli, "_run", lambda *a, **k: ran.append(a) or True)
    monkeypatch.setattr(cli, "_generate", lambda *a, **k: ran.append(a))
    assert usage_error(nexus(*args)) == error
    assert ran == []


def test_the_date_callback():
    assert cli._date(None, None, None) is None
    assert cli._date(None, None, "2026-03-01") == dt.date(2026, 3, 1)


@pytest.mark.parametrize("command", ["generate", "demo"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--skus", "2"], "Error: Invalid value for '--skus': skus must be >= 4"),
        (["--days", "0"], "Error: Invalid value for '--days': days must be >= 1"),
        (["--days", "-3"], "Error: Invalid value for '--days': days must be >= 1"),
        (["--stores", "0"], "Error: Invalid value for '--stores': stores must be between 1 and"),
        (["--bad-rows", "1.5"], "Error: Invalid value for '--bad-rows': bad_rows must be in [0, 1)"),
        (["--bad-rows", "-0.1"], "Error: Invalid value for '--bad-rows': bad_rows must be in [0, 1)"),
        (["--seed", "-1"], "Error: Invalid value for '--seed': seed must be >= 0"),
        (["--users", "0"], "Error: Invalid value for '--users': users must be >= 1"),
        (
            ["--events-per-day", "-5"],
            "Error: Invalid value for '--events-per-day': events_per_day must be >= 0",
        ),
    ],
)
def test_an_out_of_range_generator_option_is_a_usage_error(
    env, monkeypatch, tmp_path, command, args, message
):
    ran = []
    monkeypatch.setattr(cli, "_run", lambda *a, **k: ran.append(a) or True)
    out = tmp_path / "out"
    result = nexus(command, "--out", str(out), *args)
    assert usage_error(result).startswith(message)
    assert not out.exists() and ran == []  # checked before anything is written or run


# ---------------------------------------------------------------- generate
LANDING_FILES = sorted(
    [
        ".generated.json",
        "stores.yaml",
        "truth.json",
        *(
            f"amazon/store-us/{kind}/2026-03-0{day}.{ext}"
            for kind, ext in (
                ("inventory", "txt"),
                ("orders", "txt"),
                ("returns", "txt"),
                ("sales_traffic", "json"),
            )
            for day in (1, 2)
        ),
        "events/2026-03-01.jsonl",
        "events/2026-03-02.jsonl",
        "marketing/spend/2026-03-01.csv",
        "marketing/spend/2026-03-02.csv",
    ]
)


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_generate_writes_a_small_landing_folder_and_its_stamp(env, tmp_path):
    out = tmp_path / "out"
    result = nexus("generate", *SMALL, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"generated landing data in {out} (")
    assert result.stdout.endswith(" s)\n")
    assert files_in(out) == LANDING_FILES
    assert (out / ".generated.json").read_text() == (
        '{"bad_rows": 0.0, "days": 2, "events_per_day": null, "seed": 42, "skus": 4, '
        '"start": "2026-03-01", "stores": 1, "users": 20}'
    )
    truth = json.loads((out / "truth.json").read_text())
    assert truth["config"] == {
        "bad_rows": 0.0,
        "days": 2,
        "events_per_day": None,
        "seed": 42,
        "skus": 4,
        "start": "2026-03-01",
        "stores": 1,
        "users": 20,
    }


def test_generate_defaults_to_the_landing_folder_and_the_start_option_moves_the_files(env, tmp_path):
    result = nexus(
        "generate", "--days", "1", "--stores", "1", "--skus", "4", "--users", "5", "--start", "2026-06-30"
    )
    assert result.exit_code == 0, result.output
    landing = tmp_path / "landing"
    assert f"generated landing data in {landing} (" in result.stdout
    assert (landing / "events" / "2026-06-30.jsonl").is_file()
    assert not (landing / "events" / "2026-03-01.jsonl").exists()
    assert json.loads((landing / ".generated.json").read_text())["start"] == "2026-06-30"


def test_the_same_seed_gives_the_same_files_and_another_seed_other_files(env, tmp_path):
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert nexus("generate", *SMALL, "--seed", seed, "--out", str(tmp_path / name)).exit_code == 0
    orders = "amazon/store-us/orders/2026-03-01.txt"
    for path in LANDING_FILES:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path
    assert (tmp_path / "a" / orders).read_bytes() != (tmp_path / "c" / orders).read_bytes()


# ---------------------------------------------------------------- demo (its run replaced)
def test_demo_reuses_identical_output_and_regenerates_on_new_options(env, tmp_path, monkeypatch):
    runs = []
    outcome = {"success": True}

    def fake_run(start, end, force, verbose=False):
        runs.append((start, end, force, os.environ["NEXUS_LANDING_DIR"]))
        return outcome["success"]

    monkeypatch.setattr(cli, "_run", fake_run)
    from nexus_pipelines import cli_docs
    from nexus_pipelines.lib.dbt_docs import DocsSite

    monkeypatch.setattr(cli_docs, "generate_docs", lambda settings: DocsSite(tmp_path / "docs"))
    out = tmp_path / "demo-landing"

    first = nexus("demo", *SMALL, "--out", str(out))
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"generated landing data in {out} (")
    # the run reads the folder just written, whatever NEXUS_LANDING_DIR said before
    assert runs == [(None, None, False, str(out.resolve()))]
    orders = out / "amazon/store-us/orders/2026-03-01.txt"
    os.utime(orders, (1_000_000_000, 1_000_000_000))

    assert first.stdout.endswith(f"dbt docs: {tmp_path}/docs/index.html (serve them with `nexus docs`)\n")

    second = nexus("demo", *SMALL, "--out", str(out))
    assert second.exit_code == 0
    assert second.stdout == (
        f"landing data in {out} already generated with these options: reusing it\n"
        f"dbt docs: {tmp_path}/docs/index.html (serve them with `nexus docs`)\n"
    )
    assert orders.stat().st_mtime == 1_000_000_000
    assert len(runs) == 2

    outcome["success"] = False
    third = nexus("demo", *SMALL, "--seed", "43", "--out", str(out))
    assert third.exit_code == 1
    assert third.stdout.startswith(f"generated landing data in {out} (")
    assert orders.stat().st_mtime != 1_000_000_000
    assert json.loads((out / ".generated.json").read_text())["seed"] == 43
    assert len(runs) == 3


# ---------------------------------------------------------------- run (its runner replaced)
def test_run_with_nothing_to_run_is_a_one_line_error(external, tmp_path, monkeypatch):
    from nexus_pipelines.defs import runner

    calls = []

    def fake_run_window(start, end, *, force, settings, on_line, on_tick=None):
        calls.append((start, end, force, settings.landing_dir, on_line is not None))
        raise runner.NothingToRun(f"no landing files in {settings.landing_dir}")

    monkeypatch.setattr(runner, "run_window", fake_run_window)
    orders = tmp_path / "landing" / "amazon" / "101" / "orders" / "2026-03-02.txt"
    orders.parent.mkdir(parents=True)
    orders.write_text("amazon-order-id\n", encoding="utf-8")
    result = nexus("run", "--from", "2026-03-01", "--to", "2026-03-04", "--force")
    assert result.exit_code == 1
    assert result.stdout == f"materializing every asset (landing folder {tmp_path / 'landing'}) ...\n"
    assert result.stderr == f"Error: no landing files in {tmp_path / 'landing'}\n"
    assert calls == [(dt.date(2026, 3, 1), dt.date(2026, 3, 4), True, tmp_path / "landing", True)]
    assert list((tmp_path / "home" / "logs").glob("*")) == []  # no empty run log left behind
    # the run would use the Dagster instance of NEXUS_HOME, stored in PostgreSQL
    assert os.environ["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster")
    assert os.environ[STORAGE_URL_ENV] == "postgresql+psycopg2://nexus:pw@db.internal:5433/warehouse_dagster"


def test_a_range_without_landing_files_says_so_and_runs_nothing(external, tmp_path, monkeypatch):
    from nexus_pipelines.defs import runner

    calls = []
    monkeypatch.setattr(runner, "run_window", lambda *a, **k: calls.append(a))
    orders = tmp_path / "landing" / "amazon" / "101" / "orders" / "2026-03-02.txt"
    orders.parent.mkdir(parents=True)
    orders.write_text("amazon-order-id\n", encoding="utf-8")
    result = nexus("run", "--from", "2026-03-06", "--to", "2026-03-09")
    assert (result.exit_code, result.stdout) == (
        0,
        "no landing files for 2026-03-06 .. 2026-03-09: nothing to do\n",
    )
    assert calls == []
    # nothing was prepared either: no Dagster home, no log
    assert not (tmp_path / "home" / "dagster").exists()
    assert not (tmp_path / "home" / "logs").exists()


def test_run_verbose_leaves_the_console_to_dagster(external, monkeypatch):
    from nexus_pipelines.defs import runner

    seen = []

    def fake_run_window(start, end, *, force, settings, on_line, on_tick=None):
        seen.append((start, end, force, on_line))
        raise runner.NothingToRun("nothing")

    monkeypatch.setattr(runner, "run_window", fake_run_window)
    monkeypatch.setattr(runner, "resolve_window", lambda *_a, **_k: None)
    assert nexus("run", "-v").exit_code == 1
    assert seen == [(None, None, False, None)]


# ---------------------------------------------------------------- db with an external server
def test_db_commands_with_an_external_server(external):
    start = nexus("db", "start")
    assert (start.exit_code, start.stdout) == (0, "using NEXUS_DATABASE_URL, nothing to start\n")
    status = nexus("db", "status")
    assert (status.exit_code, status.stdout) == (0, "external server (NEXUS_DATABASE_URL)\n")
    url = nexus("db", "url")
    assert (url.exit_code, url.stdout) == (0, EXTERNAL_URL + "\n")
    stop = nexus("db", "stop")
    assert stop.exit_code == 1
    assert stop.stderr == "Error: NEXUS_DATABASE_URL is set: the server is not managed by nexus\n"


def test_db_status_and_stop_before_the_embedded_server_ever_started(env, tmp_path):
    status = nexus("db", "status")
    assert status.exit_code == 3
    assert status.stdout == f"stopped  data {tmp_path / 'home' / 'pgdata'}\n"
    stop = nexus("db", "stop")
    assert (stop.exit_code, stop.stdout) == (0, "was not running\n")
    assert not (tmp_path / "home" / "pgdata").exists()


def test_db_psql_execs_the_bundled_psql_on_the_warehouse(external, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv)))
    assert nexus("db", "psql").exit_code == 0
    [(path, argv)] = calls
    assert Path(path).name == "psql" and Path(path).is_file()
    assert argv == [path, EXTERNAL_URL]


# ---------------------------------------------------------------- dev (the UI process replaced)
def test_dev_starts_dagster_dev_on_the_workspace_with_this_environment(external, tmp_path, monkeypatch):
    calls = []

    def fake_run(command, *, cwd, env):
        calls.append((command, cwd, env))
        return 7

    monkeypatch.setattr(cli, "run_supervised", fake_run)
    result = nexus("dev", "--port", "3999", "--host", "0.0.0.0")
    assert result.exit_code == 7  # the UI's exit code
    home = tmp_path / "home" / "dagster"
    assert result.stdout == (
        f"Dagster UI on http://0.0.0.0:3999 (instance in {home}, storage in PostgreSQL)\n"
    )
    [(command, cwd, child_env)] = calls
    bin_dir = Path(sys.executable).parent
    assert command == [
        str(bin_dir / "dagster"),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-p",
        "3999",
        "-h",
        "0.0.0.0",
    ]
    assert cwd == PROJECT_ROOT
    assert child_env["PATH"].split(os.pathsep)[0] == str(bin_dir)
    assert child_env["DAGSTER_HOME"] == str(home)
    assert (home / "dagster.yaml").is_file()


def test_dev_defaults(external, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "run_supervised", lambda command, *, cwd, env: calls.append(command) or 0)
    result = nexus("dev")
    assert result.exit_code == 0
    assert calls[0][-4:] == ["-p", "3000", "-h", "127.0.0.1"]
    assert result.stdout.startswith("Dagster UI on http://127.0.0.1:3000 (")


def test_the_warehouse_is_described_without_credentials(tmp_path):
    settings = load_settings({"NEXUS_HOME": str(tmp_path / "h")})
    assert cli._describe_database(settings) == (
        f"embedded PostgreSQL, data in {tmp_path / 'h' / 'pgdata'}; "
        'connect with `nexus db psql` or `psql "$(nexus db url)"`'
    )
    external = load_settings(
        {"NEXUS_HOME": str(tmp_path), "NEXUS_DATABASE_URL": "postgresql://u:pw@db:5432/w"}
    )
    assert cli._describe_database(external) == "NEXUS_DATABASE_URL (db:5432/w)"


def test_the_quality_line_counts_the_great_expectations_checks_only(tmp_path):
    from nexus_pipelines.defs.runner import RunOutcome

    settings = load_settings({"NEXUS_HOME": str(tmp_path)})
    day = dt.date(2026, 3, 1)
    outcome = RunOutcome(
        False,
        "run",
        day,
        day,
        ["gx_raw_amazon_inventory"],
        passed_checks=[
            "raw/amazon_orders:gx_critical",
            "raw/amazon_orders:gx_warning",
            "raw/events:freshness",
        ],
        failed_checks=[
            "raw/amazon_inventory:gx_critical (ERROR)",
            "raw/amazon_inventory:gx_warning (WARN)",
            "raw/amazon_returns:gx_warning (WARN)",
            "raw/amazon_orders:quarantine_share (WARN)",
        ],
    )
    line = cli._quality_line(outcome, settings)
    assert line.startswith(
        "data quality: 2 of 5 Great Expectations checks passed (1 blocking failure(s), 2 warning(s))"
    )
    assert line.endswith(
        f"Data Docs: {tmp_path / 'gx' / 'uncommitted' / 'data_docs' / 'local_site' / 'index.html'}"
    )

    none_ran = RunOutcome(True, "run", day, day, [], passed_checks=["raw/events:freshness"])
    assert cli._quality_line(none_ran, settings) == "data quality: no Great Expectations suite ran"
