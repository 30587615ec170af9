"""The backup and restore commands of docs/operations.md work on the embedded server.

The two marked shell blocks (``<!-- backup-restore:backup -->`` and ``<!-- backup-restore:restore -->``)
are read from the page and run as they are, with ``bash``, against a small warehouse on the
session's embedded server: raw, quarantine and ops tables loaded from hand-written seller files,
with the BI grants and row-level security policies on them. The restored database must hold the
same rows as the source, counted in both.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from nexus_pipelines.lib.config import PROJECT_ROOT, load_settings
from nexus_pipelines.lib.warehouse import embedded
from nexus_pipelines.lib.warehouse.bi import apply_access
from nexus_pipelines.lib.warehouse.connection import scalar, with_database

from .dbt_runner import drop_database, load_landing, query
from .seller_files import ORDERS_HEADER, RETURNS_HEADER, STORES_YAML, tsv, write

OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"<!-- backup-restore:(\w+) -->\s*```bash\n(.*?)```", re.DOTALL)
RESTORED = "nexus_restore"  # the database the documented restore creates
TABLES = (
    "raw.stores",
    "raw.amazon_orders",
    "raw.amazon_returns",
    "quarantine.amazon_orders",
    "ops.load_manifest",
)


def documented_blocks() -> dict[str, str]:
    blocks = dict(BLOCK.findall(OPERATIONS.read_text(encoding="utf-8")))
    assert set(blocks) == {"backup", "restore"}, f"{OPERATIONS}: marked blocks found: {sorted(blocks)}"
    return blocks


def embedded_home(server_url: str) -> Path:
    """NEXUS_HOME of the session's embedded server (its socket is in ``<home>/pgdata``)."""
    host = parse_qs(urlsplit(server_url).query).get("host", [""])[0]
    if Path(host).name != "pgdata":
        pytest.skip(f"the embedded server's socket is not in its data folder ({host})")
    return Path(host).parent


def order(order_id: str, sku: str, quantity: str, price: str) -> dict:
    return {
        "amazon-order-id": order_id,
        "purchase-date": "2026-03-02T10:00:00+00:00",
        "last-updated-date": "2026-03-02T11:00:00+00:00",
        "order-status": "Shipped",
        "item-status": "Shipped",
        "sku": sku,
        "quantity": quantity,
        "currency": "USD",
        "item-price": price,
    }


def write_landing(landing: Path) -> None:
    write(landing, "stores.yaml", STORES_YAML)
    orders = [
        order("111-1", "SKU-1", "2", "40.00"),
        order("111-2", "SKU-2", "1", "15.50"),
        order("111-3", "SKU-1", "abc", "20.00"),  # quarantined: not an integer
    ]
    write(landing, "amazon/us-main/orders/2026-03-02.txt", tsv(ORDERS_HEADER, orders))
    returns = [
        {"return-date": "2026-03-03T09:00:00+00:00", "order-id": "111-1", "sku": "SKU-1", "quantity": "1"}
    ]
    write(landing, "amazon/us-main/returns/2026-03-03.txt", tsv(RETURNS_HEADER, returns))


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: scalar(conn, sql.SQL("select count(*) from {}").format(sql.Identifier(*table.split("."))))
            for table in TABLES
        }


def policies(url: str) -> int:
    return query(url, "select count(*) from pg_policy")[0][0]


def run_block(name: str, script: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"the {name} block of docs/operations.md failed ({done.returncode}):\n{script}\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )


@pytest.fixture
def restore_cleanup(server_url):
    yield
    drop_database(server_url, RESTORED)


def test_documented_backup_restores_into_a_fresh_database(fresh_db, server_url, tmp_path, restore_cleanup):
    if os.environ.get("NEXUS_DATABASE_URL", "").strip():
        pytest.skip("the documented commands are for the embedded server")
    blocks = documented_blocks()
    home = embedded_home(server_url)
    landing = tmp_path / "landing"
    write_landing(landing)
    load_landing(fresh_db, landing)
    apply_access(fresh_db, ("raw",))  # grants and row-level security policies, as after a build
    source = counts(fresh_db)
    assert all(source.values()), source  # every compared table holds rows
    assert source["quarantine.amazon_orders"] == 1

    env = {name: value for name, value in os.environ.items() if not name.startswith("NEXUS_")}
    env |= {
        "NEXUS_HOME": str(home),
        "NEXUS_DB_NAME": str(conninfo_to_dict(fresh_db)["dbname"]),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    }
    work = tmp_path / "backup"
    work.mkdir()
    try:
        run_block("backup", blocks["backup"], work, env)
        dump = work / "nexus-backup.dump"
        assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
        assert dump.stat().st_mode & 0o077 == 0  # readable by its owner only
        run_block("restore", blocks["restore"], work, env)
    finally:
        # the commands started `nexus` with another database name, which rewrote pg_hba.conf for it
        embedded.start(load_settings({"NEXUS_HOME": str(home)}))

    restored = with_database(server_url, RESTORED)
    assert counts(restored) == source
    assert policies(restored) == policies(fresh_db) > 0
