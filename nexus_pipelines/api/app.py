"""The HTTP API: `create_app()` builds the FastAPI application that `nexus api` serves.

Routes (every answer is JSON; the OpenAPI description is at /openapi.json, readable at /docs):

* ``GET /health`` (no key): the database, the last successful run, freshness;
* ``GET /v1/metrics/catalog``: every metric with its definition, unit, grain and table;
* ``GET /v1/stores``: the stores the key may read, with the span of their data;
* ``GET /v1/stores/{store_id}/...``: ``metrics``, ``comparison``, ``inventory/health``,
  ``inventory/stock-at-risk``, ``returns``, ``funnels/{name}``, ``cohorts``, ``active-users``,
  ``attribution``, ``clv/segments``, ``experiments`` over ``start``..``end`` (ISO dates, both
  included), from ``lib.metrics.MetricsEngine``;
* the event collector (``POST /v1/track``, ``/v1/batch``, ...) of ``collector.create_router``.

Every error, FastAPI's own included (a bad query parameter, an unknown route), is answered with
``{"error": {"status", "code", "message", "field"}}``; ``auth`` has the key rules, ``ratelimit``
the limit per key and ``logs`` the JSON line written per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..lib.config import Settings, load_settings
from ..lib.metrics import (
    AnalyticsError,
    AnalyticsRequest,
    AnalyticsResponse,
    DataValidationError,
    MetricsEngine,
    UnknownStore,
)
from ..lib.warehouse.api_keys import ApiKey, KeyCache
from . import logs
from .auth import ApiError, read_key, store_key, visible_stores
from .collector import create_router
from .ratelimit import RateLimiter

CODES = {
    400: "invalid_parameter",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_parameter",
    429: "rate_limited",
}


# ---------------------------------------------------------------- bodies (for the OpenAPI description)
class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(
        description="unauthorized, forbidden, not_found, method_not_allowed, invalid_parameter, "
        "rate_limited, payload_too_large or internal."
    )
    message: str = Field(description="What went wrong, in words.")
    field: str | None = Field(description="The parameter at fault, when there is one.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class AnalyticsBody(BaseModel):
    store_id: str
    metrics: dict[str, Any] = Field(description="The figures: totals, series or rows, by endpoint.")
    period: dict[str, str] = Field(description="start and end (ISO dates) and, where it applies, grain.")
    generated_at: dt.datetime


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "status": status,
            "code": code or CODES.get(status, "internal" if status >= 500 else "invalid_parameter"),
            "message": message,
            "field": field,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _internal(_exc: Exception) -> JSONResponse:
    return error_response(500, "internal error: the server's log has the details", code="internal")


DESCRIPTION = """\
The figures of the NEXUS marts for each Amazon store and the web shop, over any date range.

**Keys.** Every route but `/health` needs a read key, made with
`nexus api add-key --stores S1,S2` (or `--all-stores`) and sent as `Authorization: Bearer nxk_...`.
A key reads its stores only; `GET /v1/stores` lists them. Requests are limited per key
(`NEXUS_API_RATE_LIMIT` a minute, 600 by default); over it the answer is 429 with `Retry-After`.

**Dates.** `start` and `end` are ISO dates (YYYY-MM-DD), both included. The range must meet the
data (a store's `data_from` .. `data_through` in `/v1/stores`; the web shop's own span for funnels,
cohorts, active users, attribution, CLV and experiments, which are the same for every store) and
be at most 3 years long.

**Errors.** Every error is `{"error": {"status", "code", "message", "field"}}`: 401 `unauthorized`,
403 `forbidden`, 404 `not_found`, 422 `invalid_parameter` (`field` names the parameter),
429 `rate_limited`, 500 `internal`.

