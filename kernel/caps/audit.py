"""Audit log of denials and privileged calls (who, what, decision, reason, time) in SQLite WAL,
so a crash never loses committed lines and readers never block the kernel."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos.ratelimit import TokenBucket

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    app TEXT NOT NULL,
    what TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_app ON audit (app, time);
CREATE INDEX IF NOT EXISTS audit_app_decision ON audit (app, decision, id);
CREATE INDEX IF NOT EXISTS audit_decision ON audit (decision, id);
"""


@dataclass(frozen=True)
class AuditEntry:
    time: float
    app: str
    what: str
    decision: str
    reason: str


class AuditLog:
    """Bounded three ways, so a chatty or hostile app can neither fill the disk nor erase the
    evidence of what other apps did:
    - each text field is cut to MAX_TEXT characters;
    - rows are rate-limited per app and decision (a burst of RATE_BURST, then RATE_PER_S a second).
      What goes over is counted, and written as one 'audit.suppressed' row ("N allow records
      suppressed ...") at most every SUMMARY_EVERY_S, and whenever the log is read or closed;
    - pruning, every PRUNE_EVERY inserts, first holds each app to per_app_rows (its own oldest allows
      go before its own denials), then the table to max_rows (the oldest allows of any app go before
      any denial)."""

    MAX_TEXT = 200
    PRUNE_EVERY = 1000
    RATE_BURST = 1000
    RATE_PER_S = 50.0
    SUMMARY_EVERY_S = 10.0
    MAX_BUCKETS = 4096

    def __init__(self, path: Path, max_rows: int = 100_000, per_app_rows: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.max_rows, self.per_app_rows, self.clock = path, max_rows, per_app_rows, clock
        self._inserts = 0
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._suppressed: dict[tuple[str, str], tuple[int, float]] = {}  # -> (count, since)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def _cut(cls, text: str) -> str:
        return text if len(text) <= cls.MAX_TEXT else text[: cls.MAX_TEXT - 1] + "…"

    def record(self, app: str, what: str, decision: str, reason: str = "") -> None:
        key, now = (self._cut(app), decision), self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._forget_idle_buckets(now)
            bucket = self._buckets[key] = TokenBucket(self.RATE_BURST, self.RATE_PER_S)
        if bucket.take(now) > 0:
            count, since = self._suppressed.get(key, (0, now))
            self._suppressed[key] = (count + 1, since)
            return
        if key in self._suppressed and now - self._suppressed[key][1] >= self.SUMMARY_EVERY_S:
            self._summarise(key, now)
        self._insert(key[0], self._cut(what), decision, self._cut(reason))

    def _summarise(self, key: tuple[str, str], now: float) -> None:
        count, since = self._suppressed.pop(key)
        app, decision = key
        self._insert(app, "audit.suppressed", decision,
                     f"{count} {decision} record{'' if count == 1 else 's'} suppressed in "
                     f"{now - since:.0f} s (over {self.RATE_PER_S:g} a second)")

    def flush_suppressed(self) -> None:
        """Write the pending 'suppressed' counts now (before the log is read or closed)."""
        now = self.clock()
        for key in list(self._suppressed):
            self._summarise(key, now)

    def _forget_idle_buckets(self, now: float) -> None:
        """Keep the rate state bounded: a bucket that has refilled completely holds no information."""
        if len(self._buckets) < self.MAX_BUCKETS:
            return
        for key, bucket in list(self._buckets.items()):
            full = bucket.tokens + (now - bucket.stamp) * bucket.per_second >= bucket.capacity
            if full and key not in self._suppressed:
                del self._buckets[key]

    def _insert(self, app: str, what: str, decision: str, reason: str) -> None:
        self._db.execute("INSERT INTO audit (time, app, what, decision, reason) VALUES (?, ?, ?, ?, ?)",
                         (time.time(), app, what, decision, reason))
        self._inserts += 1
        if self._inserts % self.PRUNE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        """Hold each app to per_app_rows, then the table to max_rows; allows go before denials."""
        over = self._db.execute("SELECT app, COUNT(*) FROM audit GROUP BY app HAVING COUNT(*) > ?",
                                (self.per_app_rows,)).fetchall()
        for app, count in over:
            self._drop_oldest(count - self.per_app_rows, app)
        (total,) = self._db.execute("SELECT COUNT(*) FROM audit").fetchone()
        if total > self.max_rows:
            self._drop_oldest(total - self.max_rows, None)

    def _drop_oldest(self, excess: int, app: str | None) -> None:
        where, args = ("app = ? AND ", [app]) if app is not None else ("", [])
        for decision in ("allow", "deny"):
            if excess <= 0:
                return
            cursor = self._db.execute(
                f"DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE {where}decision = ? "
                "ORDER BY id LIMIT ?)", [*args, decision, excess])
            excess -= cursor.rowcount

    def entries(self, app: str | None = None, decision: str | None = None,
                limit: int = 1000) -> list[AuditEntry]:
        """Newest first, with any pending 'suppressed' counts written first."""
        self.flush_suppressed()
        sql = "SELECT time, app, what, decision, reason FROM audit WHERE 1=1"
        args: list[str | int] = []
        if app is not None:
            sql, args = sql + " AND app = ?", [*args, app]
        if decision is not None:
            sql, args = sql + " AND decision = ?", [*args, decision]
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [AuditEntry(*row) for row in rows]

    def close(self) -> None:
        self.flush_suppressed()
        self._db.close()
