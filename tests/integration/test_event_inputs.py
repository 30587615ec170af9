"""Events from other SDKs on a real PostgreSQL: times derived without `timestamp`, names in any spelling.

* the loader: a re-delivered RudderStack event whose derived time differs is set aside with a
  reason saying so; an existing raw.events gains timestamp_source for the rows it already holds,
  and copies set aside before the column existed come back with it;
* dbt: an ``order_completed`` sent by a RudderStack SDK (no `timestamp`) is a web order, an alias
  of var event_name_aliases and other spellings count in orders, funnels, goals and the
  non-interactive events, with the raw name kept.

Every expected value is worked out by hand from the events written here.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from nexus_pipelines.lib.formats import SOURCES
from nexus_pipelines.lib.ingestion import ingest
from nexus_pipelines.lib.warehouse.connection import with_database
from nexus_pipelines.lib.warehouse.loader import loader_connection
from tests.unit.test_event_names import SPEC_V2, SPELLINGS, Macros

from .dbt_runner import create_database, drop_database, load_landing, run_dbt
from .dbt_runner import query_dicts as rows

UTC = dt.UTC
DAY = dt.date(2026, 3, 2)


def rudderstack_track(
    message_id: str, event: str, properties: dict, *, user: str, device: str, sent: str, received: str
):
    """A RudderStack web SDK track as its server hands it on: no `timestamp` (RudderStack's common fields)."""
    return {
        "type": "track",
        "event": event,
        "sentAt": sent,
        "userId": user,
        "channel": "web",
        "context": {
            "library": {"name": "RudderLabs JavaScript SDK", "version": "3.0.0"},
            "page": {"path": "/checkout", "url": "https://shop.example.com/checkout"},
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/103.0.0.0 Safari/537.36",
        },
        "rudderId": f"r-{message_id}",
        "messageId": message_id,
        "properties": properties,
        "anonymousId": f"anon-{user}",
        "integrations": {"All": True},
        "originalTimestamp": device,
        "receivedAt": received,
    }


def segment_track(message_id: str, event: str, properties: dict, *, user: str, at: str, ua: bool = True):
    """A Segment track as its collector hands it on, `timestamp` included."""
    context = {"library": {"name": "analytics.js", "version": "2.11.1"}}
    if ua:
        context["userAgent"] = (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
        )
    return {
        "anonymousId": f"anon-{user}",
        "context": context,
        "event": event,
        "integrations": {},
        "messageId": message_id,
        "properties": properties,
        "receivedAt": at,
        "sentAt": at,
        "timestamp": at,
        "type": "track",
        "userId": user,
    }


def write_events(landing: Path, day: str, events: list[dict]) -> None:
    folder = landing / "events"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


# --- the loader ---------------------------------------------------------------------------------


def test_a_redelivery_with_another_derived_time_is_set_aside_and_an_identical_one_stays(fresh_db, tmp_path):
    first = rudderstack_track(
        "m-1",
        "Product Viewed",
        {},
        user="u",
        device="2026-03-02T10:00:00Z",
        sent="2026-03-02T10:00:05Z",
        received="2026-03-02T10:00:10Z",
    )  # 10:00:10 - (10:00:05 - 10:00:00) = 10:00:05
    # the SDK retried: sent again 1.5 s later, received 2 s later: 10:00:12 - 6.5 s = 10:00:05.5
    retried = {**first, "sentAt": "2026-03-02T10:00:06.5Z", "receivedAt": "2026-03-02T10:00:12Z"}
    write_events(tmp_path, "2026-03-02", [first, first])  # the collector stored the first delivery twice
    write_events(tmp_path, "2026-03-03", [retried])

    summary = ingest(fresh_db, SOURCES["events"], tmp_path, DAY, DAY + dt.timedelta(days=1))

    counts = {r.file_path: (r.rows_loaded, r.rows_quarantined) for r in summary.results}
    assert counts == {"events/2026-03-02.jsonl": (2, 0), "events/2026-03-03.jsonl": (0, 1)}
    with psycopg.connect(fresh_db) as conn:
        raw = conn.execute(
            "select event_timestamp, timestamp_source from raw.events order by _source_file, _row_number"
        ).fetchall()
        (reason,) = conn.execute("select reason from quarantine.events").fetchone()
    assert raw == [(dt.datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC), "skew_corrected")] * 2
    assert reason == (
        "messageId m-1 was already loaded from events/2026-03-02.jsonl line 1 with the same content but "
        "another event time: a time derived from receivedAt differs between deliveries (the first copy wins)"
    )