The event collector (`POST /v1/track`, `/v1/batch`, ...) takes Segment's calls with a write key
(`nexus api add-key --write`).
"""

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No key, or not a live read key."},
    403: {"model": ErrorBody, "description": "The key may not read this store."},
    404: {"model": ErrorBody, "description": "Unknown store (or funnel)."},
    422: {"model": ErrorBody, "description": "A bad parameter: a date, grain, metric or range."},
    429: {"model": ErrorBody, "description": "Over the key's rate limit; see Retry-After."},
}


# ---------------------------------------------------------------- the application
def create_app(
    settings: Settings | None = None,
    *,
    url: str | None = None,
    landing_dir: Path | None = None,
    engine: MetricsEngine | None = None,
    key_cache: KeyCache | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The API over the warehouse at ``url`` (default: the configured one, started if embedded).

    ``engine``, ``key_cache`` and ``limiter`` replace the ones made from the URL and the
    environment (``NEXUS_API_RATE_LIMIT``); the collector writes under ``landing_dir``.
    """
    settings = settings or load_settings()
    if url is None:
        from ..lib.warehouse.connection import warehouse_url

        url = warehouse_url(settings)
    engine = engine or MetricsEngine(url, analytics_schema=settings.analytics_schema, settings=settings)
    key_cache = key_cache or KeyCache(url)
    limiter = limiter or RateLimiter.from_env()
    logs.configure()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        close = getattr(engine, "close", None)
        if callable(close):
            close()

    app = FastAPI(
        title="NEXUS metrics API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={500: {"model": ErrorBody, "description": "An error on the server's side."}},
    )
    app.state.engine = engine
    app.state.key_cache = key_cache
    app.state.limiter = limiter
    _install_error_handlers(app)
    app.add_middleware(logs.RequestLogMiddleware, on_error=_internal)
    app.include_router(create_router(landing_dir or settings.landing_dir, key_cache))
    _add_routes(app)
    return app


def _version() -> str:
    try:
        return version("nexus-pipelines")
    except PackageNotFoundError:  # a checkout that was not installed
        return "0"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        logs.annotate(request, error=exc.message)
        return error_response(exc.status, exc.message, code=exc.code, field=exc.field, headers=exc.headers)

    @app.exception_handler(AnalyticsError)
    async def analytics_error(request: Request, exc: AnalyticsError) -> JSONResponse:
        field = getattr(exc, "field", None)
        if isinstance(exc, UnknownStore):
            status = 404
        elif isinstance(exc, DataValidationError):
            status = 422
        else:  # MetricCalculationError, and any other failure of the engine
            status = 500
        logs.annotate(request, error=str(exc))
        return error_response(status, str(exc), field=field if status != 500 else None)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = [
            str(part) for part in first.get("loc", ()) if part not in ("query", "path", "header", "body")
        ]
        field = ".".join(where) or None
        message = str(first.get("msg") or "invalid request")
        text = f"{field}: {message}" if field else message
        logs.annotate(request, error=text)
        return error_response(422, text, field=field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route {request.url.path}; GET /docs lists them"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        logs.annotate(request, error=message)
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        logs.annotate(request, error=f"database unavailable: {exc}")
        return error_response(503, "the warehouse database is unavailable; retry later", code="internal")


# ---------------------------------------------------------------- parameters
def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values as one list, blanks dropped."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def analytics_request(
    store_id: str,
    key: Annotated[ApiKey, Depends(store_key)],
    start: Annotated[dt.date, Query(description="First day, YYYY-MM-DD (included).")],
    end: Annotated[dt.date, Query(description="Last day, YYYY-MM-DD (included).")],
    metrics: Annotated[
        list[str] | None,
        Query(description="Metrics to return, comma-separated (default: all of the endpoint's)."),
    ] = None,
    sku: Annotated[
        list[str] | None, Query(description="Only these SKUs (comma-separated or repeated).")
    ] = None,
    asin: Annotated[list[str] | None, Query(description="Only these ASINs.")] = None,
    marketplace: Annotated[list[str] | None, Query(description="Only these marketplaces.")] = None,
    channel: Annotated[list[str] | None, Query(description="Only these channels.")] = None,
) -> AnalyticsRequest:
    filters = {
        name: _split(values)
        for name, values in (("sku", sku), ("asin", asin), ("marketplace", marketplace), ("channel", channel))
        if _split(values)
    }
    return AnalyticsRequest(
        store_id=store_id,
        start_date=start,
        end_date=end,
        filters=filters or None,
        metrics=_split(metrics),
    )


Req = Annotated[AnalyticsRequest, Depends(analytics_request)]


def _engine(request: Request) -> MetricsEngine:
    return request.app.state.engine


def _answer(response: AnalyticsResponse) -> JSONResponse:
    return JSONResponse(response.to_dict())


