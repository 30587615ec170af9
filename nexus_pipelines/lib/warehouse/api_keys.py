"""API keys of `nexus api`: read keys scoped to stores, and write keys of the event collector.

A key is ``nxk_<key_id>_<secret>`` (read) or ``nxw_<key_id>_<secret>`` (write); the secret is 32
random bytes (``secrets.token_urlsafe``), shown once when the key is made. The warehouse keeps
only its SHA-256 (``ops.api_keys``): a random 256-bit secret needs no slow password hash, and a
leaked table gives no usable key. Checking a key compares digests in constant time. A revoked key
stays listed (with its revocation time) and never authenticates again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

import psycopg

Kind = Literal["read", "write"]
PREFIX: dict[str, str] = {"read": "nxk", "write": "nxw"}
_TOKEN = re.compile(r"^(nxk|nxw)_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")

DDL = """
create schema if not exists ops;
create table if not exists ops.api_keys (
    key_id text primary key,
    kind text not null check (kind in ('read', 'write')),
    secret_sha256 text not null,
    all_stores boolean not null default false,
    stores text[] not null default '{}',
    label text,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);
"""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    kind: str
    all_stores: bool
    stores: tuple[str, ...]
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def may_read(self, store_id: str) -> bool:
        return self.kind == "read" and (self.all_stores or store_id in self.stores)

    @property
    def scope(self) -> str:
        if self.kind == "write":
            return "events (write)"
        return "all stores" if self.all_stores else ", ".join(self.stores)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(DDL)


def add_key(
    url: str, kind: Kind, *, stores: list[str] | None = None, label: str | None = None
) -> tuple[ApiKey, str]:
    """A new key; ``stores=None`` for a read key of every store. Returns (the key, its token)."""
    if kind == "read" and stores is not None and not stores:
        raise ValueError("a read key needs at least one store, or all stores")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with psycopg.connect(url) as conn:
        ensure_table(conn)
        row = conn.execute(
            """insert into ops.api_keys (key_id, kind, secret_sha256, all_stores, stores, label)
            values (%s, %s, %s, %s, %s, %s)
            returning key_id, kind, all_stores, stores, label, created_at, revoked_at""",
            (key_id, kind, _digest(secret), kind == "read" and stores is None, stores or [], label),
        ).fetchone()
    assert row is not None
    return _key(row), f"{PREFIX[kind]}_{key_id}_{secret}"


def _key(row: tuple) -> ApiKey:
    return ApiKey(row[0], row[1], row[2], tuple(row[3] or ()), row[4], row[5], row[6])


def list_keys(url: str) -> list[ApiKey]:
    with psycopg.connect(url) as conn:
        ensure_table(conn)
        rows = conn.execute(
            "select key_id, kind, all_stores, stores, label, created_at, revoked_at "
            "from ops.api_keys order by created_at, key_id"
        ).fetchall()
    return [_key(r) for r in rows]


def revoke(url: str, key_id: str) -> bool:
    """Revoke a key by its id (the part after ``nxk_`` / ``nxw_``); False when there is none."""
    key_id = key_id.strip()
    match = _TOKEN.match(key_id)
    if match:  # a whole token pasted: take its id
        key_id = match.group(2)
    with psycopg.connect(url) as conn:
        ensure_table(conn)
        found = conn.execute(
            "update ops.api_keys set revoked_at = coalesce(revoked_at, now()) where key_id = %s returning key_id",
            (key_id,),
        ).fetchone()
    return found is not None


def verify(conn: psycopg.Connection, token: str, kind: Kind) -> ApiKey | None:
    """The live key of ``kind`` that ``token`` is, else None."""
    match = _TOKEN.match(token.strip())
    if not match or match.group(1) != PREFIX[kind]:
        return None
    row = conn.execute(
        "select key_id, kind, all_stores, stores, label, created_at, revoked_at, secret_sha256 "
        "from ops.api_keys where key_id = %s and kind = %s and revoked_at is null",
        (match.group(2), kind),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[7], _digest(match.group(3))):
        return None
    return _key(row[:7])


class KeyCache:
    """``verify`` with the answers kept for ``ttl`` seconds (a revocation takes effect within it)."""

    def __init__(self, url: str, ttl: float = 5.0) -> None:
        self.url = url
        self.ttl = ttl
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, ApiKey | None]] = {}

    def verify(self, token: str, kind: Kind) -> ApiKey | None:
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get((token, kind))
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            try:
                key = verify(conn, token, kind)
            except psycopg.errors.UndefinedTable:
                key = None
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[(token, kind)] = (now, key)
        return key
