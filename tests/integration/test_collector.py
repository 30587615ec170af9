"""The event collector (api/collector.py, lib/collector.py): Segment's HTTP tracking API into landing files.

* every route with the payloads of Segment's HTTP API documentation, a batch of mixed types with
  an e-commerce "Order Completed", write keys (basic auth and ``writeKey``), the size limits, a
  bad event naming its field, a batch keeping its good events;
* what lands: ``events/<UTC date of receivedAt>.jsonl``, read back by the landing parser itself;
* durability: concurrent requests over a real socket never split a line, the day's rotation at UTC
  midnight splits no request, a SIGKILLed server loses no acknowledged event, a torn last line
  left by a crash does not spoil the next one;
* the official Segment client (segment-analytics-python) against a real uvicorn server, and the
  product marts built from what it sent.

Expected values are read off the payloads sent here.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from nexus_pipelines.api.collector import create_router
from nexus_pipelines.lib.collector import Collector, EventLog
from nexus_pipelines.lib.formats import SOURCES, ParseContext, ParsedRow, Rejected
from nexus_pipelines.lib.warehouse.api_keys import KeyCache, add_key, revoke
from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing, run_dbt
from .dbt_runner import query_dicts as rows

with warnings.catch_warnings():  # starlette's TestClient asks for httpx2, which is not installed
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

UTC = dt.UTC
D = Decimal
NOW = dt.datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)  # the injected clock: receivedAt
RECEIVED = "2026-03-02T10:00:00.123Z"  # NOW as written (milliseconds, truncated)
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
COLUMNS = SOURCES["events"].column_names


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(server_url):
    """A database with a write key, a read key and a revoked write key: (url, tokens by name)."""
    name = create_database(server_url)
    url = with_database(server_url, name)
    _, write = add_key(url, "write")
    _, read = add_key(url, "read")
    revoked_key, revoked = add_key(url, "write")
    revoke(url, revoked_key.key_id)
    yield url, {"write": write, "read": read, "revoked": revoked}
    drop_database(server_url, name)


def basic(token: str) -> dict[str, str]:
    """The Authorization header analytics-python sends: the key as user, an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{token}:".encode()).decode()}


def app_for(landing: Path, url: str, clock: Callable[[], dt.datetime] = lambda: NOW) -> FastAPI:
    app = FastAPI()
    app.include_router(create_router(landing, KeyCache(url), clock=clock))
    return app


@pytest.fixture
def collector(tmp_path, keys):
    """(TestClient of a collector writing under tmp_path/landing with the clock at NOW, landing, auth)."""
    url, tokens = keys
    landing = tmp_path / "landing"
    with TestClient(app_for(landing, url)) as client:
        yield client, landing, basic(tokens["write"])


def landed(landing: Path) -> dict[str, list[dict]]:
    """Every events file: its relative path -> its lines as dicts; each line must be whole."""
    found = {}
    for path in sorted((landing / "events").glob("*")):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path}: the last line is not whole"
        found[path.relative_to(landing).as_posix()] = [orjson.loads(line) for line in data.splitlines()]
    return found


def loader_rows(landing: Path) -> dict[str, list[dict]]:
    """Every events file as the loader's parser reads it: relative path -> row dicts (no rejection)."""
    spec = SOURCES["events"]
    found = {}
    for path in sorted(landing.glob(spec.landing_glob)):
        relative = path.relative_to(landing).as_posix()
        ctx = ParseContext(path, relative, dt.date.fromisoformat(path.name[:10]))
        results = list(spec.parser(ctx))
        assert all(isinstance(r, ParsedRow) for r in results), [r for r in results if isinstance(r, Rejected)]
        found[relative] = [dict(zip(COLUMNS, r.values, strict=True)) for r in results]
    return found


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# The example calls of Segment's HTTP API documentation (HTTP API source), route by route.
DOC_CALLS = {
    "identify": {
        "userId": "019mr8mf4r",
        "traits": {"email": "pgibbons@example.com", "name": "Peter Gibbons", "industry": "Technology"},
        "context": {"ip": "24.5.68.47"},
        "timestamp": "2012-12-02T00:30:08.276Z",
    },
    "track": {
        "userId": "019mr8mf4r",
        "event": "Item Purchased",
        "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
        "context": {"ip": "24.5.68.47"},
        "timestamp": "2012-12-02T00:30:12.984Z",
    },
    "page": {"userId": "019mr8mf4r", "name": "Tracking HTTP API", "timestamp": "2012-12-02T00:31:29.738Z"},
    "screen": {"userId": "019mr8mf4r", "name": "Tracking HTTP API", "timestamp": "2012-12-02T00:31:29.738Z"},
    "group": {
        "userId": "019mr8mf4r",
        "groupId": "8e9df332ac",
        "traits": {"name": "Initech", "industry": "Technology", "employees": 420},
        "timestamp": "2012-12-02T00:31:38.208Z",
    },
    "alias": {
        "previousId": "39239-239239-239239-23923",
        "userId": "019mr8mf4r",
        "timestamp": "2012-12-02T00:31:29.738Z",
    },
}

