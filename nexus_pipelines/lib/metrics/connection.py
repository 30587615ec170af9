"""Read-only connections to the warehouse, kept in a small thread-safe pool.

Every connection is opened with ``default_transaction_read_only=on``, so no statement sent through
it can write, whatever the SQL. One borrow is one repeatable-read transaction: the queries of one
response see the same snapshot of the marts, even while a dbt build replaces them. A connection
that broke (server restart, network) is dropped instead of being handed out again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg

from .models import MetricCalculationError

READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"


def connect(url: str, *, statement_timeout_ms: int = 30_000, connect_timeout: int = 10) -> psycopg.Connection:
    """A new read-only connection (each transaction is read-only; statements time out)."""
    options = f"{READ_ONLY_OPTIONS} -c statement_timeout={int(statement_timeout_ms)}"
    conn = psycopg.connect(url, options=options, connect_timeout=connect_timeout)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


class ReadOnlyPool:
    """At most ``size`` read-only connections, opened on first need and reused.

    ``connection()`` waits up to ``wait_seconds`` for a free one, then raises
    MetricCalculationError. The transaction of a borrow is rolled back when it is returned.
    """

    def __init__(
        self, url: str, size: int = 4, *, wait_seconds: float = 30.0, statement_timeout_ms: int = 30_000
    ) -> None:
        if size < 1:
            raise ValueError(f"pool_size must be at least 1, got {size}")
        self.url = url
        self.size = size
        self.wait_seconds = wait_seconds
        self.statement_timeout_ms = statement_timeout_ms
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> psycopg.Connection | None:
        """A new connection when the pool is below its size, else None."""
        with self._lock:
            if self._opened >= self.size:
                return None
            self._opened += 1
        try:
            return connect(self.url, statement_timeout_ms=self.statement_timeout_ms)
        except BaseException:
            with self._lock:
                self._opened -= 1
            raise

    def _acquire(self) -> psycopg.Connection:
        if self._closed:
            raise MetricCalculationError("the metrics engine is closed")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        conn = self._open()
        if conn is not None:
            return conn
        try:
            return self._idle.get(timeout=self.wait_seconds)
        except queue.Empty:
            raise MetricCalculationError(
                f"no free database connection after {self.wait_seconds:g} s (pool of {self.size})"
            ) from None

    def _discard(self, conn: psycopg.Connection) -> None:
        with suppress(Exception):
            conn.close()
        with self._lock:
            self._opened -= 1

    def _release(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken or self._closed:
            self._discard(conn)
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self._discard(conn)
            return
        self._idle.put(conn)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close the idle connections; those borrowed are closed when they come back."""
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            self._discard(conn)
