"""Token buckets and circuit breakers, on an explicit clock."""

from __future__ import annotations

from services.notifier.limits import CircuitBreaker, Limits, TokenBucket


def test_a_bucket_allows_its_burst_then_spaces_sends() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2.0)

    assert [bucket.reserve(0.0) for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    assert TokenBucket(2.0, 2.0).reserve(10.0) == 0.0


def test_a_bucket_refills_with_time_up_to_its_burst() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=2.0)
    bucket.reserve(0.0)
    bucket.reserve(0.0)

    assert bucket.reserve(100.0) == 0.0
    assert bucket.reserve(100.0) == 0.0
    assert bucket.reserve(100.0) == 1.0


def test_a_breaker_opens_after_consecutive_failures_and_half_opens_once() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=10.0)
    breaker.record(False, 0.0)
    breaker.record(True, 0.0)  # a success resets the count
    breaker.record(False, 1.0)
    assert breaker.allow(1.0)
    breaker.record(False, 2.0)

    assert not breaker.allow(5.0)
    assert breaker.allow(12.0)  # the one trial
    assert not breaker.allow(12.0)
    breaker.record(False, 12.0)
    assert not breaker.allow(13.0)
    assert breaker.allow(22.0)
    breaker.record(True, 22.0)
    assert breaker.allow(22.0) and breaker.allow(22.0)


def test_a_receiver_is_paced_at_its_channels_documented_rate() -> None:
    limits = Limits(5.0, 1.0, 5, 30.0, channel_rates={"webhook": 200.0, "x": 0.1})
    webhook, x, other = (
        limits.bucket(k, c) for k, c in (("a", "webhook"), ("b", "x"), ("c", "sms"))
    )

    assert (webhook.rate_per_s, x.rate_per_s, other.rate_per_s) == (200.0, 0.1, 5.0)
    assert [webhook.reserve(0.0) for _ in range(2)] == [0.0, 0.005]
    assert [x.reserve(0.0) for _ in range(2)] == [0.0, 10.0]