# Segment's e-commerce spec example of Order Completed
ORDER_COMPLETED = {
    "type": "track",
    "userId": "u-42",
    "messageId": "order-1",
    "event": "Order Completed",
    "timestamp": "2026-03-02T09:58:00Z",
    "properties": {
        "checkout_id": "fksdjfsdjfisjf9sdfjsd9f",
        "order_id": "50314b8e9bcf000000000000",
        "affiliation": "Google Store",
        "total": 27.50,
        "subtotal": 22.50,
        "revenue": 25.00,
        "shipping": 3,
        "tax": 2,
        "discount": 2.5,
        "coupon": "hasbros",
        "currency": "USD",
        "products": [
            {
                "product_id": "507f1f77bcf86cd799439011",
                "sku": "45790-32",
                "name": "Monopoly: 3rd Edition",
                "price": 19,
                "quantity": 1,
                "category": "Games",
            },
            {
                "product_id": "505bd76785ebb509fc183733",
                "sku": "46493-32",
                "name": "Uno Card Game",
                "price": 3,
                "quantity": 2,
                "category": "Games",
            },
        ],
    },
}


# --- every route ---------------------------------------------------------------------------------


def test_each_route_stores_segment_documentation_payloads(collector, keys):
    client, landing, auth = collector
    for kind, body in DOC_CALLS.items():
        if kind == "identify":  # the key in the body instead of the header, as Segment allows
            answer = client.post(f"/v1/{kind}", json={**body, "writeKey": keys[1]["write"]})
        else:
            answer = client.post(f"/v1/{kind}", json=body, headers=auth)
        assert (answer.status_code, answer.json()) == (200, {"success": True}), kind

    files = landed(landing)
    assert list(files) == ["events/2026-03-02.jsonl"]  # the UTC date of receivedAt
    lines = files["events/2026-03-02.jsonl"]
    assert [line["type"] for line in lines] == list(DOC_CALLS)
    for line, (kind, body) in zip(lines, DOC_CALLS.items(), strict=True):
        message_id = line.pop("messageId")  # made by the collector: none was sent
        assert len(message_id) == 36, kind
        assert line == {**body, "type": kind, "receivedAt": RECEIVED}, kind  # no writeKey
    assert len({line["messageId"] for line in landed(landing)["events/2026-03-02.jsonl"]}) == 6

    parsed = loader_rows(landing)["events/2026-03-02.jsonl"]
    assert [
        (
            r["event_type"],
            r["event_name"],
            r["page_name"],
            r["user_id"],
            r["event_timestamp"],
            r["received_at"],
        )
        for r in parsed
    ] == [
        (
            "identify",
            None,
            None,
            "019mr8mf4r",
            utc("2012-12-02 00:30:08.276"),
            utc("2026-03-02 10:00:00.123"),
        ),
        (
            "track",
            "Item Purchased",
            None,
            "019mr8mf4r",
            utc("2012-12-02 00:30:12.984"),
            utc("2026-03-02 10:00:00.123"),
        ),
        (
            "page",
            None,
            "Tracking HTTP API",
            "019mr8mf4r",
            utc("2012-12-02 00:31:29.738"),
            utc("2026-03-02 10:00:00.123"),
        ),
        (
            "screen",
            None,
            "Tracking HTTP API",
            "019mr8mf4r",
            utc("2012-12-02 00:31:29.738"),
            utc("2026-03-02 10:00:00.123"),
        ),
        ("group", None, None, "019mr8mf4r", utc("2012-12-02 00:31:38.208"), utc("2026-03-02 10:00:00.123")),
        ("alias", None, None, "019mr8mf4r", utc("2012-12-02 00:31:29.738"), utc("2026-03-02 10:00:00.123")),
    ]
    assert parsed[0]["traits"] == DOC_CALLS["identify"]["traits"]
    assert parsed[1]["properties"] == {"name": "Leap to Conclusions Mat", "revenue": 14.99}
    assert parsed[4]["extra_fields"] == {"groupId": "8e9df332ac"}
    assert parsed[5]["extra_fields"] == {"previousId": "39239-239239-239239-23923"}


