"""MetricsEngine: the metrics of the marts and analytics tables for a store and a date range.

One engine serves many threads: it holds a small pool of read-only connections
(``connection.ReadOnlyPool``), and each call borrows one for a single repeatable-read transaction.
A call checks its request before reading anything: the store must exist (UnknownStore), the range
must be ordered (end ≥ start), at most three years long and not entirely outside the data, the
metrics must be the endpoint's (UnknownMetric lists the valid ones) and every filter must apply to
the endpoint (DataValidationError names the filter). A database failure or a table that is not
built yet is a MetricCalculationError.

Amazon endpoints check the range against the store's span (first to last day of
``marts.fct_daily_store_performance``); web-shop endpoints against the web shop's
(``marts.fct_active_users``), and are the same for every store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ..config import Settings
from ..freshness import Status, source_freshness, worst
from . import analytics, business, inventory, product, returns
from .catalog import (
    ACTIVE_USERS,
    ATTRIBUTION,
    CATALOG,
    CLV,
    COHORTS,
    COMPARISON,
    EXPERIMENTS,
    FUNNELS,
    INVENTORY,
    RETURNS,
    SALES,
    STOCK_AT_RISK,
    metrics_of,
    select,
)
from .common import (
    MARTS,
    check_dates,
    check_filters,
    check_span,
    exists,
    period,
    require,
    shift_years,
)
from .connection import ReadOnlyPool, connect
from .models import (
    AnalyticsError,
    AnalyticsRequest,
    AnalyticsResponse,
    DataValidationError,
    MetricCalculationError,
    UnknownStore,
    json_value,
)

AMAZON_FILTERS = ("sku", "asin", "marketplace")
Span = tuple[dt.date, dt.date]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MetricsEngine:
    def __init__(
        self,
        url: str,
        *,
        analytics_schema: str = "analytics",
        pool_size: int = 4,
        settings: Settings | None = None,
        statement_timeout_ms: int = 30_000,
    ) -> None:
        if not isinstance(analytics_schema, str) or not analytics_schema:
            raise ValueError("analytics_schema must be a non-empty schema name")
        self.url = url
        self.analytics_schema = analytics_schema
        self.settings = settings
        self._pool = ReadOnlyPool(url, pool_size, statement_timeout_ms=statement_timeout_ms)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> MetricsEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled read-only connection, for reads of the caller's own: no statement can write."""
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _connection(self, what: str) -> Iterator[psycopg.Connection]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except AnalyticsError:
            raise
        except psycopg.Error as exc:
            raise MetricCalculationError(f"{what}: the database failed: {_first_line(exc)}") from exc

    # ------------------------------------------------------------ stores and spans
    def _spans(self, conn: psycopg.Connection, store: str | None = None) -> dict[str, Span]:
        if not exists(conn, MARTS, "fct_daily_store_performance"):
            return {}
        query = (
            "select store_id, min(date_day), max(date_day) from marts.fct_daily_store_performance "
            + ("where store_id = %(store)s " if store is not None else "")
            + "group by store_id"
        )
        return {r[0]: (r[1], r[2]) for r in conn.execute(query, {"store": store}) if r[1] is not None}

    def stores(self) -> list[dict[str, Any]]:
        """Every store of dim_store with its name, marketplace, currency and span of data."""
        with self._connection("stores") as conn:
            if not exists(conn, MARTS, "dim_store"):
                return []
            spans = self._spans(conn)
            rows = conn.execute(
                "select store_id, store_name, marketplace, currency from marts.dim_store order by store_id"
            ).fetchall()
        out = []
        for store_id, name, marketplace, currency in rows:
            span = spans.get(store_id)
            out.append(
                {
                    "store_id": store_id,
                    "store_name": name,
                    "marketplace": marketplace,
                    "currency": currency,
                    "data_from": span[0].isoformat() if span else None,
                    "data_through": span[1].isoformat() if span else None,
                }
            )
        return out

    def _check_store(self, conn: psycopg.Connection, store_id: Any) -> str:
        if not isinstance(store_id, str) or not store_id:
            raise UnknownStore(f"unknown store {str(store_id)[:60]!r}")
        require(conn, MARTS, "dim_store")
        found = conn.execute("select 1 from marts.dim_store where store_id = %s", (store_id,)).fetchone()
        if found is None:
            raise UnknownStore(f"unknown store {store_id[:60]!r}")
        return store_id

    def _amazon(
        self, conn: psycopg.Connection, req: AnalyticsRequest, endpoint: str, filters: tuple[str, ...]
    ) -> tuple[str, dict[str, list[str]], list[str], Span]:
        """(store, filters, metrics, span) of a valid request to an Amazon endpoint."""
        store = self._check_store(conn, req.store_id)
        check_dates(req.start_date, req.end_date)
        selected = select(endpoint, req.metrics)
        applied = check_filters(req.filters, filters, endpoint)
        require(conn, MARTS, "fct_daily_store_performance")
        span = check_span(req.start_date, req.end_date, self._spans(conn, store).get(store), f"store {store}")
        return store, applied, selected, span

    def _web_span(self, conn: psycopg.Connection) -> Span | None:
        if not exists(conn, MARTS, "fct_active_users"):
            return None
        row = conn.execute(
            "select min(activity_date), max(activity_date) from marts.fct_active_users"
        ).fetchone()
        return (row[0], row[1]) if row and row[0] is not None else None

    def _web(
        self, conn: psycopg.Connection, req: AnalyticsRequest, endpoint: str, filters: tuple[str, ...]
    ) -> tuple[dict[str, list[str]], list[str], Span | None]:
        """(filters, metrics, web span) of a valid request to a web-shop endpoint."""
        self._check_store(conn, req.store_id)
        check_dates(req.start_date, req.end_date)
        selected = select(endpoint, req.metrics)
        applied = check_filters(req.filters, filters, endpoint)
        span = self._web_span(conn)
        if span is not None:
            check_span(req.start_date, req.end_date, span, "the web shop")
        return applied, selected, span

    def _response(
        self, req: AnalyticsRequest, metrics: dict[str, Any], when: dict[str, str]
    ) -> AnalyticsResponse:
        return AnalyticsResponse(req.store_id, metrics, when, _now())

    # ------------------------------------------------------------ sales
    def get_sales_metrics(self, req: AnalyticsRequest, grain: str = "day") -> AnalyticsResponse:
        """Totals of the range and a series by ``grain`` (day, week = ISO week, month); each
        series row covers the days of its period inside the range and the store's span."""
        if grain not in business.GRAINS:
            raise DataValidationError(
                f"grain must be one of {', '.join(business.GRAINS)}, got {str(grain)[:20]!r}", field="grain"
            )
        with self._connection("sales metrics") as conn:
            store, filters, selected, span = self._amazon(conn, req, SALES, AMAZON_FILTERS)
            selected = business.check_sku_metrics(selected, filters, explicit=bool(req.metrics))
            days = business.clip(req.start_date, req.end_date, span)
            assert days is not None  # check_span: the range meets the span
            totals = business.daily_sums(conn, store, days[0], days[1], filters)
            series = business.daily_sums(conn, store, days[0], days[1], filters, grain)
        units = metrics_of(SALES)
        metrics = {
            "totals": {m: json_value(totals[0].values[m], units[m].unit) for m in selected} if totals else {},
            "series": [
                {
                    "period_start": b.first_day.isoformat(),
                    "period_end": b.last_day.isoformat(),
                    **{m: json_value(b.values[m], units[m].unit) for m in selected},
                }
                for b in series
            ],
        }
        when = period(req.start_date, req.end_date, grain, data_from=span[0], data_through=span[1])
        return self._response(req, metrics, when)

    def get_performance_comparison(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """The range's totals beside the N days before it and the same dates a year earlier
        (29 February → 28 February), with the change and the change in percent."""
        with self._connection("comparison") as conn:
            store, filters, selected, span = self._amazon(conn, req, COMPARISON, AMAZON_FILTERS)
            selected = business.check_sku_metrics(selected, filters, explicit=bool(req.metrics))
            start, end = req.start_date, req.end_date
            prev_start, prev_end = business.previous_range(start, end)
            ly_start, ly_end = shift_years(start, -1), shift_years(end, -1)
            current = business.range_totals(conn, store, start, end, span, filters)
            previous = business.range_totals(conn, store, prev_start, prev_end, span, filters)
            last_year = business.range_totals(conn, store, ly_start, ly_end, span, filters)
        units = metrics_of(SALES)
        raw = business.comparison(current, previous, last_year, selected)
        metrics = {}
        for name, values in raw.items():
            unit = units[name].unit
            metrics[name] = {
                k: json_value(v, "percent" if k.endswith("_pct") else unit) for k, v in values.items()
            }
        when = period(
            start,
            end,
            "range",
            previous_start=prev_start,
            previous_end=prev_end,
            last_year_start=ly_start,
            last_year_end=ly_end,
            data_from=span[0],
            data_through=span[1],
        )
        return self._response(req, metrics, when)

    # ------------------------------------------------------------ inventory
    def get_inventory_health(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """Every SKU as of its latest snapshot, with totals over the SKUs listed."""
        return self._inventory(req, INVENTORY)

    def get_stock_at_risk(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """The SKUs whose days of supply are below the lead time, fewest days first."""
        return self._inventory(req, STOCK_AT_RISK)

    def _inventory(self, req: AnalyticsRequest, endpoint: str) -> AnalyticsResponse:
        with self._connection(endpoint) as conn:
            store, filters, selected, _span = self._amazon(conn, req, endpoint, AMAZON_FILTERS)
            require(conn, MARTS, "fct_inventory_health")
            if endpoint == STOCK_AT_RISK:
                if not req.metrics:
                    selected = list(inventory.AT_RISK_DEFAULT)
                metrics = inventory.stock_at_risk(conn, store, filters, selected)
            else:
                metrics = inventory.health(conn, store, filters, selected)
            snapshot = inventory.latest_snapshot(conn, store)
        when = period(req.start_date, req.end_date, "latest snapshot", snapshot_date=snapshot)
        return self._response(req, metrics, when)

    # ------------------------------------------------------------ returns
    def get_returns(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """Return rates, reasons and dispositions of the range."""
        with self._connection("returns") as conn:
            store, filters, selected, _span = self._amazon(conn, req, RETURNS, AMAZON_FILTERS)
            require(conn, MARTS, "fct_returns", "fct_daily_sales")
            metrics = returns.returns(conn, store, req.start_date, req.end_date, filters, selected)
        return self._response(req, metrics, period(req.start_date, req.end_date, "range"))

    # ------------------------------------------------------------ web shop
    def funnels(self) -> list[str]:
        """The names of the funnels of fct_funnel_steps."""
        with self._connection("funnels") as conn:
            if not exists(conn, MARTS, "fct_funnel_steps"):
                return []
            return product.funnel_names(conn)

    def get_funnel(self, name: str, req: AnalyticsRequest) -> AnalyticsResponse:
        """The steps of funnel ``name`` over all tracked history (breakdown All, or the channels
        of a channel filter); an unknown funnel is UnknownMetric with field "name"."""
        with self._connection("funnel") as conn:
            filters, selected, _span = self._web(conn, req, FUNNELS, ("channel",))
            metrics = product.funnel(conn, name, filters, selected)
        when = period(req.start_date, req.end_date, "all tracked history")
        return self._response(req, metrics, when)

    def get_cohorts(self, req: AnalyticsRequest, grain: str = "week") -> AnalyticsResponse:
        """Retention of the cohorts whose week or month overlaps the range, at every offset."""
        with self._connection("cohorts") as conn:
            _filters, selected, _span = self._web(conn, req, COHORTS, ())
            metrics = analytics.cohorts(
                conn, self.analytics_schema, req.start_date, req.end_date, grain, selected
            )
        return self._response(req, metrics, period(req.start_date, req.end_date, grain))

    def get_active_users(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """DAU/WAU/MAU per day of the range, lifecycle per ISO week overlapping it, and totals."""
        with self._connection("active users") as conn:
            _filters, selected, _span = self._web(conn, req, ACTIVE_USERS, ())
            metrics = product.active_users(conn, req.start_date, req.end_date, selected)
        return self._response(req, metrics, period(req.start_date, req.end_date, "day"))

    def get_attribution(self, req: AnalyticsRequest, model: str | None = None) -> AnalyticsResponse:
        """Credited conversions, revenue, spend and ROAS per model and channel over the range."""
        with self._connection("attribution") as conn:
            filters, selected, _span = self._web(conn, req, ATTRIBUTION, ("channel",))
            metrics = analytics.attribution(
                conn, self.analytics_schema, req.start_date, req.end_date, model, filters, selected
            )
        when = period(req.start_date, req.end_date, "range", model=model)
        return self._response(req, metrics, when)

    def get_clv_segments(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """Customers and 12-month CLV per churn-risk segment, from the latest fit (not dated)."""
        with self._connection("CLV segments") as conn:
            _filters, selected, _span = self._web(conn, req, CLV, ())
            metrics, fit = analytics.clv_segments(conn, self.analytics_schema, selected)
        when = period(req.start_date, req.end_date, "latest fit", **fit)
        return self._response(req, metrics, when)

    def get_experiments(self, req: AnalyticsRequest) -> AnalyticsResponse:
        """A/B results of the experiments with exposures during the range."""
        with self._connection("experiments") as conn:
            _filters, selected, _span = self._web(conn, req, EXPERIMENTS, ())
            metrics = analytics.experiments(
                conn, self.analytics_schema, req.start_date, req.end_date, selected
            )
        return self._response(req, metrics, period(req.start_date, req.end_date, "range"))

    # ------------------------------------------------------------ catalog and health
    def catalog(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in CATALOG]

    def health(self) -> dict[str, Any]:
        """The database's state, the last successful load or dbt build, and how fresh the data is."""
        try:
            conn = connect(self.url, connect_timeout=5, statement_timeout_ms=10_000)
        except psycopg.Error as exc:
            return {
                "database": f"unreachable: {_first_line(exc)}",
                "last_successful_run": None,
                "freshness": {},
            }
        try:
            with conn:
                return self._health(conn)
        except psycopg.Error as exc:
            return {
                "database": f"unreachable: {_first_line(exc)}",
                "last_successful_run": None,
                "freshness": {},
            }

    def _health(self, conn: psycopg.Connection) -> dict[str, Any]:
        now = _now()
        last_load = last_build = None
        if exists(conn, "ops", "load_manifest"):
            row = conn.execute(
                "select max(started_at + make_interval(secs => coalesce(duration_seconds, 0))) "
                "from ops.load_manifest where status = 'loaded'"
            ).fetchone()
            last_load = row[0] if row else None
        if exists(conn, "ops", "dbt_builds"):
            row = conn.execute("select max(built_at) from ops.dbt_builds").fetchone()
            last_build = row[0] if row else None
        runs = [t for t in (last_load, last_build) if t is not None]
        spans = self._spans(conn)
        web = self._web_span(conn)
        try:
            sources = source_freshness(conn, now, self.settings)
        except ValueError as exc:  # a bad NEXUS_FRESHNESS_* setting
            sources, problem = [], f"unknown: {_first_line(exc)}"
        else:
            found = worst(s.status for s in sources)
            problem = str(found) if found else str(Status.PASS)
        return {
            "database": "ok",
            "last_successful_run": max(runs).astimezone(dt.UTC).isoformat() if runs else None,
            "last_successful_load": last_load.astimezone(dt.UTC).isoformat() if last_load else None,
            "last_dbt_build": last_build.astimezone(dt.UTC).isoformat() if last_build else None,
            "freshness": {
                "status": problem,
                "stores": {
                    store: {"data_through": span[1].isoformat()} for store, span in sorted(spans.items())
                },
                "web": {"data_through": web[1].isoformat() if web else None},
                "sources": [
                    {
                        "source": s.source,
                        "store_id": s.store_id,
                        "status": str(s.status),
                        "last_loaded_at": s.last_loaded_at.astimezone(dt.UTC).isoformat()
                        if s.last_loaded_at
                        else None,
                        "age_hours": None if s.age_hours is None else round(s.age_hours, 2),
                    }
                    for s in sources
                ],
            },
        }