def test_an_existing_warehouse_gains_timestamp_source_for_its_rows_and_set_aside_copies(fresh_db, tmp_path):
    one = segment_track("m-1", "Product Viewed", {"sku": "A"}, user="u", at="2026-03-02T10:00:00Z")
    other = {**one, "properties": {"sku": "B"}}  # same messageId, other content: set aside
    write_events(tmp_path, "2026-03-02", [one])
    write_events(tmp_path, "2026-03-03", [other])
    window = (DAY, DAY + dt.timedelta(days=1))
    ingest(fresh_db, SOURCES["events"], tmp_path, *window)
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # as loaded before the column existed
        conn.execute("alter table raw.events drop column timestamp_source")
        conn.execute("update quarantine.events set row_data = row_data - 'timestamp_source'")

    with loader_connection(fresh_db, SOURCES["events"]):  # the next load adds the column
        pass
    with psycopg.connect(fresh_db) as conn:
        upgraded = conn.execute("select message_id, timestamp_source from raw.events").fetchall()
        (default,) = conn.execute(
            "select column_default from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'events' and column_name = 'timestamp_source'"
        ).fetchone()
    assert upgraded == [("m-1", "timestamp")]
    assert default is None  # every load writes the value itself

    (tmp_path / "events" / "2026-03-02.jsonl").unlink()  # the first copy goes: the set-aside one is back
    ingest(fresh_db, SOURCES["events"], tmp_path, *window)
    with psycopg.connect(fresh_db) as conn:
        restored = conn.execute(
            "select message_id, properties ->> 'sku', timestamp_source from raw.events"
        ).fetchall()
    assert restored == [("m-1", "B", "timestamp")]


# --- dbt: names in any spelling, times from the fallback ------------------------------------------

VARS = {
    "event_name_aliases": {"purchase": "Order Completed"},
    "product_funnels": [
        {"name": "buy", "steps": ["product_viewed", "ORDER COMPLETED"], "window_days": 1, "mode": "ordered"},
        {"name": "signup", "steps": ["Signed Up"], "window_days": 1, "mode": "ordered"},
    ],
    "product_goals": [{"name": "any_order", "event": "order-completed"}],
    "product_non_interactive_events": ["order_refunded"],
}


def web_events() -> list[dict]:
    return [
        # alice (u1): views with Segment, orders with a RudderStack SDK whose clock is an hour behind:
        # 10:05:10 - (09:00:05 - 09:00:00) = 10:05:05
        segment_track("s-1", "Product Viewed", {"sku": "TENT"}, user="u1", at="2026-03-02T10:00:00Z"),
        rudderstack_track(
            "r-1",
            "order_completed",
            {
                "order_id": "R-1",
                "revenue": 42.5,
                "currency": "usd",
                "products": [{"sku": "TENT", "quantity": 1}],
            },
            user="u1",
            device="2026-03-02T09:00:00Z",
            sent="2026-03-02T09:00:05Z",
            received="2026-03-02T10:05:10Z",
        ),
        # bob (u2): an order under the alias, refunded by the server an hour later (not a session)
        segment_track(
            "s-2",
            "PURCHASE",
            {"order_id": "P-1", "revenue": 10, "currency": "USD"},
            user="u2",
            at="2026-03-02T11:00:00Z",
        ),
        segment_track(
            "s-3",
            "order-refunded",
            {"order_id": "P-1", "total": 10},
            user="u2",
            at="2026-03-02T12:00:00Z",
            ua=False,
        ),
        # carol (u3): a custom event in another spelling than the funnel's step
        segment_track("s-4", "signed_up", {}, user="u3", at="2026-03-02T13:00:00Z"),
    ]