def test_a_route_sets_the_type_and_receivedAt_whatever_the_event_says(collector):
    client, landing, auth = collector
    body = {"type": "identify", "userId": "u", "event": "Signed Up", "receivedAt": "2020-01-01T00:00:00Z"}
    assert client.post("/v1/track", json={**body, "messageId": "m-1"}, headers=auth).status_code == 200
    (line,) = landed(landing)["events/2026-03-02.jsonl"]
    assert line == {
        "type": "track",
        "userId": "u",
        "event": "Signed Up",
        "receivedAt": RECEIVED,
        "messageId": "m-1",
    }


def test_a_batch_of_mixed_types_with_an_order_completed(collector):
    client, landing, auth = collector
    batch = [{"type": kind, "messageId": f"doc-{kind}", **body} for kind, body in DOC_CALLS.items()] + [
        ORDER_COMPLETED
    ]
    answer = client.post(
        "/v1/batch",
        json={
            "batch": batch,
            "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}, "ip": "10.0.0.1"},
            "integrations": {"All": True},
            "sentAt": "2026-03-02T09:59:59Z",
        },
        headers=auth,
    )
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    lines = landed(landing)["events/2026-03-02.jsonl"]
    assert [line["messageId"] for line in lines] == [
        "doc-identify",
        "doc-track",
        "doc-page",
        "doc-screen",
        "doc-group",
        "doc-alias",
        "order-1",
    ]
    device = {"type": "phone", "name": "Apple iPhone 6"}
    # the batch's context is merged into each item's, the item's own keys win
    assert lines[0]["context"] == {"device": device, "ip": "24.5.68.47"}
    assert lines[2]["context"] == {"device": device, "ip": "10.0.0.1"}
    assert all(line["integrations"] == {"All": True} for line in lines)
    assert all(line["sentAt"] == "2026-03-02T09:59:59Z" for line in lines)
    assert all(line["receivedAt"] == RECEIVED for line in lines)
    assert lines[6]["properties"] == ORDER_COMPLETED["properties"]

    order = loader_rows(landing)["events/2026-03-02.jsonl"][6]
    assert (order["event_name"], order["user_id"], order["event_timestamp"], order["timestamp_source"]) == (
        "Order Completed",
        "u-42",
        utc("2026-03-02 09:58:00"),
        "timestamp",
    )
    assert order["properties"]["order_id"] == "50314b8e9bcf000000000000"
    assert order["properties"]["revenue"] == 25.0
    assert [p["quantity"] for p in order["properties"]["products"]] == [1, 2]


def test_a_gzip_body_is_read_like_a_plain_one(collector):
    client, landing, auth = collector
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "Zipped"}]}))
    answer = client.post("/v1/batch", content=body, headers={**auth, "Content-Encoding": "gzip"})
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert [line["event"] for line in landed(landing)["events/2026-03-02.jsonl"]] == ["Zipped"]


# --- keys ----------------------------------------------------------------------------------------


