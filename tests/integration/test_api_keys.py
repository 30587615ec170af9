"""API keys (lib/warehouse/api_keys.py): the secret is shown once and stored only as its digest,
a key reads its stores only, a revoked or altered key never authenticates."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from nexus_pipelines.lib.warehouse import api_keys


@pytest.fixture
def url(fresh_db):
    return fresh_db


def test_a_key_is_stored_as_its_digest_and_verifies_with_its_scope(url):
    key, token = api_keys.add_key(url, "read", stores=["101", "eu-de"], label="seller app")
    prefix, key_id, secret = token.split("_", 2)
    assert (prefix, key_id) == ("nxk", key.key_id) and len(secret) >= 40
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "select secret_sha256 from ops.api_keys where key_id = %s", (key_id,)
        ).fetchone()[0]
        assert stored == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(conn.execute("select * from ops.api_keys").fetchall())
        found = api_keys.verify(conn, token, "read")
        assert found is not None and found.may_read("101") and found.may_read("eu-de")
        assert not found.may_read("us-main")
        assert api_keys.verify(conn, token, "write") is None  # a read key is no write key
        assert api_keys.verify(conn, token[:-1] + ("A" if token[-1] != "A" else "B"), "read") is None
        assert api_keys.verify(conn, "", "read") is None


def test_all_stores_write_keys_listing_and_revocation(url):
    every, read_token = api_keys.add_key(url, "read")
    assert every.all_stores and every.may_read("anything") and every.scope == "all stores"
    write, write_token = api_keys.add_key(url, "write")
    assert write_token.startswith("nxw_") and not write.may_read("101")
    listed = {k.key_id: k for k in api_keys.list_keys(url)}
    assert set(listed) == {every.key_id, write.key_id}
    assert api_keys.revoke(url, write_token)  # the whole token works as well as its id
    assert not api_keys.revoke(url, "000000000000")
    with psycopg.connect(url) as conn:
        assert api_keys.verify(conn, write_token, "write") is None
        assert api_keys.verify(conn, read_token, "read") is not None
    assert {k.key_id: k.revoked_at is not None for k in api_keys.list_keys(url)} == {
        every.key_id: False,
        write.key_id: True,
    }
    with pytest.raises(ValueError, match="at least one store"):
        api_keys.add_key(url, "read", stores=[])


def test_the_cache_answers_without_a_table_and_expires(url):
    cache = api_keys.KeyCache(url, ttl=0.0)
    assert cache.verify("nxk_0123456789ab_" + "x" * 40, "read") is None  # no table yet: no key
    _key, token = api_keys.add_key(url, "read", stores=["101"])
    assert cache.verify(token, "read") is not None
    api_keys.revoke(url, token)
    assert cache.verify(token, "read") is None  # ttl 0: the revocation is seen at once
