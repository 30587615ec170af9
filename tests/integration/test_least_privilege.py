"""`nexus run` against a real PostgreSQL 15 (Debian's packages) as a user without CREATEROLE.

The warehouse user has CREATEDB and CREATE on its database, and connects over TCP with a
password (scram-sha-256), as on a managed server. The run builds every table and exits 0, and
says once which BI grants it could not make and the SQL an administrator can run; once the
administrator has run it, the next run applies every grant and row-level security policy.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from nexus_pipelines.demo import generate

PG15 = Path("/usr/lib/postgresql/15/bin")
pytestmark = pytest.mark.skipif(
    not (PG15 / "pg_ctl").exists(), reason="Debian's PostgreSQL 15 is not installed"
)
PASSWORD = "app-password-15"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user(*command: str) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres system user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture(scope="module")
def pg15():
    base = Path(tempfile.mkdtemp(prefix="nexus-pg15-"))
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        base.chmod(0o755)
    port = free_port()
    subprocess.run(
        as_server_user(
            str(PG15 / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        as_server_user(
            str(PG15 / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log"),
            "-o",
            f"-p {port} -k {data} -h 127.0.0.1",
            "start",
        ),
        check=True,
        capture_output=True,
    )
    admin = f"postgresql://postgres@/postgres?host={data}&port={port}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"create role nexus_app login createdb password '{PASSWORD}'")
        conn.execute("create database nexus_lp")
        conn.execute("grant create on database nexus_lp to nexus_app")
    try:
        yield {"admin": admin, "port": port, "base": base}
    finally:
        subprocess.run(
            as_server_user(str(PG15 / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


def nexus_run(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("nexus")), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_run_without_createrole_builds_everything_exits_0_and_says_what_it_could_not_grant(pg15, tmp_path):
    landing = tmp_path / "landing"
    generate(landing, days=3, stores=1, skus=4, users=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(
        NEXUS_HOME=str(tmp_path / "home"),
        NEXUS_LANDING_DIR=str(landing),
        NEXUS_DATABASE_URL=f"postgresql://nexus_app:{PASSWORD}@127.0.0.1:{pg15['port']}/nexus_lp",
    )
    first = nexus_run(env)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-4000:]
    assert "Traceback" not in output and "permission denied to create role" not in output
    assert output.count("could not create the BI group roles") == 1, output[-4000:]
    assert "needs CREATEROLE" in output
    assert "CREATE ROLE nexus_bi_reader NOLOGIN; CREATE ROLE nexus_bi_store_reader NOLOGIN;" in output
    admin_sql = "CREATE ROLE nexus_bi_reader NOLOGIN; CREATE ROLE nexus_bi_store_reader NOLOGIN;"
    with psycopg.connect(pg15["admin"].replace("/postgres?", "/nexus_lp?"), autocommit=True) as conn:
        built = conn.execute(
            "select count(*) from information_schema.tables where table_schema in ('marts', 'analytics')"
        ).fetchone()[0]
        assert built >= 25
        assert conn.execute("select count(*) from marts.fct_daily_sales").fetchone()[0] > 0
        conn.execute(admin_sql)  # what the message tells an administrator to run

    second = nexus_run(env)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-4000:]
    assert "could not create the BI group roles" not in output
    # not the owner of the database: TEMP cannot be revoked from PUBLIC, and the run says so
    assert "could not revoke TEMPORARY on database nexus_lp from PUBLIC" in output
    with psycopg.connect(pg15["admin"].replace("/postgres?", "/nexus_lp?")) as conn:
        unsecured = conn.execute(
            "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname in ('marts', 'analytics') and c.relkind = 'r'"
            " and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'store_id')"
            " and not (c.relrowsecurity and has_table_privilege('nexus_bi_store_reader', c.oid, 'select'))"
        ).fetchall()
        assert unsecured == []
        readable = conn.execute(
            "select count(*) from information_schema.tables where table_schema in ('marts', 'analytics')"
            " and not has_table_privilege('nexus_bi_reader', quote_ident(table_schema) || '.' || quote_ident(table_name), 'select')"
        ).fetchone()[0]
        assert readable == 0
        assert conn.execute(
            "select has_database_privilege('public', 'nexus_lp_dagster', 'connect')"
        ).fetchone() == (False,)

    # creating BI users needs CREATEROLE: a clear message, no traceback
    added = subprocess.run(
        [str(Path(sys.executable).with_name("nexus")), "bi", "add-user", "metabase", "--all-stores"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 1, added.stdout + added.stderr
    assert "may not create BI users (it needs CREATEROLE" in added.stderr
    assert "Traceback" not in added.stderr
