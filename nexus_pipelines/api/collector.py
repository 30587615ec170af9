"""The event collector: Segment's HTTP tracking API, writing the landing files of the events source.

``POST /v1/track``, ``/v1/identify``, ``/v1/page``, ``/v1/screen``, ``/v1/group``, ``/v1/alias``
take one event, ``POST /v1/batch`` takes ``{"batch": [...]}``; Segment's SDKs (analytics-python
and the others) and plain HTTP calls work unchanged with ``host`` set to this server. Events are
completed, checked and written by ``lib.collector`` (its docstring says how): a 200 answer means
the events are on disk.

Authentication: a write key (``nexus api add-key --write``) as the user of HTTP basic auth with an
empty password, as the SDKs send it, or as ``writeKey`` in the body (Segment's alternative; it is
never written to the landing file). No key, or one that is not a live write key: 401.

Answers, errors in the API's body ``{"error": {"status", "code", "message", "field"}}``:

* 200 ``{"success": true}``: every event written;
* 400 ``invalid_parameter``: the body is not JSON (or not an object), or the event is refused,
  with the event's key at fault in ``field``;
* 413 ``payload_too_large``: a single-event body over 32 KB, a batch body over 500 KB (after gzip
  decompression when sent with ``Content-Encoding: gzip``), or an event over 32 KB;
* 401 ``unauthorized``; 500 ``internal`` when the events cannot be written or the keys cannot be
  checked (nothing is acknowledged then: the SDKs retry).

A batch keeps its good events: when some items are refused, the others are written and the
answer is still 200, ``{"success": true, "rejected": [{"index", "field", "message"}, ...]}``.
200 is what Segment answers for a batch, and the right answer for a client that retries: a 4xx
would make the SDKs drop the batch, a 5xx resend events already stored, and a refused item is
refused again whenever it is resent. Only a batch of which no item is written is an error: 400
(413 when every item was too large) with the same ``rejected`` list beside ``error``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..lib.collector import EVENT_TYPES, MAX_BATCH_BYTES, MAX_EVENT_BYTES, Collected, Collector, utc_now
from ..lib.warehouse.api_keys import ApiKey, Kind
from .auth import ApiError

_DESCRIPTION = (
    "Segment HTTP tracking API. Auth: HTTP basic with the write key as user and an empty password,"
    ' or `writeKey` in the body. 200 `{"success": true}` once the events are on disk; a batch keeps'
    " its good events and lists the others in `rejected` (index, field, message). 400 bad JSON or"
    " event (`field` names the key), 401 no or bad key, 413 over 32 KB an event / 500 KB a batch."
)
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Basic realm="nexus collector"'}

# Segment's documented example payloads (HTTP API source), shown in the OpenAPI docs
_EXAMPLES: dict[str, dict[str, Any]] = {
    "track": {
        "userId": "019mr8mf4r",
        "event": "Item Purchased",
        "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
        "context": {"ip": "24.5.68.47"},
        "timestamp": "2012-12-02T00:30:12.984Z",
    },
    "identify": {
        "userId": "019mr8mf4r",
        "traits": {"email": "pgibbons@example.com", "name": "Peter Gibbons", "industry": "Technology"},
        "context": {"ip": "24.5.68.47"},
        "timestamp": "2012-12-02T00:30:08.276Z",
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
_EXAMPLES["batch"] = {
    "batch": [{"type": kind, **body} for kind, body in _EXAMPLES.items()],
    "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}},
}


class KeyVerifier(Protocol):
    """What the router needs of ``lib.warehouse.api_keys.KeyCache``."""

    def verify(self, token: str, kind: Kind) -> ApiKey | None: ...


class _Refused(ApiError):
    """A request answered with an error body, and (for a batch) the list of rejected events."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, code, message, field=field, headers=headers)
        self.extra = extra or {}

    def response(self) -> JSONResponse:
        error = {"status": self.status, "code": self.code, "message": self.message, "field": self.field}
        return JSONResponse({"error": error, **self.extra}, status_code=self.status, headers=self.headers)


def create_router(
    landing_dir: Path, key_cache: KeyVerifier, *, clock: Callable[[], dt.datetime] = utc_now
) -> APIRouter:
    """The collector's routes, writing under ``landing_dir``; ``clock`` gives ``receivedAt`` (UTC)."""
    collector = Collector(landing_dir, clock=clock)
    router = APIRouter(prefix="/v1", tags=["collector"])

    async def collect(request: Request, event_type: str | None) -> JSONResponse:
        try:
            return await _collect(request, event_type, collector, key_cache)
        except _Refused as refused:
            return refused.response()

    for kind in (*EVENT_TYPES, "batch"):
        router.add_api_route(
            f"/{kind}",
            _endpoint(collect, None if kind == "batch" else kind),
            methods=["POST"],
            name=f"collect_{kind}",
            summary=f"Segment {kind} call" if kind != "batch" else "Segment batch of calls",
            description=_DESCRIPTION,
            response_class=JSONResponse,
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "object"}, "example": _EXAMPLES[kind]}
                    },
                }
            },
        )
    return router


