"""Token-bucket rate limiting, per requester plus one bucket for everyone, in memory (a restart
refilling the buckets is harmless; budgets are the persistent limit)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llmos.kernel.gateway.errors import RateLimited
from llmos.ratelimit import TokenBucket


@dataclass
class RateLimiter:
    per_minute: int
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def _bucket(self, key: str, scale: int) -> TokenBucket:
        if key not in self.buckets:
            rate = self.per_minute * scale
            self.buckets[key] = TokenBucket(capacity=float(rate), per_second=rate / 60.0)
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