@pytest.fixture(scope="module")
def built(server_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("event_inputs")
    name = create_database(server_url)
    url = with_database(server_url, name)
    write_events(root / "landing", "2026-03-02", web_events())
    load_landing(url, root / "landing")
    run_dbt(
        url,
        "run",
        "--select",
        "+fct_orders_web +int_funnel_user_steps +fct_goal_completions",
        variables=VARS,
        target_dir=root / "dbt",
    )
    yield url
    drop_database(server_url, name)


def test_staging_shows_canonical_names_with_the_raw_name_and_the_time_source(built):
    assert rows(
        built,
        "select message_id, event_name, event_name_raw, event_timestamp, timestamp_source "
        "from staging.stg_events__events order by message_id",
    ) == [
        {
            "message_id": "r-1",
            "event_name": "Order Completed",
            "event_name_raw": "order_completed",
            "event_timestamp": dt.datetime(2026, 3, 2, 10, 5, 5, tzinfo=UTC),
            "timestamp_source": "skew_corrected",
        },
        {
            "message_id": "s-1",
            "event_name": "Product Viewed",
            "event_name_raw": "Product Viewed",
            "event_timestamp": dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            "timestamp_source": "timestamp",
        },
        {
            "message_id": "s-2",
            "event_name": "Order Completed",
            "event_name_raw": "PURCHASE",
            "event_timestamp": dt.datetime(2026, 3, 2, 11, 0, tzinfo=UTC),
            "timestamp_source": "timestamp",
        },
        {
            "message_id": "s-3",
            "event_name": "Order Refunded",
            "event_name_raw": "order-refunded",
            "event_timestamp": dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            "timestamp_source": "timestamp",
        },
        {
            "message_id": "s-4",
            "event_name": "signed_up",  # not a spec name nor an alias: as sent
            "event_name_raw": "signed_up",
            "event_timestamp": dt.datetime(2026, 3, 2, 13, 0, tzinfo=UTC),
            "timestamp_source": "timestamp",
        },
    ]


def test_an_order_completed_from_a_rudderstack_sdk_is_a_web_order(built):
    assert rows(
        built,
        "select order_id, user_key, ordered_at, revenue, currency, units, refund_count, is_fully_refunded, "
        "net_revenue, message_id from marts.fct_orders_web order by order_id",
    ) == [
        {
            "order_id": "P-1",
            "user_key": "u2",
            "ordered_at": dt.datetime(2026, 3, 2, 11, 0, tzinfo=UTC),
            "revenue": Decimal("10.00"),
            "currency": "USD",
            "units": None,
            "refund_count": 1,
            "is_fully_refunded": True,
            "net_revenue": Decimal("0.00"),
            "message_id": "s-2",
        },
        {
            "order_id": "R-1",
            "user_key": "u1",
            "ordered_at": dt.datetime(2026, 3, 2, 10, 5, 5, tzinfo=UTC),
            "revenue": Decimal("42.50"),
            "currency": "USD",
            "units": Decimal("1.00"),
            "refund_count": 0,
            "is_fully_refunded": False,
            "net_revenue": Decimal("42.50"),
            "message_id": "r-1",
        },
    ]


def test_funnel_steps_goals_and_non_interactive_events_match_in_any_spelling(built):
    assert rows(
        built,
        "select funnel_name, user_key, step_number, step_name from intermediate.int_funnel_user_steps "
        "order by funnel_name, user_key, step_number",
    ) == [
        {"funnel_name": "buy", "user_key": "u1", "step_number": 1, "step_name": "Product Viewed"},
        {"funnel_name": "buy", "user_key": "u1", "step_number": 2, "step_name": "Order Completed"},
        {"funnel_name": "signup", "user_key": "u3", "step_number": 1, "step_name": "Signed Up"},
    ]
    assert rows(
        built,
        "select goal_name, completions, completing_users from marts.fct_goal_completions "
        "where channel = 'All' and activity_date = '2026-03-02'",
    ) == [{"goal_name": "any_order", "completions": 2, "completing_users": 2}]
    # bob's refund an hour after his order is server-side: one session (his order), not two
    assert rows(
        built,
        "select user_key, count(*) as sessions from marts.fct_sessions group by user_key order by user_key",
    ) == [
        {"user_key": "u1", "sessions": 1},
        {"user_key": "u2", "sessions": 1},
        {"user_key": "u3", "sessions": 1},
    ]


def test_postgresql_computes_the_keys_and_canonical_names_the_macros_compute(built):
    macros = Macros({"event_name_aliases": VARS["event_name_aliases"]})
    names = [
        *SPELLINGS,
        *SPEC_V2,
        "Commande Réglée",
        "ÉCOLE Ünd_X",
        "Step 2/3: Paid!",
        "purchase",
        "Signed-Up",
    ]
    values = ", ".join("(%s)" for _ in names)
    found = rows(
        built,
        f"select {macros.nexus_event_key_sql('n')} as key, {macros.nexus_canonical_event_name_sql('n')} as name "
        f"from (values {values}) as v (n)",
        tuple(names),
    )
    assert found == [
        {"key": macros.nexus_event_key(name), "name": macros.nexus_canonical_event_name(name)}
        for name in names
    ]
    assert macros.nexus_event_key("ÉCOLE Ünd_X") == "ÉcoleÜndx"  # letters outside ASCII kept as they are
