"""Token-bucket rate limiting, per requester plus one bucket for everyone, in memory (a restart
refilling the buckets is harmless; budgets are the persistent limit)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llmos.kernel.gateway.errors import RateLimited


@dataclass
class Bucket:
    capacity: float
    per_second: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> float:
        """0 when a request may go now, else the seconds until one may."""
        if self.tokens < 0:
            self.tokens, self.stamp = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


@dataclass
class RateLimiter:
    per_minute: int
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def _bucket(self, key: str, scale: int) -> Bucket:
        if key not in self.buckets:
            rate = self.per_minute * scale
            self.buckets[key] = Bucket(capacity=float(rate), per_second=rate / 60.0)
        return self.buckets[key]

    def acquire(self, requester: str) -> None:
        now = self.clock()
        # Everyone together may use four requesters' worth; one requester may not starve the rest.
        for key, scale in ((f"who:{requester}", 1), ("all", 4)):
            wait = self._bucket(key, scale).take(now)
            if wait > 0:
                raise RateLimited(f"too many requests from {requester}; try again in {wait:.0f} s"
                                  if key != "all" else f"the gateway is busy; try again in {wait:.0f} s",
                                  retry_after=wait)
