"""One token bucket for every rate limit in the system (console echo, gateway requests, app calls).

It takes the time as an argument so callers choose their clock and tests need no sleeps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`per_second` tokens flow in, up to `capacity`; each allowed event takes one."""

    capacity: float
    per_second: float
    tokens: float = -1.0  # negative: full at the first take
    stamp: float = 0.0

    def take(self, now: float) -> float:
        """0 when the event may happen now, else the seconds until one may."""
        if self.tokens < 0:
            self.tokens, self.stamp = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second if self.per_second > 0 else float("inf")