def _endpoint(collect: Callable[..., Any], event_type: str | None) -> Callable[..., Any]:
    async def endpoint(request: Request) -> JSONResponse:
        return await collect(request, event_type)

    return endpoint


async def _collect(
    request: Request, event_type: str | None, collector: Collector, key_cache: KeyVerifier
) -> JSONResponse:
    limit = MAX_BATCH_BYTES if event_type is None else MAX_EVENT_BYTES
    header_key = _header_key(request)
    if header_key is not None:
        await _check_key(key_cache, header_key)
    payload = _parse(await _read_body(request, limit))
    body_key = payload.pop("writeKey", None)
    if header_key is None:
        if not isinstance(body_key, str) or not body_key:
            raise _Refused(
                401,
                "unauthorized",
                "no write key: send it as the user of HTTP basic auth (empty password) or as writeKey",
                headers=_WWW_AUTHENTICATE,
            )
        await _check_key(key_cache, body_key)
    if event_type is None:
        events = payload.get("batch")
        if not isinstance(events, list):
            raise _Refused(400, "invalid_parameter", "batch: expected an array of events", field="batch")
        if not events:
            raise _Refused(400, "invalid_parameter", "batch: no events", field="batch")
        done = await _write(collector.collect, events, batch=payload)
        return _batch_answer(done, len(events))
    done = await _write(collector.collect, [payload], event_type=event_type)
    if done.rejected:
        bad = done.rejected[0]
        if bad.too_large:
            raise _Refused(413, "payload_too_large", bad.message)
        raise _Refused(400, "invalid_parameter", bad.message, field=bad.field)
    return JSONResponse({"success": True})


async def _write(collect: Callable[..., Collected], events: list[Any], **kwargs: Any) -> Collected:
    try:
        return await run_in_threadpool(collect, events, **kwargs)
    except OSError as exc:
        raise _Refused(500, "internal", f"the events could not be stored: {exc}") from exc


def _batch_answer(done: Collected, count: int) -> JSONResponse:
    rejected = [r.to_dict() for r in done.rejected]
    if done.written:
        return JSONResponse({"success": True, "rejected": rejected} if rejected else {"success": True})
    first = done.rejected[0]
    too_large = all(r.too_large for r in done.rejected)
    raise _Refused(
        413 if too_large else 400,
        "payload_too_large" if too_large else "invalid_parameter",
        f"none of the {count} event(s) was accepted; the first, index {first.index}: {first.message}",
        field=first.field,
        extra={"rejected": rejected},
    )


def _header_key(request: Request) -> str | None:
    """The write key of the Authorization header (basic auth user, or a bearer token); None: no header."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() != "basic":
        raise _Refused(
            401, "unauthorized", f"unsupported authorization scheme {scheme!r}", headers=_WWW_AUTHENTICATE
        )
    try:
        user = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        raise _Refused(
            401, "unauthorized", "malformed basic authorization header", headers=_WWW_AUTHENTICATE
        ) from None
    return user or None  # an empty user: the key may still come as writeKey


async def _check_key(key_cache: KeyVerifier, token: str) -> None:
    try:
        key = await run_in_threadpool(key_cache.verify, token, "write")
    except psycopg.Error as exc:
        raise _Refused(500, "internal", f"the write key could not be checked: {exc}") from exc
    if key is None:
        raise _Refused(401, "unauthorized", "not a live write key", headers=_WWW_AUTHENTICATE)


def _too_large(limit: int) -> _Refused:
    return _Refused(413, "payload_too_large", f"the request body is over the limit of {limit:,} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    """The body (gzip decompressed), refused as soon as it is over ``limit`` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise _Refused(400, "invalid_parameter", f"unsupported Content-Encoding {encoding!r}")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _Refused(400, "invalid_parameter", f"the gzip body is damaged: {exc}") from None
    if len(data) > limit or inflate.unconsumed_tail:
        raise _too_large(limit)
    if not inflate.eof:
        raise _Refused(400, "invalid_parameter", "the gzip body is truncated")
    return data


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Refused(400, "invalid_parameter", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise _Refused(400, "invalid_parameter", "the request body must be a JSON object")
    return payload
