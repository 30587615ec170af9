"""Which business dates a load touched, and which dates the incremental facts must rebuild.

The unit of truth is the business key, not the file date. Every time the loader deletes or
inserts the rows of a landing file it records, in the same transaction, what those rows point
at in ``ops.pending_changes``:

* orders: the store, the order id and the purchase time of every line (old and new versions);
* returns: the store, the order id and the return time;
* Sales and Traffic by date, inventory: the store and the report / snapshot date;
* events: the UTC event date, and the anonymous ids whose first link to a user id the rows may
  change (a new first link re-keys every earlier event of that device; a device already linked
  earlier by other rows keeps its user);
* stores.yaml: "rebuild everything" (time zones and currencies shape every date).

Before an incremental dbt step runs, :func:`rebuild_plan` turns the pending changes of its
sources (plus the run's own partition window, kept as a safety net) into the dates each fact
must rebuild, in SQL and with the stores' time zones:

* ``orders`` (fct_daily_sales): local purchase dates of the changed lines and of every other
  version of the same orders still in raw;
* ``returns`` (fct_returns): local return dates of the changed returns and of the returns of
  changed orders (their refund amount comes from the order line);
* ``store_days`` (fct_daily_store_performance): orders ∪ returns ∪ changed traffic dates;
* ``inventory`` (fct_inventory_daily): changed snapshot dates ∪ orders;
* ``sessions`` (fct_sessions): changed event dates (and every date of a re-linked device)
  widened by the session look-back on both sides;
* ``activity`` (fct_goal_completions): sessions and the day after each (sessions crossing
  midnight count on both days).

The plan is written to ``ops.rebuild_ranges`` as contiguous date ranges per domain, which the
incremental models read when dbt runs with the var ``rebuild_from_ops: true`` (or handed inline
as the var ``rebuild_ranges``); the change rows it used are deleted only after the dbt step
succeeded, so a failed or killed step is made good by the next run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from .connection import scalar

OPS_SCHEMA = "ops"

CHANGES_DDL = """
create table if not exists ops.pending_changes (
    change_id bigserial primary key,
    source text not null,
    store_id text,
    object_id text,
    occurred_at timestamptz,
    business_date date,
    rebuild_all boolean not null default false,
    recorded_at timestamptz not null default now()
);
create index if not exists pending_changes_source_idx on ops.pending_changes (source, change_id);
create table if not exists ops.rebuild_ranges (
    domain text not null,
    first_day date not null,
    last_day date not null
);
create table if not exists ops.dbt_builds (
    chain text primary key,
    project_fingerprint text not null,
    built_at timestamptz not null default now()
);
"""
# "every date" as a range dbt can widen without leaving the date type
ALL_DAYS = (dt.date(1900, 1, 1), dt.date(9999, 12, 30))

# What a raw row points at, per source: (store_id, object_id, occurred_at, business_date).
# The predicate selects the rows of one file (or of the files removed from the landing folder).
_CAPTURE = {
    "amazon_orders": "select distinct store_id, amazon_order_id, purchase_date, null::date from {table} where {pred}",
    "amazon_returns": "select distinct store_id, order_id, return_date, null::date from {table} where {pred}",
    "amazon_sales_traffic_by_date": "select distinct store_id, null, null::timestamptz, report_date from {table} where {pred}",
    "amazon_inventory": "select distinct store_id, null, null::timestamptz, snapshot_date from {table} where {pred}",
    "events": (
        "select distinct null, null, null::timestamptz, (event_timestamp at time zone 'UTC')::date "
        "from {table} where {pred} and event_timestamp is not null "
        # a device is re-linked only when its first link (int_identity_map: the earliest event
        # carrying both ids wins) can change: when none of the other rows links it earlier than
        # these rows do. A logged-in user's everyday events re-link nothing.
        "union select distinct null, c.anonymous_id, null::timestamptz, null::date "
        "from (select anonymous_id, min(event_timestamp) as first_at from {table} "
        "      where {pred} and anonymous_id is not null and user_id is not null group by anonymous_id) as c "
        "where not exists (select 1 from {table} as o where o.anonymous_id = c.anonymous_id "
        "                  and o.user_id is not null and o.event_timestamp < c.first_at and not ({pred}))"
    ),
}
REBUILD_ALL_SOURCES = {"stores"}

# Sources whose changes each group of incremental facts consumes.
AMAZON_SOURCES = (
    "amazon_orders",
    "amazon_returns",
    "amazon_sales_traffic_by_date",
    "amazon_inventory",
    "stores",
)
EVENT_SOURCES = ("events",)

AMAZON_DOMAINS = ("orders", "returns", "store_days", "inventory")
# The raw tables a plan reads and the facts it rebuilds: when one is missing (a new database, a
# dropped mart) the step rebuilds everything.
GROUP_TABLES = {
    "amazon": (
        "raw.stores",
        "raw.amazon_orders",
        "raw.amazon_returns",
        "marts.fct_daily_sales",
        "marts.fct_returns",
        "marts.fct_daily_store_performance",
        "marts.fct_inventory_daily",
    ),
    "product": ("raw.events", "marts.fct_sessions", "marts.fct_goal_completions"),
}
PRODUCT_DOMAINS = ("sessions", "activity")


def ensure_changes_table(conn: psycopg.Connection) -> None:
    conn.execute(CHANGES_DDL)


def capture(conn: psycopg.Connection, source: str, predicate: sql.Composable, params: tuple = ()) -> None:
    """Record what the rows of ``raw.<source>`` matching ``predicate`` point at (call before a delete, after an insert)."""
    if source in REBUILD_ALL_SOURCES:
        conn.execute("insert into ops.pending_changes (source, rebuild_all) values (%s, true)", (source,))
        return
    template = _CAPTURE.get(source)
    if template is None:  # no incremental fact reads this source
        return
    select = sql.SQL(template).format(table=sql.Identifier("raw", source), pred=predicate)
    conn.execute(
        sql.SQL(
            "insert into ops.pending_changes (source, store_id, object_id, occurred_at, business_date) "
            "select %s, c.* from ("
        )
        + select
        + sql.SQL(") as c"),
        (source, *(params * template.count("{pred}"))),
    )


@dataclass
class RebuildPlan:
    """Dates per domain for one incremental dbt step; ``everything`` means a full rebuild."""

    sources: tuple[str, ...]
    upto_change_id: int
    change_ids: list[int] = field(default_factory=list)
    everything: bool = False
    dates: dict[str, list[dt.date]] = field(default_factory=dict)

    domains: tuple[str, ...] = ()
    # the dbt project's fingerprint at this chain's last successful build (None: never built)
    built_fingerprint: str | None = None

    @property
    def has_changes(self) -> bool:
        """Whether loads changed anything since the chain's last successful build (or a table is missing)."""
        return self.everything or bool(self.change_ids)

    def dbt_vars(self) -> dict:
        """``rebuild_ranges`` for dbt: {domain: [[first, last], ...] or "all"} (plans of two groups merge)."""
        if self.everything:
            return {"rebuild_ranges": dict.fromkeys(self.domains, "all")}
        return {
            "rebuild_ranges": {
                domain: [[a.isoformat(), b.isoformat()] for a, b in to_ranges(days)]
                for domain, days in self.dates.items()
            }
        }

    def describe(self) -> str:
        if self.everything:
            return "every date (full rebuild)"
        parts = []
        for domain, days in self.dates.items():
            ranges = to_ranges(days)
            shown = ", ".join(a.isoformat() if a == b else f"{a}..{b}" for a, b in ranges[:4])
            more = f" (+{len(ranges) - 4} ranges)" if len(ranges) > 4 else ""
            parts.append(f"{domain}: {len(days)} day(s) {shown}{more}" if days else f"{domain}: none")
        return "; ".join(parts)


