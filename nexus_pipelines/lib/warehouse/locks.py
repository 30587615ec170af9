"""PostgreSQL advisory locks that keep two runs' writes to the same thing apart.

Session-level locks on a connection of their own: a killed process loses its connection and
with it the lock, so nothing stays locked after a crash. Names are hashed to the 64-bit key
PostgreSQL expects; every lock of the project is prefixed ``nexus:``.

* ``nexus:ddl`` — creating schemas, tables and indexes (concurrent ``create ... if not exists``
  can fail or deadlock);
* ``nexus:load:<source>`` — loading the files of one raw table (delete + COPY + manifest);
* ``nexus:dbt`` — one dbt invocation at a time (dbt re-creates relations under fixed names).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from .connection import scalar


def lock_key(name: str) -> int:
    digest = hashlib.blake2b(f"nexus:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def held(
    conn: psycopg.Connection, name: str, *, on_wait: Callable[[str], None] | None = None
) -> Iterator[float]:
    """Hold the advisory lock ``name`` on ``conn`` (autocommit); yields the seconds spent waiting.

    ``on_wait`` is called once with a message when another session holds the lock.
    """
    key = lock_key(name)
    started = time.perf_counter()
    if not scalar(conn, "select pg_try_advisory_lock(%s)", (key,)):
        if on_wait is not None:
            on_wait(f"waiting for another run that holds the lock {name!r}")
        conn.execute("select pg_advisory_lock(%s)", (key,))
    try:
        yield time.perf_counter() - started
    finally:
        if not conn.closed:
            conn.execute("select pg_advisory_unlock(%s)", (key,))


@contextmanager
def exclusive(url: str, name: str, *, on_wait: Callable[[str], None] | None = None) -> Iterator[float]:
    """``held`` on a connection of its own (for work that runs elsewhere, e.g. a dbt subprocess)."""
    with psycopg.connect(url, autocommit=True) as conn, held(conn, name, on_wait=on_wait) as waited:
        yield waited
