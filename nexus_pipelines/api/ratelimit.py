"""A token bucket per API key: a steady rate per minute, with short bursts allowed.

Each key's bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second;
a request takes one token. An empty bucket answers with the seconds until the next token, which
the API sends as ``Retry-After`` with status 429. A full bucket is the same as no bucket, so the
table of buckets is pruned of full ones when it grows large: its size stays bounded by the keys
active in the last ``burst / rate`` seconds.

The rate comes from ``NEXUS_API_RATE_LIMIT`` (requests per minute and key, default 600; ``0``
turns the limit off); the burst is a tenth of a minute's worth (60 at the default).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping

ENV = "NEXUS_API_RATE_LIMIT"
DEFAULT_PER_MINUTE = 600
_PRUNE_AT = 10_000


def default_burst(per_minute: float) -> int:
    """A tenth of a minute's worth of requests, at least one."""
    return max(1, math.ceil(per_minute / 10))


class RateLimiter:
    """``take(key)`` -> 0.0 when the request may go ahead, else the seconds to wait."""

    def __init__(
        self,
        per_minute: float = DEFAULT_PER_MINUTE,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 0 or not math.isfinite(per_minute):
            raise ValueError(
                f"the rate limit must be a number of requests per minute >= 0, got {per_minute!r}"
            )
        if burst is not None and burst < 1:
            raise ValueError(f"the burst must be at least 1 request, got {burst!r}")
        self.per_minute = per_minute
        self.burst = burst if burst is not None else default_burst(per_minute)
        self.enabled = per_minute > 0
        self._rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._prune_at = _PRUNE_AT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RateLimiter:
        """The limiter ``NEXUS_API_RATE_LIMIT`` asks for (requests per minute; 0: no limit)."""
        env = os.environ if environ is None else environ
        text = (env.get(ENV) or "").strip()
        if not text:
            return cls(DEFAULT_PER_MINUTE)
        if not (text.isascii() and text.isdigit()):
            raise ValueError(
                f"{ENV} must be a whole number of requests per minute (0 turns the limit off), got {text!r}"
            )
        return cls(int(text))

    def take(self, key: str) -> float:
        """Take one token from ``key``'s bucket: 0.0 if there was one, else the wait in seconds."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self._prune_at:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self._rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        # many keys busy at once: prune again only after the table has doubled (amortised cost)
        self._prune_at = max(_PRUNE_AT, 2 * len(self._buckets))


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