def to_ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted distinct days as inclusive contiguous ranges."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _window_days(window: tuple[dt.date, dt.date] | None) -> str:
    if window is None:
        return "select null::date as d where false"
    return "select generate_series(%(w_start)s::date, %(w_end)s::date, interval '1 day')::date as d"


_AMAZON_PLAN_SQL = """
with pending as (
    select * from ops.pending_changes where change_id <= %(upto)s and source = any(%(sources)s)
),
zones as (
    select store_id, timezone from raw.stores
),
window_days as ({window}),
changed_orders as (
    select distinct store_id, object_id from pending where source = 'amazon_orders'
),
orders as (
    select (p.occurred_at at time zone coalesce(z.timezone, 'UTC'))::date as d
    from pending as p left join zones as z using (store_id)
    where p.source = 'amazon_orders' and p.occurred_at is not null
    union
    select (o.purchase_date at time zone coalesce(z.timezone, 'UTC'))::date
    from raw.amazon_orders as o
    join changed_orders as c on c.store_id = o.store_id and c.object_id = o.amazon_order_id
    left join zones as z on z.store_id = o.store_id
    where o.purchase_date is not null
    union
    select d from window_days
),
returns as (
    select (p.occurred_at at time zone coalesce(z.timezone, 'UTC'))::date as d
    from pending as p left join zones as z using (store_id)
    where p.source = 'amazon_returns' and p.occurred_at is not null
    union
    select (r.return_date at time zone coalesce(z.timezone, 'UTC'))::date
    from raw.amazon_returns as r
    join changed_orders as c on c.store_id = r.store_id and c.object_id = r.order_id
    left join zones as z on z.store_id = r.store_id
    where r.return_date is not null
    union
    select d from window_days
),
traffic as (
    select business_date as d from pending
    where source = 'amazon_sales_traffic_by_date' and business_date is not null
),
inventory as (
    select business_date as d from pending where source = 'amazon_inventory' and business_date is not null
)
select 'orders', d from orders where d is not null
union select 'returns', d from returns where d is not null
union select 'store_days', d from orders where d is not null
union select 'store_days', d from returns where d is not null
union select 'store_days', d from traffic
union select 'store_days', d from window_days
union select 'inventory', d from inventory
union select 'inventory', d from orders where d is not null
"""

