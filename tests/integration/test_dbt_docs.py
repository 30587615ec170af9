"""`nexus docs` on a real database: dbt's docs site, its catalog read from the warehouse.

A few models (a staging view and two marts tables) are built into a database of their own; the
docs are generated against it through NEXUS_DATABASE_URL, once with ``--no-serve`` in process and
once served by a `nexus docs` process, as a browser would read them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nexus_pipelines import cli
from nexus_pipelines.lib import dbt_docs
from nexus_pipelines.lib.config import PROJECT_ROOT
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import DBT_PROJECT, create_database, drop_database, load_landing, run_dbt

BUILT = {"model.nexus.stg_amazon__stores", "model.nexus.dim_store", "model.nexus.dim_date"}
NOT_BUILT = "model.nexus.fct_daily_sales"


def yml_columns(model: str) -> list[str]:
    """The column names the dbt yml declares for a core mart, in order."""
    spec = yaml.safe_load((DBT_PROJECT / "models/marts/core/_core__models.yml").read_text())
    return [c["name"] for m in spec["models"] if m["name"] == model for c in m["columns"]]


@pytest.fixture(scope="module")
def warehouse(server_url, tmp_path_factory):
    name = create_database(server_url)
    url = with_database(server_url, name)
    work = tmp_path_factory.mktemp("dbt-docs")
    (work / "landing").mkdir()
    load_landing(url, work / "landing")  # the raw tables, empty
    run_dbt(url, "run", "--select", "+dim_store", "dim_date", target_dir=work / "target")
    yield url, work / "target" / "partial_parse.msgpack"
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def home(warehouse, tmp_path_factory) -> Path:
    """One NEXUS_HOME for both builds. Its docs folder starts from the parse state of the build
    above (the same profile and vars), only so that dbt does not parse the whole project again."""
    home = tmp_path_factory.mktemp("home")
    (home / "dbt_docs").mkdir()
    shutil.copy(warehouse[1], home / "dbt_docs" / "partial_parse.msgpack")
    return home


@pytest.fixture
def docs_env(warehouse, home) -> dict[str, str | None]:
    """The environment of a `nexus docs` against ``warehouse``: no NEXUS_* variable of the caller."""
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("NEXUS_")}
    return {**env, "NEXUS_HOME": str(home), "NEXUS_DATABASE_URL": warehouse[0]}


def test_docs_no_serve_builds_the_catalog_of_the_built_models(docs_env, home):
    result = CliRunner().invoke(cli.main, ["docs", "--no-serve"], prog_name="nexus", env=docs_env)
    assert result.exit_code == 0, result.output
    catalog_path = home / "dbt_docs" / "catalog.json"
    index_path = home / "dbt_docs" / "index.html"
    out = result.stdout.splitlines()
    assert out[0].startswith("generating the dbt docs from the warehouse (NEXUS_DATABASE_URL, ")
    assert out[1].startswith(f"catalog: {catalog_path} (3 of ")
    assert out[1].endswith(" models built in the warehouse)")
    assert out[2:] == [f"site: {index_path}"]
    assert "Running with dbt" not in result.output  # dbt's own output only when it fails

    catalog = json.loads(catalog_path.read_text())
    manifest = json.loads((home / "dbt_docs" / "manifest.json").read_text())
    assert index_path.stat().st_size > 0
    # the catalog holds the relations that exist, with their columns as the database has them
    assert set(catalog["nodes"]) >= BUILT
    assert NOT_BUILT not in catalog["nodes"]
    assert NOT_BUILT in manifest["nodes"]  # documented all the same
    for model in ("dim_store", "dim_date"):
        node = catalog["nodes"][f"model.nexus.{model}"]
        assert (node["metadata"]["schema"], node["metadata"]["type"]) == ("marts", "BASE TABLE")
        assert list(node["columns"]) == yml_columns(model)
    assert catalog["nodes"]["model.nexus.dim_store"]["columns"]["is_configured"]["type"] == "boolean"
    assert catalog["nodes"]["model.nexus.stg_amazon__stores"]["metadata"]["type"] == "VIEW"
    assert "source.nexus.raw.amazon_orders" in catalog["sources"]
    assert catalog["errors"] is None


def test_a_failing_dbt_is_one_error_line_and_its_last_output_lines(tmp_path):
    (tmp_path / "project").mkdir()  # no dbt_project.yml in it
    env = {name: None for name in os.environ if name.startswith("NEXUS_")}
    env |= {
        "NEXUS_HOME": str(tmp_path / "home"),
        "NEXUS_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x",
        "NEXUS_DBT_PROJECT_DIR": str(tmp_path / "project"),
    }
    result = CliRunner().invoke(cli.main, ["docs", "--no-serve"], prog_name="nexus", env=env)
    assert result.exit_code == 1
    assert (
        result.stdout
        == "generating the dbt docs from the warehouse (NEXUS_DATABASE_URL, 127.0.0.1:1/x) ...\n"
    )
    missing = tmp_path / "project" / "dbt_project.yml"
    err = result.stderr.splitlines()
    assert (
        err[0]
        == f"Error: dbt docs generate failed (exit 2): Runtime Error: No dbt_project.yml found at expected path {missing}"
    )
    assert err[1] == f"dbt's last output lines (the whole log: {tmp_path / 'home/dbt_docs/logs/dbt.log'}):"
    assert err[2].startswith("  Running with dbt=")
    assert err[-3:-1] == ["  Runtime Error", f"    No dbt_project.yml found at expected path {missing}"]

    env["NEXUS_DBT_PROJECT_DIR"] = str(tmp_path / "nowhere")
    result = CliRunner().invoke(cli.main, ["docs", "--no-serve"], prog_name="nexus", env=env)
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: the dbt project folder {tmp_path / 'nowhere'} does not exist\n",
    )


@pytest.mark.parametrize(
    ("lines", "summary"),
    [
        (
            [
                "Encountered an error:",
                "Compilation Error in model m (models/m.sql)",
                "  unexpected '}'",
                "    line 1",
            ],
            "Compilation Error in model m (models/m.sql): unexpected '}'",
        ),
        (
            [
                "Concurrency: 2 threads (target='default')",
                "Encountered an error:",
                "Database Error",
                '  connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused',
                "  \tIs the server running on that host and accepting TCP/IP connections?",
            ],
            'Database Error: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused',
        ),
        (["Encountered an error:", "Runtime Error"], "Runtime Error"),
        (["Running with dbt=1.11", "Killed"], "Killed"),
        ([], "dbt printed nothing"),
    ],
)
def test_the_failure_summary_is_dbts_last_error_and_its_message(lines, summary):
    assert dbt_docs.failure_summary(lines) == summary


def test_the_address_to_open():
    assert dbt_docs.browse_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert dbt_docs.browse_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert dbt_docs.browse_url("::", 8080) == "http://[::1]:8080"
    assert dbt_docs.browse_url("docs.example", 81) == "http://docs.example:81"


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_port_out_of_range_is_a_usage_error(port):
    result = CliRunner().invoke(cli.main, ["docs", "--port", port], prog_name="nexus")
    assert result.exit_code == 2
    assert f"Invalid value for '--port': {port} is not in the range 1<=x<=65535" in result.stderr


# `nexus`, with Ctrl+C (SIGINT) answered even when the tests were started with it ignored (in the background)
NEXUS_WITH_CTRL_C = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from nexus_pipelines.cli import main; main(prog_name='nexus')"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_docs_serves_the_site_until_stopped(docs_env, home, tmp_path):
    port = free_port()
    env = {name: value for name, value in {**os.environ, **docs_env}.items() if value is not None}
    log = tmp_path / "nexus-docs.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-c", NEXUS_WITH_CTRL_C, "docs", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"`nexus docs` ended:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer on {base}:\n{log.read_text()}"
            try:
                status, body = get(f"{base}/catalog.json")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200
        assert set(json.loads(body)["nodes"]) >= BUILT
        assert get(f"{base}/")[0] == 200
        assert get(f"{base}/manifest.json?cb=1")[0] == 200
        assert get(f"{base}/logs/dbt.log")[0] == 404  # the site's files only
        assert f"serving the dbt docs: open {base} (Ctrl+C to stop)" in log.read_text().splitlines()
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl+C
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text()
    assert log.read_text().splitlines()[-1] == "stopped serving the dbt docs"
    # the port is free again at once, connections just closed notwithstanding
    dbt_docs.docs_server(home / "dbt_docs", "127.0.0.1", port).server_close()
