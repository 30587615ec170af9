"""One JSON line per API request, on the ``nexus.api`` logger (standard error by default).

Each line has ``timestamp`` (UTC, ISO 8601), ``level`` (INFO below 400, WARNING for 4xx, ERROR
for 5xx), ``module`` (the Python module of the route), ``store_id`` (from the path, else null),
``operation`` (the route's name, e.g. ``sales_metrics``), ``duration_ms``, ``status``, ``error``
(the message of the error body, else null) and ``context``: method, path, query string, client
address and the key id of an authenticated request. Neither the Authorization header nor any key
or secret is ever logged.

Routes add to a request's line through ``annotate(request, ...)``; the middleware writes it when
the request is done. An exception no error handler took is logged with its traceback (in the
line's context) and answered by ``on_error``'s response, a 500 with the JSON error body, so the
server prints no second, free-form traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER_NAME = "nexus.api"
logger = logging.getLogger(LOGGER_NAME)
_SCOPE_KEY = "nexus.log"


class JsonLineFormatter(logging.Formatter):
    """A record as one JSON object: the request fields when given (``extra={"request": ...}``)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "request", None) or {})
        line: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "module": fields.pop("module", None) or record.module,
            "store_id": fields.pop("store_id", None),
            "operation": fields.pop("operation", None),
            "duration_ms": fields.pop("duration_ms", None),
            "status": fields.pop("status", None),
            "error": fields.pop("error", None),
            "context": fields.pop("context", None) or {},
        }
        if not getattr(record, "request", None):
            line["error"] = record.getMessage() if record.levelno >= logging.WARNING else None
            line["context"] = {"message": record.getMessage()}
        if record.exc_info:
            line["context"]["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class _StandardError(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure() -> logging.Logger:
    """The ``nexus.api`` logger with its JSON-lines handler on standard error (added once)."""
    if not any(isinstance(h, _StandardError) for h in logger.handlers):
        handler = _StandardError()
        handler.setFormatter(JsonLineFormatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def annotate(request: Request, **fields: Any) -> None:
    """Add ``fields`` (store_id, error, key_id, ...) to this request's log line."""
    request.scope.setdefault(_SCOPE_KEY, {}).update(fields)


def level_of(status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.INFO


class RequestLogMiddleware:
    """ASGI middleware: times each HTTP request and logs its line when it is done."""

    def __init__(self, app: ASGIApp, on_error: Callable[[Exception], Response]) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault(_SCOPE_KEY, {})
        status: list[int] = []

        async def send_and_see(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        except Exception as exc:
            write(scope, 500, started, exc_info=(type(exc), exc, exc.__traceback__))
            if status:  # the response had started: nothing else can be sent
                raise
            await self.on_error(exc)(scope, receive, send)
            return
        write(scope, status[0] if status else 500, started)


def write(scope: Scope, status: int, started: float, exc_info: Any = None) -> None:
    notes: dict[str, Any] = dict(scope.get(_SCOPE_KEY) or {})
    route = scope.get("route")
    endpoint = scope.get("endpoint")
    path_params = scope.get("path_params") or {}
    client = scope.get("client")
    context: dict[str, Any] = {
        "method": scope.get("method"),
        "path": scope.get("path"),
        "query": (scope.get("query_string") or b"").decode("latin-1") or None,
        "client": client[0] if client else None,
    }
    if notes.get("key_id"):
        context["key_id"] = notes["key_id"]
    error = notes.get("error")
    if exc_info is not None and error is None:
        error = "internal error"
    fields = {
        "module": getattr(endpoint, "__module__", None) or "nexus_pipelines.api",
        "store_id": notes.get("store_id") or path_params.get("store_id"),
        "operation": getattr(route, "name", None),
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "status": status,
        "error": error,
        "context": context,
    }
    logger.log(level_of(status), "request", extra={"request": fields}, exc_info=exc_info)
