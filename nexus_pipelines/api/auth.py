"""Who may call the metrics API: read keys sent as ``Authorization: Bearer nxk_...``.

Keys are made with `nexus api add-key` and checked through ``lib.warehouse.api_keys.KeyCache``
(a revocation takes effect within its few seconds of caching). The rules, in the order applied:

* no key, or a key that is not a live read key -> 401 ``unauthorized`` (with
  ``WWW-Authenticate: Bearer``); a write key of the event collector -> 403 ``forbidden``;
* a live read key over its rate (``ratelimit.RateLimiter``, one bucket per key) -> 429
  ``rate_limited`` with ``Retry-After``; failed attempts are limited the same way per client
  address, so guessing keys costs the warehouse no more than honest traffic;
* a store the key was not given -> 403 ``forbidden``, whether or not the store exists (a key
  learns nothing about other stores); an unknown store of an all-stores key -> 404 (the engine's).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..lib.warehouse.api_keys import ApiKey, KeyCache
from .logs import annotate
from .ratelimit import RateLimiter, retry_after

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="read key",
    description="A read key made with `nexus api add-key --stores S1,S2` (or `--all-stores`): "
    "`Authorization: Bearer nxk_...`.",
)


class ApiError(Exception):
    """An error answered with the JSON error body: ``{"error": {status, code, message, field}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def _keys(request: Request) -> KeyCache:
    return request.app.state.key_cache


def _limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


def _limit(request: Request, bucket: str) -> None:
    wait = _limiter(request).take(bucket)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests: {_limiter(request).per_minute:g} a minute are allowed; "
            f"retry in {retry_after(wait)} s",
            headers={"Retry-After": retry_after(wait)},
        )


def _unauthorized(request: Request, message: str) -> ApiError:
    client = request.client.host if request.client else "unknown"
    _limit(request, f"client:{client}")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def read_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """The live read key of the request (dependency of every route but /health)."""
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorized(
            request, "no API key: send the header `Authorization: Bearer nxk_...` (`nexus api add-key`)"
        )
    token = credentials.credentials.strip()
    keys = _keys(request)
    key = keys.verify(token, "read")
    if key is None:
        if token.startswith("nxw_") and keys.verify(token, "write") is not None:
            raise ApiError(
                403,
                "forbidden",
                "this is a write key of the event collector: reading metrics needs a read key (nxk_...)",
            )
        raise _unauthorized(request, "the API key is unknown or revoked")
    annotate(request, key_id=key.key_id)
    _limit(request, f"key:{key.key_id}")
    return key


def store_key(
    request: Request,
    store_id: Annotated[str, Path(description="A store id, as `GET /v1/stores` lists them.")],
    key: Annotated[ApiKey, Depends(read_key)],
) -> ApiKey:
    """The request's key, when it may read the store in the path; else 403."""
    annotate(request, store_id=store_id)
    if not key.may_read(store_id):
        raise ApiError(403, "forbidden", f"this API key may not read store {store_id!r}", field="store_id")
    return key


def visible_stores(key: ApiKey, stores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of ``stores`` the key may read."""
    return [s for s in stores if key.may_read(str(s.get("store_id")))]