def test_no_key_or_a_bad_key_is_401_and_writes_nothing(collector, keys):
    client, landing, _auth = collector
    tokens = keys[1]
    event = {"userId": "u", "event": "X"}
    attempts = {
        "no key": client.post("/v1/track", json=event),
        "read key": client.post("/v1/track", json=event, headers=basic(tokens["read"])),
        "revoked key": client.post("/v1/track", json=event, headers=basic(tokens["revoked"])),
        "altered key": client.post("/v1/track", json=event, headers=basic(tokens["write"][:-2] + "xx")),
        "bad body key": client.post(
            "/v1/track", json={**event, "writeKey": "nxw_000000000000_nope-nope-nope-nope-x"}
        ),
        "not basic64": client.post("/v1/track", json=event, headers={"Authorization": "Basic %%%"}),
        # a good key in the body does not make up for a bad one in the header
        "bad header": client.post(
            "/v1/batch", json={"batch": [event], "writeKey": tokens["write"]}, headers=basic(tokens["read"])
        ),
    }
    for name, answer in attempts.items():
        assert answer.status_code == 401, name
        error = answer.json()["error"]
        assert (error["status"], error["code"], error["field"]) == (401, "unauthorized", None), name
        assert answer.headers["WWW-Authenticate"].startswith("Basic"), name
    assert attempts["no key"].json()["error"]["message"].startswith("no write key")
    assert not (landing / "events").exists()

    # the key without the colon (older clients) and the key in a batch body are accepted
    bare = {"Authorization": "Basic " + base64.b64encode(tokens["write"].encode()).decode()}
    assert client.post("/v1/track", json=event, headers=bare).status_code == 200
    in_batch = {"batch": [{**event, "type": "track"}], "writeKey": tokens["write"]}
    assert client.post("/v1/batch", json=in_batch).status_code == 200
    lines = landed(landing)["events/2026-03-02.jsonl"]
    assert len(lines) == 2 and all("writeKey" not in line for line in lines)


# --- limits and bad events -----------------------------------------------------------------------


def padded(size: int, **fields) -> dict:
    """A track whose compact JSON is exactly ``size`` bytes."""
    event = {"type": "track", "userId": "u", "event": "Big", "properties": {"pad": ""}, **fields}
    event["properties"]["pad"] = "x" * (size - len(orjson.dumps(event)))
    assert len(orjson.dumps(event)) == size
    return event


def test_size_limits_are_413(collector):
    client, landing, auth = collector

    def post(route: str, body: dict) -> httpx.Response:
        return client.post(route, content=orjson.dumps(body), headers=auth)

    assert post("/v1/track", padded(32 * 1024)).status_code == 200  # 32 KB exactly is allowed
    too_big = post("/v1/track", padded(32 * 1024 + 1))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert "32,768 bytes" in too_big.json()["error"]["message"]

    # a batch: 16 events of 32,000 bytes are 512,000 bytes of events, over 500 KB with the envelope
    over = post("/v1/batch", {"batch": [padded(32_000) for _ in range(16)]})
    assert (over.status_code, over.json()["error"]["code"]) == (413, "payload_too_large")
    assert "512,000 bytes" in over.json()["error"]["message"]
    # the same without a Content-Length (chunked): cut off while it streams in
    chunks = orjson.dumps({"batch": [padded(32_000) for _ in range(16)]})
    streamed = client.post(
        "/v1/batch", content=iter([chunks[i : i + 65536] for i in range(0, len(chunks), 65536)]), headers=auth
    )
    assert streamed.status_code == 413
    # gzip: small on the wire, over the limit once decompressed
    zipped = gzip.compress(chunks)
    assert len(zipped) < 10_000
    bomb = client.post("/v1/batch", content=zipped, headers={**auth, "Content-Encoding": "gzip"})
    assert bomb.status_code == 413

    # an event over 32 KB in a batch under 500 KB is refused alone, the other one is kept
    mixed = post("/v1/batch", {"batch": [padded(32 * 1024 + 1), padded(1000)]})
    assert mixed.status_code == 200
    assert mixed.json() == {
        "success": True,
        "rejected": [
            {"index": 0, "field": None, "message": "the event is 32,769 bytes, over the limit of 32,768"}
        ],
    }
    alone = post("/v1/batch", {"batch": [padded(40_000)]})
    assert (alone.status_code, alone.json()["error"]["code"]) == (413, "payload_too_large")

    stored = landed(landing)["events/2026-03-02.jsonl"]
    added = ("messageId", "receivedAt")  # by the collector
    sizes = [len(orjson.dumps({k: v for k, v in line.items() if k not in added})) for line in stored]
    assert sizes == [32 * 1024, 1000]