_PRODUCT_PLAN_SQL = """
with pending as (
    select * from ops.pending_changes where change_id <= %(upto)s and source = any(%(sources)s)
),
window_days as ({window}),
relinked as (
    select distinct object_id as anonymous_id from pending where source = 'events' and object_id is not null
),
event_days as (
    select business_date as d from pending where source = 'events' and business_date is not null
    union
    select (e.event_timestamp at time zone 'UTC')::date
    from raw.events as e join relinked as r on r.anonymous_id = e.anonymous_id
    where e.event_timestamp is not null
    union
    select d from window_days
),
session_days as (
    select distinct e.d + k as d
    from event_days as e cross join generate_series(-%(lookback)s::int, %(lookback)s::int) as k
)
select 'sessions', d from session_days
union select 'activity', d from session_days
union select 'activity', d + 1 from session_days
"""


def _tables_exist(conn: psycopg.Connection, *tables: str) -> bool:
    return all(scalar(conn, "select to_regclass(%s)", (t,)) is not None for t in tables)


def rebuild_plan(
    conn: psycopg.Connection,
    group: str,
    window: tuple[dt.date, dt.date] | None,
    *,
    session_lookback_days: int = 1,
) -> RebuildPlan:
    """The dates the ``group`` ("amazon" or "product") facts must rebuild: pending changes ∪ window.

    ``conn`` is an autocommit connection; the plan reads one snapshot, and remembers exactly the
    change rows it saw (a load committing meanwhile is left for the next plan).
    """
    ensure_changes_table(conn)
    sources = AMAZON_SOURCES if group == "amazon" else EVENT_SOURCES
    domains = AMAZON_DOMAINS if group == "amazon" else PRODUCT_DOMAINS
    with conn.transaction():
        conn.execute("set transaction isolation level repeatable read")
        ids = [
            r[0]
            for r in conn.execute(
                "select change_id from ops.pending_changes where source = any(%s)", (list(sources),)
            ).fetchall()
        ]
        upto = max(ids, default=0)
        plan = RebuildPlan(sources, upto, change_ids=ids, domains=domains)
        rebuild_all = scalar(
            conn,
            "select exists (select 1 from ops.pending_changes where change_id <= %s and source = any(%s) and rebuild_all)",
            (upto, list(sources)),
        )
        if rebuild_all or not _tables_exist(conn, *GROUP_TABLES[group]):
            plan.everything = True
            return plan
        template = _AMAZON_PLAN_SQL if group == "amazon" else _PRODUCT_PLAN_SQL
        params = {"upto": upto, "sources": list(sources), "lookback": int(session_lookback_days)}
        if window is not None:
            params.update(w_start=window[0], w_end=window[1])
        rows = conn.execute(template.format(window=_window_days(window)), params).fetchall()
    plan.dates = {domain: [] for domain in domains}
    for domain, day in rows:
        plan.dates[domain].append(day)
    for domain in plan.dates:
        plan.dates[domain].sort()
    return plan


