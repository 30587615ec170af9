"""The API's token bucket (nexus_pipelines/api/ratelimit.py) on a hand-driven clock."""

from __future__ import annotations

import threading

import pytest

from nexus_pipelines.api.ratelimit import RateLimiter, default_burst, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_the_burst_through_then_refills_at_the_rate():
    clock = Clock()
    # 60 a minute = one token a second; burst 3
    limiter = RateLimiter(60, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    # empty: the next token is 1 s away
    assert limiter.take("k") == pytest.approx(1.0)
    clock.now += 0.25  # a quarter token back: 0.75 s to go
    assert limiter.take("k") == pytest.approx(0.75)
    clock.now += 0.75
    assert limiter.take("k") == 0.0
    assert limiter.take("k") == pytest.approx(1.0)
    # a long pause refills the bucket to the burst, no more
    clock.now += 3600
    assert [limiter.take("k") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert limiter.take("k") > 0


def test_each_key_has_its_own_bucket():
    clock = Clock()
    limiter = RateLimiter(6, burst=1, clock=clock)  # 6 a minute: a token every 10 s
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0.0


def test_the_default_is_600_a_minute_with_bursts_of_a_tenth_of_that():
    clock = Clock()
    limiter = RateLimiter.from_env({})
    assert (limiter.per_minute, limiter.burst) == (600, 60)
    limiter = RateLimiter.from_env({"NEXUS_API_RATE_LIMIT": "120"})
    limiter._clock = clock
    assert (limiter.per_minute, limiter.burst) == (120, 12)
    assert sum(limiter.take("k") == 0.0 for _ in range(20)) == 12
    # 120 a minute = 2 a second: the 13th request waits half a second
    assert limiter.take("k") == pytest.approx(0.5)
    assert default_burst(5) == 1 and default_burst(601) == 61


def test_zero_turns_the_limit_off():
    limiter = RateLimiter.from_env({"NEXUS_API_RATE_LIMIT": "0"})
    assert all(limiter.take("k") == 0.0 for _ in range(10_000))


@pytest.mark.parametrize("text", ["ten", "-5", "1.5", "60/min"])
def test_a_bad_setting_is_named(text):
    with pytest.raises(
        ValueError, match=r"NEXUS_API_RATE_LIMIT must be a whole number of requests per minute"
    ):
        RateLimiter.from_env({"NEXUS_API_RATE_LIMIT": text})


def test_retry_after_is_whole_seconds_rounded_up():
    assert [retry_after(s) for s in (0.01, 1.0, 1.2, 59.9)] == ["1", "1", "2", "60"]


def test_concurrent_takes_never_hand_out_more_than_the_burst():
    clock = Clock()  # frozen: no refill during the test
    limiter = RateLimiter(60, burst=50, clock=clock)
    granted = []

    def worker():
        for _ in range(20):
            if limiter.take("k") == 0.0:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 50


def test_the_table_of_buckets_forgets_full_ones():
    clock = Clock()
    limiter = RateLimiter(600, burst=1, clock=clock)
    # 10,001 keys busy at once: none can be forgotten, the next pruning waits for twice as many
    for i in range(10_001):
        limiter.take(f"old{i}")
    assert len(limiter._buckets) == 10_001
    clock.now += 1  # 10 tokens a second: every old bucket is full again, the same as none
    for i in range(10_002):
        limiter.take(f"new{i}")
    # pruned at 20,003 buckets: the 10,001 old ones went, the new ones (empty) stayed
    assert len(limiter._buckets) == 10_002
    assert "old0" not in limiter._buckets and "new0" in limiter._buckets