@pytest.mark.parametrize(
    ("route", "body", "field", "message"),
    [
        ("track", {"event": "X"}, "userId", "neither userId nor anonymousId is set"),
        ("track", {"userId": "u"}, "event", "event: missing (a track needs one)"),
        ("track", {"userId": "u", "event": ["X"]}, "event", "event: expected a string, got list"),
        ("page", {"userId": "u", "context": [1]}, "context", "context: expected an object, got list"),
        ("identify", {"userId": "u", "traits": "vip"}, "traits", "traits: expected an object, got str"),
        (
            "track",  # the batch example of Segment's documentation has this date
            {"userId": "u", "event": "X", "timestamp": "2015-2-02T00:30:08.276Z"},
            "timestamp",
            "timestamp: '2015-2-02T00:30:08.276Z' is not an ISO-8601 timestamp",
        ),
        (
            "track",  # NOW is 2026-03-02: a file of that date holds nothing after 2026-03-04
            {"userId": "u", "event": "X", "timestamp": "2026-03-05T00:00:00Z"},
            "timestamp",
            "timestamp: 2026-03-05T00:00:00+00:00 is after the file's date 2026-03-02 + 2 days",
        ),
        ("track", {"userId": "u", "event": "X", "messageId": ""}, "messageId", "messageId: missing"),
        ("group", {"userId": "u"}, "groupId", "groupId: missing (a group needs one)"),
        ("alias", {"userId": "u"}, "previousId", "previousId: missing (a alias needs one)"),
        (
            "track",
            {"userId": "u", "event": "X", "properties": {"note": "a\u0000b"}},
            "properties",
            "contains a NUL character (\\u0000), which PostgreSQL cannot store",
        ),
    ],
)
def test_a_bad_event_is_400_naming_its_field(collector, route, body, field, message):
    client, landing, auth = collector
    answer = client.post(f"/v1/{route}", json=body, headers=auth)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {"status": 400, "code": "invalid_parameter", "message": message, "field": field}
    }
    assert not (landing / "events").exists()


def test_a_body_that_is_not_a_json_object_is_400(collector):
    client, landing, auth = collector
    for body in (b'{"userId": "u", "event": ', b"[1, 2]", b"\xff\xfe"):
        answer = client.post("/v1/track", content=body, headers=auth)
        error = answer.json()["error"]
        assert (answer.status_code, error["code"], error["field"]) == (400, "invalid_parameter", None), body
    for batch in ({"batch": {"type": "track"}}, {"batch": []}, {}):
        answer = client.post("/v1/batch", json=batch, headers=auth)
        assert (answer.status_code, answer.json()["error"]["field"]) == (400, "batch"), batch
    assert not (landing / "events").exists()


def test_a_batch_keeps_its_good_events_and_lists_the_others(collector):
    client, landing, auth = collector
    batch = [
        {"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": "good-1"},
        {"type": "track", "event": "No One"},
        {"type": "purchase", "userId": "u1"},
        "not an event",
        {"userId": "u1", "event": "No Type"},
        {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "good-2"},
    ]
    answer = client.post("/v1/batch", json={"batch": batch}, headers=auth)
    assert answer.status_code == 200
    assert answer.json() == {
        "success": True,
        "rejected": [
            {"index": 1, "field": "userId", "message": "neither userId nor anonymousId is set"},
            {
                "index": 2,
                "field": "type",
                "message": "type: 'purchase' is not one of track, identify, page, screen, group, alias",
            },
            {"index": 3, "field": None, "message": "expected a JSON object, got a string"},
            {"index": 4, "field": "type", "message": "type: missing"},
        ],
    }
    assert [line["messageId"] for line in landed(landing)["events/2026-03-02.jsonl"]] == ["good-1", "good-2"]

    none_good = client.post("/v1/batch", json={"batch": batch[1:3]}, headers=auth)
    assert none_good.status_code == 400
    assert none_good.json()["error"] == {
        "status": 400,
        "code": "invalid_parameter",
        "message": "none of the 2 event(s) was accepted; the first, index 0: neither userId nor anonymousId is set",
        "field": "userId",
    }
    assert [r["index"] for r in none_good.json()["rejected"]] == [0, 1]
    assert len(landed(landing)["events/2026-03-02.jsonl"]) == 2


# --- durability ----------------------------------------------------------------------------------


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on a real uvicorn server on a free localhost port (in a thread); yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def hammer(base: str, auth: dict, threads: int, requests: int, body: Callable[[int, int], dict]) -> list[str]:
    """``threads`` clients each POST ``requests`` batches ``body(thread, i)``; returns the failures."""
    failures: list[str] = []

    def client(t: int) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
            for i in range(requests):
                answer = http.post("/v1/batch", content=orjson.dumps(body(t, i)))
                if answer.status_code != 200 or answer.json() != {"success": True}:
                    failures.append(f"{t}/{i}: {answer.status_code} {answer.text}")

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return failures