def write_plan(conn: psycopg.Connection, plan: RebuildPlan) -> None:
    """Put ``plan`` into ops.rebuild_ranges, which dbt reads with var rebuild_from_ops (hold the chain's lock)."""
    rows = []
    for domain in plan.domains:
        ranges = [ALL_DAYS] if plan.everything else to_ranges(plan.dates.get(domain, []))
        rows += [(domain, a, b) for a, b in ranges]
    with conn.transaction():
        conn.execute("delete from ops.rebuild_ranges where domain = any(%s)", (list(plan.domains),))
        with conn.cursor().copy("copy ops.rebuild_ranges (domain, first_day, last_day) from stdin") as copy:
            for row in rows:
                copy.write_row(row)


def consume(conn: psycopg.Connection, plan: RebuildPlan) -> int:
    """Forget the changes ``plan`` covered (after its dbt step succeeded); returns how many."""
    cur = conn.execute("delete from ops.pending_changes where change_id = any(%s)", (plan.change_ids,))
    return cur.rowcount


def built_fingerprint(conn: psycopg.Connection, group: str) -> str | None:
    row = conn.execute("select project_fingerprint from ops.dbt_builds where chain = %s", (group,)).fetchone()
    return row[0] if row else None


def record_build(conn: psycopg.Connection, group: str, fingerprint: str) -> None:
    conn.execute(
        "insert into ops.dbt_builds (chain, project_fingerprint) values (%s, %s) "
        "on conflict (chain) do update set project_fingerprint = excluded.project_fingerprint, built_at = now()",
        (group, fingerprint),
    )


@contextmanager
def rebuilding(
    url: str,
    group: str,
    window: tuple[dt.date, dt.date] | None,
    *,
    session_lookback_days: int = 1,
    fingerprint: str | None = None,
) -> Iterator[RebuildPlan]:
    """Plan one dbt build of ``group``; its changes are forgotten only when the block succeeds.

    ``fingerprint`` (the dbt project's) is recorded as the chain's last successful build.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        plan = rebuild_plan(conn, group, window, session_lookback_days=session_lookback_days)
        plan.built_fingerprint = built_fingerprint(conn, group)
        write_plan(conn, plan)
        yield plan
        consume(conn, plan)
        if fingerprint is not None:
            record_build(conn, group, fingerprint)


def dbt_project_var(project_dir: Path, name: str, default):
    """A var's default from dbt_project.yml (e.g. session_lookback_days, which the plan needs too)."""
    try:
        data = yaml.safe_load((Path(project_dir) / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return default
    return (data.get("vars") or {}).get(name, default)