# ---------------------------------------------------------------- routes
def _add_routes(app: FastAPI) -> None:
    ok: dict[int | str, dict[str, Any]] = {200: {"model": AnalyticsBody}, **ERRORS}

    @app.get("/health", tags=["health"], summary="Database, last successful run and freshness (no key).")
    def health(request: Request) -> JSONResponse:
        state = dict(_engine(request).health())
        up = state.get("database") == "ok"
        state = {"status": "ok" if up else "unavailable", "version": app.version, **state}
        if up:
            return JSONResponse(state)
        # the reason (it names the server's address) goes to the log only: /health needs no key
        logs.annotate(request, error=f"database {state.get('database')}")
        state["database"] = "unreachable"
        message = "the warehouse database cannot be reached; the server's log has the reason"
        error = {"status": 503, "code": "internal", "message": message, "field": None}
        return JSONResponse({**state, "error": error}, status_code=503)

    @app.get(
        "/v1/metrics/catalog",
        tags=["metrics"],
        summary="Every metric: definition, unit, grain, table and endpoint.",
        responses={401: ERRORS[401], 429: ERRORS[429]},
    )
    def metrics_catalog(request: Request, _key: Annotated[ApiKey, Depends(read_key)]) -> JSONResponse:
        return JSONResponse({"metrics": _engine(request).catalog()})

    @app.get(
        "/v1/stores",
        tags=["stores"],
        summary="The stores this key may read, with the span of their data.",
        responses={401: ERRORS[401], 429: ERRORS[429]},
    )
    def stores(request: Request, key: Annotated[ApiKey, Depends(read_key)]) -> JSONResponse:
        return JSONResponse({"stores": visible_stores(key, _engine(request).stores())})

    store = "/v1/stores/{store_id}"

    @app.get(
        f"{store}/metrics",
        tags=["stores"],
        summary="Sales and traffic: totals over the range and a series by day, week or month.",
        responses=ok,
    )
    def sales_metrics(
        request: Request,
        req: Req,
        grain: Annotated[Literal["day", "week", "month"], Query(description="The series' periods.")] = "day",
    ) -> JSONResponse:
        return _answer(_engine(request).get_sales_metrics(req, grain=grain))

    @app.get(
        f"{store}/comparison",
        tags=["stores"],
        summary="Totals of the range against the period before (same length) and the same dates last year.",
        responses=ok,
    )
    def comparison(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_performance_comparison(req))

    @app.get(
        f"{store}/inventory/health", tags=["inventory"], summary="Inventory health per SKU.", responses=ok
    )
    def inventory_health(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_inventory_health(req))

    @app.get(
        f"{store}/inventory/stock-at-risk", tags=["inventory"], summary="SKUs at stockout risk.", responses=ok
    )
    def stock_at_risk(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_stock_at_risk(req))

    @app.get(f"{store}/returns", tags=["returns"], summary="Return rates and reasons.", responses=ok)
    def returns(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_returns(req))

    @app.get(
        f"{store}/funnels/{{name}}",
        tags=["web shop"],
        summary="One funnel's steps: users entering each and conversion.",
        responses=ok,
    )
    def funnel(request: Request, name: str, req: Req) -> JSONResponse:
        try:
            return _answer(_engine(request).get_funnel(name, req))
        except UnknownStore:
            raise
        except DataValidationError as exc:
            if getattr(exc, "field", None) in ("name", "funnel"):
                raise ApiError(404, "not_found", str(exc), field="name") from exc
            raise

    @app.get(f"{store}/cohorts", tags=["web shop"], summary="Retention of cohorts.", responses=ok)
    def cohorts(
        request: Request,
        req: Req,
        grain: Annotated[Literal["week", "month"], Query(description="The cohorts' periods.")] = "week",
    ) -> JSONResponse:
        return _answer(_engine(request).get_cohorts(req, grain=grain))

    @app.get(
        f"{store}/active-users", tags=["web shop"], summary="DAU, WAU, MAU and stickiness.", responses=ok
    )
    def active_users(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_active_users(req))

    @app.get(
        f"{store}/attribution",
        tags=["web shop"],
        summary="Conversions, revenue, spend and ROAS per channel.",
        responses=ok,
    )
    def attribution(
        request: Request,
        req: Req,
        model: Annotated[str | None, Query(description="Attribution model (default: the engine's).")] = None,
    ) -> JSONResponse:
        return _answer(_engine(request).get_attribution(req, model=model))

    @app.get(
        f"{store}/clv/segments",
        tags=["web shop"],
        summary="Customer lifetime value by segment.",
        responses=ok,
    )
    def clv_segments(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_clv_segments(req))

    @app.get(f"{store}/experiments", tags=["web shop"], summary="A/B test results.", responses=ok)
    def experiments(request: Request, req: Req) -> JSONResponse:
        return _answer(_engine(request).get_experiments(req))