def test_20_concurrent_clients_write_1000_whole_lines(tmp_path, keys):
    url, tokens = keys
    landing = tmp_path / "landing"

    def body(t: int, i: int) -> dict:  # sizes from 100 bytes to about 24 KB, so writes are large too
        pad = "x" * ((t * 50 + i) % 7 * 4000)
        return {
            "batch": [{"type": "track", "userId": f"u{t}", "event": "E", "messageId": f"{t}-{i}", "p": pad}]
        }

    with serving(app_for(landing, url)) as base:
        assert hammer(base, basic(tokens["write"]), threads=20, requests=50, body=body) == []
    data = (landing / "events" / "2026-03-02.jsonl").read_bytes()
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 1001  # 1000 lines, each ending in a newline
    events = [orjson.loads(line) for line in lines[:-1]]  # a split or glued line would not parse
    assert sorted(e["messageId"] for e in events) == sorted(f"{t}-{i}" for t in range(20) for i in range(50))
    assert all(
        e["p"] == "x" * ((int(t) * 50 + int(i)) % 7 * 4000)
        for e in events
        for t, i in [e["messageId"].split("-")]
    )
    assert len(loader_rows(landing)["events/2026-03-02.jsonl"]) == 1000


def test_the_lines_of_a_request_stay_together(tmp_path):
    """Direct on the collector: 8 threads x 25 requests of 4 events, each request's lines contiguous."""
    collector = Collector(tmp_path, clock=lambda: NOW)

    def client(t: int) -> None:
        for i in range(25):
            batch = [
                {"type": "track", "userId": "u", "event": "E", "messageId": f"{t}-{i}-{n}"} for n in range(4)
            ]
            assert collector.collect(batch).written == 4

    workers = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ids = [line["messageId"] for line in landed(tmp_path)["events/2026-03-02.jsonl"]]
    assert len(ids) == 800
    groups = [ids[k : k + 4] for k in range(0, 800, 4)]
    assert all(len({g.rsplit("-", 1)[0] for g in group}) == 1 for group in groups)
    assert sorted(g[0].rsplit("-", 1)[0] for g in groups) == sorted(
        f"{t}-{i}" for t in range(8) for i in range(25)
    )


def test_rotation_at_utc_midnight_splits_no_request(tmp_path, keys):
    """Requests 1-100 are received in the last second of 2 March (UTC), 101-200 in the first of 3 March."""
    url, tokens = keys
    landing = tmp_path / "landing"
    calls = itertools.count(1)
    lock = threading.Lock()
    before = dt.datetime(2026, 3, 2, 23, 59, 59, 999000, tzinfo=UTC)
    # 3 March 00:00:00 UTC as New York time (2 March, 19:00): the file is named by the UTC date
    after = dt.datetime(2026, 3, 2, 19, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))

    def clock() -> dt.datetime:
        with lock:
            return before if next(calls) <= 100 else after

    def body(t: int, i: int) -> dict:
        return {
            "batch": [{"type": "page", "anonymousId": f"a{t}", "messageId": f"{t}-{i}-{n}"} for n in range(3)]
        }

    with serving(app_for(landing, url, clock)) as base:
        assert hammer(base, basic(tokens["write"]), threads=10, requests=20, body=body) == []
    files = landed(landing)
    assert list(files) == ["events/2026-03-02.jsonl", "events/2026-03-03.jsonl"]
    assert {len(lines) for lines in files.values()} == {300}  # 100 requests of 3 events each
    assert {e["receivedAt"] for e in files["events/2026-03-02.jsonl"]} == {"2026-03-02T23:59:59.999Z"}
    assert {e["receivedAt"] for e in files["events/2026-03-03.jsonl"]} == {"2026-03-03T00:00:00.000Z"}
    for lines in files.values():  # every request whole in one file: its 3 events together
        prefixes = [e["messageId"].rsplit("-", 1)[0] for e in lines]
        assert all(len(set(prefixes[k : k + 3])) == 1 for k in range(0, 300, 3))
    all_ids = [e["messageId"] for lines in files.values() for e in lines]
    assert sorted(all_ids) == sorted(f"{t}-{i}-{n}" for t in range(10) for i in range(20) for n in range(3))
    assert {path: len(parsed) for path, parsed in loader_rows(landing).items()} == {
        "events/2026-03-02.jsonl": 300,
        "events/2026-03-03.jsonl": 300,
    }


