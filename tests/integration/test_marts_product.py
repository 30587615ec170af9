"""Product analytics marts on a real PostgreSQL: hand-built Segment events in, hand-computed numbers out.

Three small event sets, each written as landing files ``events/<YYYY-MM-DD>.jsonl``, loaded with
the real loader and built with the real dbt project:

* ``product``: identity stitching, session splits (inactivity and campaign), one visitor per
  channel rule, web orders with refunds, three modes of a funnel, the window edge of the default
  e-commerce funnel, goals;
* ``calendar``: a few visitors on known days, for DAU / WAU / MAU and the weekly lifecycle;
* ``midnight``: a session crossing midnight, built by two separate partitioned runs.

Every expected number below is worked out by hand from the events written here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from nexus_pipelines.lib.warehouse.connection import with_database

from .dbt_runner import create_database, drop_database, load_landing, run_dbt
from .dbt_runner import query_dicts as rows

D = Decimal
PRODUCT_MODELS = "path:models/staging/events path:models/intermediate/product path:models/marts/product"
# what Dagster runs for a partition, limited to the product area: the product facts tagged
# partitioned and the views they read
PARTITIONED = "+fct_sessions +fct_goal_completions"

SITE = "https://shop.example.com"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


# --- building Segment-spec events ----------------------------------------------------------------


class Events:
    """Collects Segment-spec events and writes them as one JSONL file per UTC day."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.counter = itertools.count(1)
        self.lines: dict[str, list[str]] = defaultdict(list)

    def _add(
        self,
        at: str,
        body: dict,
        *,
        user=None,
        anon=None,
        page=None,
        referrer=None,
        utm=None,
        ua=DESKTOP,
        resend=False,
    ) -> None:
        timestamp = dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(dt.UTC)
        context: dict = {"userAgent": ua} if ua else {}
        if page is not None:
            context["page"] = {
                "path": page,
                "url": SITE + page,
                "title": f"Shop {page}",
                "referrer": referrer or "",
                "search": "",
            }
        if utm:
            context["campaign"] = dict(zip(("source", "medium", "name"), utm))
        event = {
            "messageId": f"{self.prefix}-{next(self.counter):04d}",
            "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "receivedAt": (timestamp + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "userId": user,
            "anonymousId": anon,
            "context": context,
            **body,
        }
        line = json.dumps(event)
        day = timestamp.date().isoformat()
        self.lines[day].append(line)
        if resend:  # the collector sent the same message twice
            self.lines[day].append(line)

    def page(self, at, path, **kwargs):
        self._add(
            at,
            {"type": "page", "name": path, "properties": {"path": path, "url": SITE + path}},
            page=path,
            **kwargs,
        )

    def track(self, at, event, properties=None, page="/", **kwargs):
        self._add(at, {"type": "track", "event": event, "properties": properties or {}}, page=page, **kwargs)

    def identify(self, at, user, anon, **kwargs):
        self._add(
            at,
            {"type": "identify", "traits": {"email": f"{user}@example.com"}},
            user=user,
            anon=anon,
            page="/account",
            **kwargs,
        )

    def server_track(self, at, event, properties, user):
        """A server-side call: userId only, no page, no user agent."""
        self._add(at, {"type": "track", "event": event, "properties": properties}, user=user, ua=None)

    def write(self, landing: Path) -> None:
        folder = landing / "events"
        folder.mkdir(parents=True, exist_ok=True)
        for day, lines in self.lines.items():
            (folder / f"{day}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- scenario "product" --------------------------------------------------------------------------

TRIAL_STEPS = ["Trial Started", "Plan Selected", "Payment Added"]
ECOMMERCE_STEPS = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
PRODUCT_VARS = {
    "product_funnels": [
        {"name": "ecommerce", "steps": ECOMMERCE_STEPS, "window_days": 14, "mode": "ordered"},
        {"name": "trial_ordered", "steps": TRIAL_STEPS, "window_days": 1, "mode": "ordered"},
        {"name": "trial_strict", "steps": TRIAL_STEPS, "window_days": 1, "mode": "strict"},
        {"name": "trial_any", "steps": TRIAL_STEPS, "window_days": 1, "mode": "any"},
    ],
    "product_goals": [
        {
            "name": "order_over_100",
            "event": "Order Completed",
            "conditions": [{"property": "revenue", "operator": ">", "value": 100}],
        },
        {"name": "pricing_page", "page_path": "/pricing%"},
    ],
}
CHANNEL_VISITORS = {
    # anonymous visitor -> (page kwargs, expected channel); one page view each on March 5
    "ch-direct": ({}, "Direct"),
    "ch-organic-search": ({"referrer": "https://www.bing.com/search?q=tent"}, "Organic Search"),
    "ch-paid-search": (
        {"referrer": "https://www.google.com/", "utm": ("google", "cpc", "tents")},
        "Paid Search",
    ),
    "ch-organic-social": ({"referrer": "https://l.instagram.com/"}, "Organic Social"),
    "ch-paid-social": (
        {"referrer": "https://l.facebook.com/", "utm": ("facebook", "paid_social", "spring")},
        "Paid Social",
    ),
    "ch-email": ({"utm": ("newsletter", "email", "weekly")}, "Email"),
    "ch-referral": ({"referrer": "https://trailblog.example.org/reviews/"}, "Referral"),
    "ch-affiliates": (
        {"referrer": "https://www.outdoordeals.example/", "utm": ("outdoordeals", "affiliate", "partner")},
        "Affiliates",
    ),
    "ch-display": (
        {"referrer": "https://googleads.g.doubleclick.net/", "utm": ("google", "display", "remarketing")},
        "Display",
    ),
    "ch-other": ({"utm": ("foo", "bar", "baz")}, "Other"),
}


def product_events() -> Events:
    ev = Events("p")
    # Alice browses anonymously on her desktop, logs in, orders (the order is re-sent once), and
    # two days later visits on her phone from Google, anonymously, then logs in there too.
    ev.page("2026-03-02T10:00:00Z", "/", anon="a-alice-1")
    ev.track("2026-03-02T10:05:00Z", "Product Viewed", {"sku": "S1"}, anon="a-alice-1")
    ev.identify("2026-03-02T10:06:00Z", "u_alice", "a-alice-1")
    ev.track("2026-03-02T10:07:00Z", "Product Added", {"sku": "S1"}, user="u_alice", anon="a-alice-1")
    ev.track("2026-03-02T10:08:00Z", "Checkout Started", {}, user="u_alice", anon="a-alice-1")
    ev.track(
        "2026-03-02T10:09:00Z",
        "Order Completed",
        {
            "order_id": "A-1",
            "revenue": 150.00,
            "currency": "usd",
            "products": [{"sku": "S1", "quantity": 2}, {"sku": "S2", "quantity": 1}],
        },
        user="u_alice",
        anon="a-alice-1",
        resend=True,
    )
    ev.page("2026-03-02T10:10:00Z", "/checkout/thank-you", user="u_alice", anon="a-alice-1")
    ev.page("2026-03-04T20:00:00Z", "/", anon="a-alice-2", referrer="https://www.google.com/", ua=MOBILE)
    ev.identify("2026-03-04T20:03:00Z", "u_alice", "a-alice-2", ua=MOBILE)
    ev.server_track(
        "2026-03-09T12:00:00Z", "Order Refunded", {"order_id": "A-1", "total": 50.00}, user="u_alice"
    )

    # Bob never logs in: one page view from a forum link.
    ev.page(
        "2026-03-03T12:00:00Z", "/pricing", anon="a-bob", referrer="https://www.reddit.com/r/CampingGear/"
    )

    # Carol (logged in): 29:59 of silence keeps the session, exactly 30:00 starts a new one;
    # new UTM tags start a new one, a page without tags does not.
    carol = {"user": "u_carol", "anon": "a-carol"}
    ev.page("2026-03-03T09:00:00Z", "/", **carol)
    ev.page("2026-03-03T09:29:59Z", "/a", referrer=SITE + "/", **carol)
    ev.page("2026-03-03T09:59:59Z", "/b", referrer=SITE + "/a", **carol)
    ev.page(
        "2026-03-03T10:10:00Z",
        "/c",
        referrer="https://www.google.com/",
        utm=("google", "cpc", "brand"),
        **carol,
    )
    ev.page("2026-03-03T10:12:00Z", "/d", referrer=SITE + "/c", **carol)
    ev.page("2026-03-03T10:15:00Z", "/e", utm=("newsletter", "email", "weekly"), **carol)

    for anon, (kwargs, _) in CHANNEL_VISITORS.items():
        ev.page("2026-03-05T15:00:00Z", "/", anon=anon, **kwargs)

    # Funnel modes (Trial Started -> Plan Selected -> Payment Added, 1-day window).
    ev.track("2026-03-06T09:00:00Z", "Trial Started", user="u_fo")
    ev.track("2026-03-06T09:01:00Z", "Help Opened", user="u_fo")  # another track event
    ev.track("2026-03-06T09:02:00Z", "Plan Selected", user="u_fo")
    ev.track("2026-03-06T09:03:00Z", "Payment Added", user="u_fo")
    ev.track("2026-03-06T09:00:00Z", "Trial Started", user="u_fs")
    ev.page("2026-03-06T09:00:30Z", "/plans", user="u_fs")  # a page view
    ev.track("2026-03-06T09:01:00Z", "Plan Selected", user="u_fs")
    ev.track("2026-03-06T09:02:00Z", "Payment Added", user="u_fs")
    ev.track("2026-03-06T09:00:00Z", "Trial Started", user="u_fr")
    ev.track("2026-03-06T09:01:00Z", "Payment Added", user="u_fr")  # last two reversed
    ev.track("2026-03-06T09:02:00Z", "Plan Selected", user="u_fr")
    ev.track("2026-03-06T09:00:00Z", "Trial Started", user="u_fw")
    ev.track("2026-03-07T09:00:00Z", "Plan Selected", user="u_fw")  # exactly 1 day later
    ev.track("2026-03-07T09:00:01Z", "Payment Added", user="u_fw")  # 1 day + 1 second
    ev.track("2026-03-06T08:00:00Z", "Plan Selected", user="u_fp")  # before the entry
    ev.track("2026-03-06T09:00:00Z", "Trial Started", user="u_fp")
    ev.track("2026-03-06T09:01:00Z", "Payment Added", user="u_fp")

    # The 14-day window of the e-commerce funnel: Dave orders 14 days and 1 second after his first
    # product view, Erin exactly 14 days after hers. Erin's order is refunded without an amount.
    for user, utm, revenue, seconds in (
        ("u_dave", ("newsletter", "email", "spring"), 80.00, 11),
        ("u_erin", ("google", "cpc", "spring"), 120.00, 10),
    ):
        ev.page("2026-03-02T08:00:00Z", "/", user=user, utm=utm, ua=MOBILE)
        ev.track("2026-03-02T08:00:10Z", "Product Viewed", {"sku": "S3"}, user=user, ua=MOBILE)
        ev.track("2026-03-02T08:01:00Z", "Product Added", {"sku": "S3"}, user=user, ua=MOBILE)
        ev.track("2026-03-02T08:02:00Z", "Checkout Started", user=user, ua=MOBILE)
        ev.page("2026-03-16T08:00:00Z", "/cart", user=user, ua=MOBILE)
        ev.track(
            f"2026-03-16T08:00:{seconds:02d}Z",
            "Order Completed",
            {
                "order_id": f"{user[2].upper()}-1",
                "revenue": revenue,
                "currency": "USD",
                "products": [{"sku": "S3", "quantity": 1}],
            },
            user=user,
            ua=MOBILE,
        )
    ev.server_track("2026-03-20T10:00:00Z", "Order Refunded", {"order_id": "E-1"}, user="u_erin")
    return ev


# --- scenario "calendar" -------------------------------------------------------------------------

# visitor -> days with one page view (k4's session crosses midnight from Sunday 8 to Monday 9 March)
CALENDAR_DAYS = {
    "k1": ["2026-03-02", "2026-03-03", "2026-03-10", "2026-03-18"],
    "k2": ["2026-03-04", "2026-03-19"],
    "k3": ["2026-03-12"],
}


def calendar_events() -> Events:
    ev = Events("c")
    for visitor, days in CALENDAR_DAYS.items():
        for day in days:
            ev.page(f"{day}T12:00:00Z", "/", anon=visitor)
    for at in (
        "2026-03-08T23:50:00Z",
        "2026-03-08T23:58:00Z",
        "2026-03-09T00:06:00Z",
        "2026-03-09T00:10:00Z",
    ):
        ev.page(at, "/", anon="k4")
    return ev


# --- scenario "midnight" -------------------------------------------------------------------------


def midnight_events() -> Events:
    ev = Events("m")
    # m1: one session from 23:50 on March 10 to 00:10 on March 11 (the 30-minute gap never
    # happens), then, after 50 minutes of silence, a second session on March 11.
    ev.page("2026-03-10T23:50:00Z", "/", anon="m1", utm=("newsletter", "email", "weekly"))
    ev.page("2026-03-10T23:55:00Z", "/a", anon="m1")
    ev.page("2026-03-11T00:05:00Z", "/b", anon="m1")
    ev.track("2026-03-11T00:10:00Z", "Product Viewed", anon="m1")
    ev.page("2026-03-11T01:00:00Z", "/", anon="m1")
    ev.page("2026-03-11T12:00:00Z", "/", anon="m2")
    return ev


# --- fixtures and helpers ------------------------------------------------------------------------


def loaded_database(server_url: str, root: Path, events: Events) -> tuple[str, str]:
    name = create_database(server_url)
    url = with_database(server_url, name)
    events.write(root / "landing")
    load_landing(url, root / "landing")
    return name, url


@pytest.fixture(scope="module")
def product(server_url, tmp_path_factory):
    """The product scenario, loaded and built once (all product models, their tests and unit tests)."""
    root = tmp_path_factory.mktemp("product")
    name, url = loaded_database(server_url, root, product_events())
    run_dbt(url, "build", "--select", PRODUCT_MODELS, variables=PRODUCT_VARS, target_dir=root / "dbt")
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def calendar(server_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("calendar")
    name, url = loaded_database(server_url, root, calendar_events())
    run_dbt(url, "run", "--select", "+fct_active_users +fct_user_lifecycle", target_dir=root / "dbt")
    yield url
    drop_database(server_url, name)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# --- identity stitching --------------------------------------------------------------------------


def test_resent_events_are_loaded_once(product):
    counts = rows(
        product,
        """
        select (select count(*) from raw.events) as raw_lines,
               (select count(*) from staging.stg_events__events) as events,
               (select count(*) from staging.stg_events__tracks where event_name = 'Order Completed') as orders
    """,
    )[0]
    assert counts["raw_lines"] == counts["events"] + 1  # Alice's order was sent twice
    assert counts["orders"] == 3


def test_identity_map_links_both_devices_to_the_user(product):
    assert rows(
        product,
        "select anonymous_id, user_id, user_ids_linked from intermediate.int_identity_map"
        " where anonymous_id like 'a-alice%' order by 1",
    ) == [
        {"anonymous_id": "a-alice-1", "user_id": "u_alice", "user_ids_linked": 1},
        {"anonymous_id": "a-alice-2", "user_id": "u_alice", "user_ids_linked": 1},
    ]


def test_pre_login_events_and_both_devices_belong_to_the_user(product):
    sessions = rows(
        product,
        """
        select user_key, user_id, anonymous_id, is_identified, session_date, started_at, ended_at,
               events, page_views, is_bounce, landing_page_path, exit_page_path, channel, device_type
        from marts.fct_sessions where user_key = 'u_alice' order by started_at
    """,
    )
    assert sessions == [
        # the anonymous page view and product view before the login are in the user's session
        {
            "user_key": "u_alice",
            "user_id": "u_alice",
            "anonymous_id": "a-alice-1",
            "is_identified": True,
            "session_date": day("2026-03-02"),
            "started_at": utc("2026-03-02 10:00:00"),
            "ended_at": utc("2026-03-02 10:10:00"),
            "events": 7,
            "page_views": 2,
            "is_bounce": False,
            "landing_page_path": "/",
            "exit_page_path": "/checkout/thank-you",
            "channel": "Direct",
            "device_type": "desktop",
        },
        {
            "user_key": "u_alice",
            "user_id": "u_alice",
            "anonymous_id": "a-alice-2",
            "is_identified": True,
            "session_date": day("2026-03-04"),
            "started_at": utc("2026-03-04 20:00:00"),
            "ended_at": utc("2026-03-04 20:03:00"),
            "events": 2,
            "page_views": 1,
            "is_bounce": True,
            "landing_page_path": "/",
            "exit_page_path": "/",
            "channel": "Organic Search",
            "device_type": "mobile",
        },
    ]
    anonymous_keys = rows(
        product, "select count(*) as n from marts.fct_sessions where user_key like 'a-alice%'"
    )
    assert anonymous_keys == [{"n": 0}]


def test_dim_users(product):
    users = {r["user_key"]: r for r in rows(product, "select * from marts.dim_users")}
    # Alice, Bob, Carol, 10 channel visitors, 5 funnel users, Dave and Erin
    assert len(users) == 20
    alice = users["u_alice"]
    assert (alice["user_id"], alice["is_identified"], alice["anonymous_ids"], alice["sessions"]) == (
        "u_alice",
        True,
        2,
        2,
    )
    assert (alice["first_seen_at"], alice["last_seen_at"]) == (
        utc("2026-03-02 10:00:00"),
        utc("2026-03-04 20:03:00"),
    )
    assert (alice["first_channel"], alice["first_device_type"]) == ("Direct", "desktop")
    assert (
        alice["lifetime_orders"],
        alice["lifetime_revenue"],
        alice["lifetime_refunded_amount"],
        alice["lifetime_net_revenue"],
    ) == (1, D("150.00"), D("50.00"), D("100.00"))
    bob = users["a-bob"]
    assert (
        bob["user_id"],
        bob["is_identified"],
        bob["anonymous_ids"],
        bob["sessions"],
        bob["first_channel"],
        bob["lifetime_orders"],
    ) == (None, False, 1, 1, "Referral", 0)
    assert (users["u_erin"]["lifetime_revenue"], users["u_erin"]["lifetime_net_revenue"]) == (
        D("120.00"),
        D("0.00"),
    )
    assert not any(key.startswith("a-alice") for key in users)


# --- sessions ------------------------------------------------------------------------------------


def test_sessions_split_after_30_minutes_of_inactivity_and_at_a_new_campaign(product):
    sessions = rows(
        product,
        """
        select started_at, ended_at, duration_seconds, events, page_views, is_bounce,
               landing_page_path, exit_page_path, referrer_host, utm_source, utm_medium, utm_campaign, channel
        from marts.fct_sessions where user_key = 'u_carol' order by started_at
    """,
    )
    assert [
        (
            s["started_at"],
            s["ended_at"],
            s["duration_seconds"],
            s["page_views"],
            s["is_bounce"],
            s["landing_page_path"],
            s["exit_page_path"],
            s["channel"],
        )
        for s in sessions
    ] == [
        # 09:00:00 -> 09:29:59 is 29:59 of silence: same session
        (utc("2026-03-03 09:00:00"), utc("2026-03-03 09:29:59"), 1799, 2, False, "/", "/a", "Direct"),
        # 09:59:59 comes exactly 30:00 after 09:29:59: a new session (a link from the site itself: Direct)
        (utc("2026-03-03 09:59:59"), utc("2026-03-03 09:59:59"), 0, 1, True, "/b", "/b", "Direct"),
        # 10:10 google/cpc only 10:01 later, but a new campaign; the untagged 10:12 page stays in it
        (utc("2026-03-03 10:10:00"), utc("2026-03-03 10:12:00"), 120, 2, False, "/c", "/d", "Paid Search"),
        # 10:15 newsletter/email: another campaign, another session
        (utc("2026-03-03 10:15:00"), utc("2026-03-03 10:15:00"), 0, 1, True, "/e", "/e", "Email"),
    ]
    assert (sessions[1]["referrer_host"], sessions[2]["referrer_host"]) == (None, "www.google.com")
    assert (sessions[2]["utm_source"], sessions[2]["utm_medium"], sessions[2]["utm_campaign"]) == (
        "google",
        "cpc",
        "brand",
    )


def test_session_ids_are_unique_and_stable(product):
    ids = rows(
        product,
        "select session_id, md5(user_key || '|' || extract(epoch from started_at)::text) as expected"
        " from marts.fct_sessions",
    )
    assert len(ids) == 28
    assert all(r["session_id"] == r["expected"] for r in ids)
    assert len({r["session_id"] for r in ids}) == 28


def test_every_channel_rule(product):
    channels = {
        r["user_key"]: r["channel"]
        for r in rows(product, "select user_key, channel from marts.fct_sessions where user_key like 'ch-%'")
    }
    assert channels == {visitor: expected for visitor, (_, expected) in CHANNEL_VISITORS.items()}
    # Bob's forum link is a referral; sessions without any source are Direct
    assert rows(product, "select channel from marts.fct_sessions where user_key = 'a-bob'") == [
        {"channel": "Referral"}
    ]


# --- orders --------------------------------------------------------------------------------------


def test_web_orders_with_refunds_and_session_channel(product):
    orders = rows(
        product,
        """
        select order_id, user_key, is_identified, ordered_at, revenue, currency, product_count, units,
               channel, device_type, refund_count, is_refunded, is_fully_refunded, refunded_amount, net_revenue
        from marts.fct_orders_web order by order_id
    """,
    )
    assert orders == [
        {
            "order_id": "A-1",
            "user_key": "u_alice",
            "is_identified": True,
            "ordered_at": utc("2026-03-02 10:09:00"),
            "revenue": D("150.00"),
            "currency": "USD",
            "product_count": 2,
            "units": D("3.00"),
            "channel": "Direct",
            "device_type": "desktop",
            "refund_count": 1,
            "is_refunded": True,
            "is_fully_refunded": False,
            "refunded_amount": D("50.00"),
            "net_revenue": D("100.00"),
        },
        {
            "order_id": "D-1",
            "user_key": "u_dave",
            "is_identified": True,
            "ordered_at": utc("2026-03-16 08:00:11"),
            "revenue": D("80.00"),
            "currency": "USD",
            "product_count": 1,
            "units": D("1.00"),
            "channel": "Direct",
            "device_type": "mobile",
            "refund_count": 0,
            "is_refunded": False,
            "is_fully_refunded": False,
            "refunded_amount": D("0.00"),
            "net_revenue": D("80.00"),
        },
        # refunded without an amount: the whole order
        {
            "order_id": "E-1",
            "user_key": "u_erin",
            "is_identified": True,
            "ordered_at": utc("2026-03-16 08:00:10"),
            "revenue": D("120.00"),
            "currency": "USD",
            "product_count": 1,
            "units": D("1.00"),
            "channel": "Direct",
            "device_type": "mobile",
            "refund_count": 1,
            "is_refunded": True,
            "is_fully_refunded": True,
            "refunded_amount": D("120.00"),
            "net_revenue": D("0.00"),
        },
    ]


def test_server_side_refunds_make_no_session(product):
    assert rows(
        product,
        "select count(*) as n from marts.fct_sessions where session_date in ('2026-03-09', '2026-03-20')",
    ) == [{"n": 0}]


# --- funnels -------------------------------------------------------------------------------------


def funnel(url: str, name: str, breakdown_type: str = "all") -> list[tuple]:
    return [
        tuple(r.values())
        for r in rows(
            url,
            """
        select breakdown_value, step_number, users_entered_funnel, users_entering_step, users_converted,
               users_dropped_off, conversion_rate_from_start, conversion_rate_from_previous, median_seconds_to_convert
        from marts.fct_funnel_steps
        where funnel_name = %s and breakdown_type = %s
        order by breakdown_value, step_number
    """,
            (name, breakdown_type),
        )
    ]


def test_funnel_modes(product):
    # u_fo: A, other, B, C   u_fs: A, page, B, C   u_fr: A, C, B   u_fw: A, B at +1 day, C at +1 day 1 s
    # u_fp: B, A, C (its B is before the entry)
    converted = {
        mode: [r[4] for r in funnel(product, f"trial_{mode}")] for mode in ("ordered", "strict", "any")
    }
    assert converted == {
        "ordered": [5, 4, 2],  # step 2: fo fs fr fw; step 3: fo fs
        "strict": [5, 2, 1],  # step 2: fs fw (fo has another track event between); step 3: fs
        "any": [5, 4, 3],  # step 2: fo fs fr fw; step 3: fo fs fr
    }
    assert funnel(product, "trial_ordered") == [
        ("All", 1, 5, 5, 5, 0, D("1.0000"), D("1.0000"), D("0.0")),
        # B after 120, 60, 120 (fr: B comes last) and 86400 s (fw, exactly at the window's end)
        ("All", 2, 5, 5, 4, 1, D("0.8000"), D("0.8000"), D("120.0")),
        ("All", 3, 5, 4, 2, 2, D("0.4000"), D("0.5000"), D("150.0")),  # C after 180 (fo) and 120 s (fs)
    ]


def test_ecommerce_funnel_window_edge_and_breakdowns(product):
    # Alice converts (her anonymous product view counts once stitched), Erin's order comes exactly
    # 14 days after her first product view and converts, Dave's comes 1 second later and does not.
    assert funnel(product, "ecommerce") == [
        ("All", 1, 3, 3, 3, 0, D("1.0000"), D("1.0000"), D("0.0")),
        ("All", 2, 3, 3, 3, 0, D("1.0000"), D("1.0000"), D("50.0")),  # 120, 50, 50 s
        ("All", 3, 3, 3, 3, 0, D("1.0000"), D("1.0000"), D("110.0")),  # 180, 110, 110 s
        ("All", 4, 3, 3, 2, 1, D("0.6667"), D("0.6667"), D("604920.0")),  # median of 240 s and 14 days
    ]
    by_channel = {(r[0], r[1]): r[4] for r in funnel(product, "ecommerce", "channel")}
    assert by_channel == {
        ("Direct", 1): 1,
        ("Direct", 2): 1,
        ("Direct", 3): 1,
        ("Direct", 4): 1,
        ("Email", 1): 1,
        ("Email", 2): 1,
        ("Email", 3): 1,
        ("Email", 4): 0,
        ("Paid Search", 1): 1,
        ("Paid Search", 2): 1,
        ("Paid Search", 3): 1,
        ("Paid Search", 4): 1,
    }
    by_device = {(r[0], r[1]): r[4] for r in funnel(product, "ecommerce", "device")}
    assert by_device == {
        ("desktop", 1): 1,
        ("desktop", 2): 1,
        ("desktop", 3): 1,
        ("desktop", 4): 1,
        ("mobile", 1): 2,
        ("mobile", 2): 2,
        ("mobile", 3): 2,
        ("mobile", 4): 1,
    }


# --- goals ---------------------------------------------------------------------------------------


def test_goal_completions_per_day_and_channel(product):
    goals = rows(
        product,
        """
        select activity_date, goal_name, channel, completions, completing_users, active_users, conversion_rate
        from marts.fct_goal_completions
        where completions > 0 or (activity_date = '2026-03-02' and goal_name = 'order_over_100')
        order by activity_date, goal_name, channel
    """,
    )
    assert [tuple(g.values()) for g in goals] == [
        # March 2: Alice (Direct) orders 150; active: Alice (Direct), Dave (Email), Erin (Paid Search)
        (day("2026-03-02"), "order_over_100", "All", 1, 1, 3, D("0.3333")),
        (day("2026-03-02"), "order_over_100", "Direct", 1, 1, 1, D("1.0000")),
        (day("2026-03-02"), "order_over_100", "Email", 0, 0, 1, D("0.0000")),
        (day("2026-03-02"), "order_over_100", "Paid Search", 0, 0, 1, D("0.0000")),
        # March 3: Bob views /pricing (Referral); Carol is active too
        (day("2026-03-03"), "pricing_page", "All", 1, 1, 2, D("0.5000")),
        (day("2026-03-03"), "pricing_page", "Referral", 1, 1, 1, D("1.0000")),
        # March 16: Erin orders 120 (Dave's 80 is not over 100); both in Direct sessions
        (day("2026-03-16"), "order_over_100", "All", 1, 1, 2, D("0.5000")),
        (day("2026-03-16"), "order_over_100", "Direct", 1, 1, 2, D("0.5000")),
    ]


# --- active users and lifecycle ------------------------------------------------------------------


def test_daily_weekly_monthly_active_users(calendar):
    # k1: 2, 3, 10, 18 March; k2: 4, 19; k3: 12; k4: a session from 8 March 23:50 to 9 March 00:10
    expected = {
        "2026-03-02": (1, 1, 1),
        "2026-03-03": (1, 1, 1),
        "2026-03-04": (1, 2, 2),
        "2026-03-05": (0, 2, 2),
        "2026-03-06": (0, 2, 2),
        "2026-03-07": (0, 2, 2),
        "2026-03-08": (1, 3, 3),
        "2026-03-09": (1, 3, 3),
        "2026-03-10": (1, 3, 3),
        "2026-03-11": (0, 2, 3),
        "2026-03-12": (1, 3, 4),
        "2026-03-13": (0, 3, 4),
        "2026-03-14": (0, 3, 4),
        "2026-03-15": (0, 3, 4),
        "2026-03-16": (0, 2, 4),
        "2026-03-17": (0, 1, 4),
        "2026-03-18": (1, 2, 4),
        "2026-03-19": (1, 2, 4),
    }
    actual = rows(
        calendar, "select activity_date, dau, wau, mau, stickiness from marts.fct_active_users order by 1"
    )
    assert {r["activity_date"].isoformat(): (r["dau"], r["wau"], r["mau"]) for r in actual} == expected
    stickiness = {r["activity_date"].isoformat(): r["stickiness"] for r in actual}
    assert (stickiness["2026-03-02"], stickiness["2026-03-05"], stickiness["2026-03-12"]) == (
        D("1.0000"),
        D("0.0000"),
        D("0.2500"),
    )


def test_weekly_lifecycle(calendar):
    lifecycle = rows(
        calendar,
        """
        select week_start, new_users, returning_users, resurrecting_users, dormant_users, active_users, is_complete_week
        from marts.fct_user_lifecycle order by week_start
    """,
    )
    assert [tuple(r.values()) for r in lifecycle] == [
        # week of 2 March: k1, k2, k4 are new
        (day("2026-03-02"), 3, 0, 0, 0, 3, True),
        # week of 9 March: k3 new, k1 and k4 returning, k2 dormant
        (day("2026-03-09"), 1, 2, 0, 1, 3, True),
        # week of 16 March (observed until the 19th): k1 returning, k2 resurrecting, k3 and k4 dormant
        (day("2026-03-16"), 0, 1, 1, 2, 2, False),
    ]


# --- partitioned runs ----------------------------------------------------------------------------


def test_a_session_crossing_midnight_is_one_session_across_two_partitioned_runs(server_url, tmp_path):
    name, url = loaded_database(server_url, tmp_path, midnight_events())
    try:

        def run_day(date: str) -> None:
            run_dbt(
                url,
                "run",
                "--select",
                PARTITIONED,
                variables={"min_date": date, "max_date": date},
                target_dir=tmp_path / "dbt",
            )

        def sessions() -> list[tuple]:
            return [
                tuple(r.values())
                for r in rows(
                    url,
                    """
                select user_key, session_date, started_at, ended_at, events, page_views, channel
                from marts.fct_sessions order by started_at
            """,
                )
            ]

        midnight_session = (
            "m1",
            day("2026-03-10"),
            utc("2026-03-10 23:50:00"),
            utc("2026-03-11 00:10:00"),
            4,
            3,
            "Email",
        )
        run_day("2026-03-10")
        assert sessions() == [midnight_session]  # the run of March 10 reads into March 11
        run_day("2026-03-11")
        after_both = sessions()
        assert after_both == [
            midnight_session,  # not cut at midnight, not repeated by the run of March 11
            ("m1", day("2026-03-11"), utc("2026-03-11 01:00:00"), utc("2026-03-11 01:00:00"), 1, 1, "Direct"),
            ("m2", day("2026-03-11"), utc("2026-03-11 12:00:00"), utc("2026-03-11 12:00:00"), 1, 1, "Direct"),
        ]
        run_day("2026-03-11")  # re-running a day replaces exactly that day
        assert sessions() == after_both
    finally:
        drop_database(server_url, name)
