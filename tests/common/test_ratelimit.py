"""The one token bucket every rate limit uses."""

from llmos.ratelimit import TokenBucket


def test_bucket_allows_a_burst_then_says_how_long_to_wait():
    bucket = TokenBucket(capacity=3, per_second=0.5)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == 2.0  # one token takes 2 s to flow in
    assert bucket.take(102.0) == 0.0


def test_bucket_never_exceeds_capacity_and_survives_a_clock_going_back():
    bucket = TokenBucket(capacity=2, per_second=10)
    bucket.take(0.0)
    assert bucket.take(1000.0) == 0.0 and bucket.tokens == 1  # refilled to 2, not to 10,000
    assert bucket.take(999.0) == 0.0  # an earlier time adds nothing and breaks nothing
    assert bucket.take(999.0) > 0