SERVER = """
import sys
from pathlib import Path
import uvicorn
from fastapi import FastAPI
from nexus_pipelines.api.collector import create_router
from nexus_pipelines.lib.warehouse.api_keys import KeyCache

app = FastAPI()
app.include_router(create_router(Path(sys.argv[1]), KeyCache(sys.argv[2])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server_process(landing: Path, url: str) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(landing), url, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(f"{base}/v1/track", timeout=1)  # 401: up
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_every_acknowledged_event_is_on_disk_after_sigkill(tmp_path, keys):
    url, tokens = keys
    landing = tmp_path / "landing"
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(t: int) -> None:
        with httpx.Client(base_url=base, headers=basic(tokens["write"]), timeout=10) as http:
            for i in itertools.count():
                ids = [f"{t}-{i}-{n}" for n in range(5)]
                batch = [{"type": "track", "userId": "u", "event": "E", "messageId": m} for m in ids]
                try:
                    answer = http.post("/v1/batch", content=orjson.dumps({"batch": batch}))
                except httpx.TransportError:
                    return  # the server is gone
                if answer.status_code == 200:
                    acknowledged.extend(ids)
                if stop.is_set():
                    return

    with server_process(landing, url) as (process, base):
        workers = [threading.Thread(target=client, args=(t,)) for t in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)  # while the clients are still sending
        process.wait(10)
        stop.set()
        for worker in workers:
            worker.join(20)
    assert len(acknowledged) >= 1000

    data = (landing / "events").joinpath(os.listdir(landing / "events")[0]).read_bytes()
    whole = data[: data.rfind(b"\n") + 1]  # a request cut by the kill was never acknowledged
    stored = [orjson.loads(line)["messageId"] for line in whole.splitlines()]
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))

    # restarted, the server appends after whatever the kill left
    with server_process(landing, url) as (_process, base):
        answer = httpx.post(
            f"{base}/v1/track",
            json={"userId": "u", "event": "After", "messageId": "after"},
            headers=basic(tokens["write"]),
        )
        assert answer.status_code == 200
    data = (landing / "events").joinpath(os.listdir(landing / "events")[0]).read_bytes()
    assert data.endswith(b"\n") and orjson.loads(data.splitlines()[-1])["messageId"] == "after"


def test_a_torn_last_line_from_a_crash_stays_a_line_of_its_own(tmp_path):
    log = EventLog(tmp_path)
    path = log.path_for(NOW.date())
    path.parent.mkdir()
    path.write_bytes(
        b'{"type":"track","userId":"u","event":"E","messageId":"m-1","receivedAt":"2026-03-02T09:00:00Z"}\n{"type":"tr'
    )
    assert (
        Collector(tmp_path, clock=lambda: NOW)
        .collect([{"type": "track", "userId": "u", "event": "F"}])
        .written
        == 1
    )
    ctx = ParseContext(path, "events/2026-03-02.jsonl", NOW.date())
    results = list(SOURCES["events"].parser(ctx))
    assert [type(r).__name__ for r in results] == ["ParsedRow", "Rejected", "ParsedRow"]
    assert results[1].raw == '{"type":"tr' and results[2].values[2] == "F"


def test_a_new_landing_file_is_private(tmp_path):
    Collector(tmp_path, clock=lambda: NOW).collect([{"type": "track", "userId": "u", "event": "E"}])
    assert os.stat(tmp_path / "events").st_mode & 0o777 == 0o700
    assert os.stat(tmp_path / "events" / "2026-03-02.jsonl").st_mode & 0o777 == 0o600


# --- the official Segment client, and the marts built from what it sent -------------------------

PRODUCT_MODELS = "+fct_orders_web"  # the stitched events, the sessions and the web orders


def test_segment_analytics_python_client_and_the_product_marts(tmp_path, server_url, keys):
    import segment.analytics as analytics
    from segment.analytics import Client

    url, tokens = keys
    landing = tmp_path / "landing"
    t0 = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
    context = {"userAgent": DESKTOP, "ip": "203.0.113.7"}
    with serving(app_for(landing, url, clock=lambda: dt.datetime.now(UTC))) as base:
        analytics.default_client = None
        analytics.write_key, analytics.host, analytics.sync_mode = tokens["write"], base, True
        analytics.max_retries = 0
        try:
            analytics.identify(
                "u_ana",
                {"email": "ana@example.com", "name": "Ana"},
                anonymous_id="anon-ana",
                timestamp=t0,
                context=context,
            )
            analytics.page(
                "u_ana",
                category="Shop",
                name="Tent",
                properties={"path": "/products/tent", "url": "https://shop.example.com/products/tent"},
                timestamp=t0 + dt.timedelta(minutes=1),
                context=context,
            )
            analytics.track(
                "u_ana",
                "Product Viewed",
                {"sku": "TENT-2P"},
                timestamp=t0 + dt.timedelta(minutes=2),
                context=context,
            )
            analytics.track(
                "u_ana",
                "Order Completed",
                {
                    "order_id": "W-1001",
                    "revenue": 64.5,
                    "currency": "USD",
                    "products": [
                        {"product_id": "p-1", "sku": "TENT-2P", "name": "Tent", "price": 49.5, "quantity": 1},
                        {"product_id": "p-2", "sku": "PEG", "name": "Pegs", "price": 7.5, "quantity": 2},
                    ],
                },
                timestamp=t0 + dt.timedelta(minutes=5),
                context=context,
            )
            analytics.flush()
        finally:
            analytics.default_client = None
        # a client sending gzip bodies (analytics-python's gzip option)
        zipped = Client(tokens["write"], host=base, sync_mode=True, gzip=True, max_retries=0)
        zipped.track("u_bo", "Product Viewed", {"sku": "PEG"}, timestamp=t0 + dt.timedelta(hours=1))

    files = landed(landing)
    lines = [line for file_lines in files.values() for line in file_lines]
    assert [(line["type"], line.get("event")) for line in lines] == [
        ("identify", None),
        ("page", None),
        ("track", "Product Viewed"),
        ("track", "Order Completed"),
        ("track", "Product Viewed"),
    ]
    assert all(line["context"]["library"]["name"] == "analytics-python" for line in lines)
    assert all("writeKey" not in line and line["receivedAt"].endswith("Z") for line in lines)
    assert lines[3]["properties"]["order_id"] == "W-1001"
    for path, file_lines in files.items():  # each file is named by the UTC date of its receivedAt
        assert {line["receivedAt"][:10] for line in file_lines} == {path[7:17]}

    name = create_database(server_url)
    marts = with_database(server_url, name)
    try:
        load_landing(marts, landing)
        run_dbt(marts, "run", "--select", PRODUCT_MODELS, target_dir=tmp_path / "dbt")
        orders = rows(
            marts,
            "select order_id, user_key, user_id, is_identified, ordered_at, revenue, currency, product_count,"
            " units, channel, device_type from marts.fct_orders_web",
        )
        sessions = rows(
            marts,
            "select user_key, user_id, anonymous_id, session_date, started_at, ended_at, duration_seconds,"
            " events, page_views, landing_page_path, channel, device_type from marts.fct_sessions order by started_at",
        )
    finally:
        drop_database(server_url, name)
    assert orders == [
        {
            "order_id": "W-1001",
            "user_key": "u_ana",
            "user_id": "u_ana",
            "is_identified": True,
            "ordered_at": t0 + dt.timedelta(minutes=5),
            "revenue": D("64.50"),
            "currency": "USD",
            "product_count": 2,
            "units": D("3.00"),
            "channel": "Direct",
            "device_type": "desktop",
        }
    ]
    assert sessions == [
        {  # identify, page, two tracks: 10:00 to 10:05
            "user_key": "u_ana",
            "user_id": "u_ana",
            "anonymous_id": "anon-ana",
            "session_date": dt.date(2026, 3, 2),
            "started_at": t0,
            "ended_at": t0 + dt.timedelta(minutes=5),
            "duration_seconds": 300,
            "events": 4,
            "page_views": 1,
            "landing_page_path": "/products/tent",
            "channel": "Direct",
            "device_type": "desktop",
        },
        {  # the gzip client's one event, without a user agent
            "user_key": "u_bo",
            "user_id": "u_bo",
            "anonymous_id": None,
            "session_date": dt.date(2026, 3, 2),
            "started_at": t0 + dt.timedelta(hours=1),
            "ended_at": t0 + dt.timedelta(hours=1),
            "duration_seconds": 0,
            "events": 1,
            "page_views": 0,
            "landing_page_path": None,
            "channel": "Direct",
            "device_type": None,
        },
    ]
