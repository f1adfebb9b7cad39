"""Audit log of denials and privileged calls (who, what, decision, reason, time) in SQLite WAL,
so a crash never loses committed lines and readers never block the kernel.

Denials are committed before the call that caused them returns. Allows, the bulk of the rows (every
granted host call writes one), are committed in batches: one commit per row cost ~40 µs, several times
the rest of the kernel's work on a call, a batched row ~4 µs (docs/PERFORMANCE.md, App runtime). An
allow row waits in memory at most FLUSH_AFTER_S; a process crash can lose that much of allows, never a
denial."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos.ratelimit import TokenBucket

log = logging.getLogger("llmos.caps.audit")

Row = tuple[float, str, str, str, str]  # time, app, what, decision, reason
_INSERT = "INSERT INTO audit (time, app, what, decision, reason) VALUES (?, ?, ?, ?, ?)"

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
      any denial).

    Allow rows are written in batches when an event loop runs (the kernel): at the latest
    FLUSH_AFTER_S after the first of them, at BATCH_ROWS, before any denial (so the order holds), and
    whenever the log is read, pruned or closed. Without a running loop every row is written at once."""

    MAX_TEXT = 200
    FLUSH_AFTER_S = 0.05
    BATCH_ROWS = 256
    MAX_PENDING = 4096  # rows the log holds while SQLite refuses writes; over that, record() fails
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
        self._pending: list[Row] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._failing = False  # the last write failed: write (and fail) synchronously until one works
        self._lock = threading.RLock()  # the kernel's loop and the odd worker thread share the log
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db: sqlite3.Connection | None = db

    @classmethod
    def _cut(cls, text: str) -> str:
        return text if len(text) <= cls.MAX_TEXT else text[: cls.MAX_TEXT - 1] + "…"

    def record(self, app: str, what: str, decision: str, reason: str = "") -> None:
        with self._lock:
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
            if (decision != "allow" or self._failing or len(self._pending) >= self.BATCH_ROWS
                    or time.time() - self._pending[0][0] >= self.FLUSH_AFTER_S or not self._flush_later()):
                self._write()

    def flush(self) -> None:
        """Commit the rows waiting in memory (the loop's timer calls this; so do readers)."""
        with self._lock:
            self._timer = self._timer_loop = None
            if self._db is None or not self._pending:
                return
            try:
                self._write()
            except sqlite3.Error as error:  # the next record() retries and fails its call
                log.error("audit: %d rows not written yet: %s", len(self._pending), error)

    def _flush_later(self) -> bool:
        """Arrange a flush on the running event loop within FLUSH_AFTER_S; False if no loop runs
        in this thread (a tool, a test), and then the caller writes at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if self._timer is None or self._timer_loop is not loop:
            self._timer, self._timer_loop = loop.call_later(self.FLUSH_AFTER_S, self.flush), loop
        return True

    def _summarise(self, key: tuple[str, str], now: float) -> None:
        count, since = self._suppressed.pop(key)
        app, decision = key
        self._insert(app, "audit.suppressed", decision,
                     f"{count} {decision} record{'' if count == 1 else 's'} suppressed in "
                     f"{now - since:.0f} s (over {self.RATE_PER_S:g} a second)")

    def flush_suppressed(self) -> None:
        """Write the pending 'suppressed' counts, and every row waiting, now (before the log is read
        or closed)."""
        with self._lock:
            now = self.clock()
            for key in list(self._suppressed):
                self._summarise(key, now)
            if self._pending:
                self._write()

    def _forget_idle_buckets(self, now: float) -> None:
        """Keep the rate state bounded: a bucket that has refilled completely holds no information."""
        if len(self._buckets) < self.MAX_BUCKETS:
            return
        for key, bucket in list(self._buckets.items()):
            full = bucket.tokens + (now - bucket.stamp) * bucket.per_second >= bucket.capacity
            if full and key not in self._suppressed:
                del self._buckets[key]

    def _insert(self, app: str, what: str, decision: str, reason: str) -> None:
        """Queue one row; record() decides whether it is written now."""
        if len(self._pending) >= self.MAX_PENDING:
            raise sqlite3.OperationalError(f"audit log: {len(self._pending)} rows could not be written")
        self._pending.append((time.time(), app, what, decision, reason))

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("the audit log is closed")
        return self._db

    def _write(self) -> None:
        """Commit every queued row in one transaction, in the order they were recorded."""
        rows, db = self._pending, self._conn()
        try:
            db.execute("BEGIN")
            db.executemany(_INSERT, rows)
            db.execute("COMMIT")
        except sqlite3.Error:
            self._failing = True
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._failing = False
        self._pending = []
        before, self._inserts = self._inserts, self._inserts + len(rows)
        if before // self.PRUNE_EVERY != self._inserts // self.PRUNE_EVERY:
            self._prune()

    def prune(self) -> None:
        """Hold each app to per_app_rows, then the table to max_rows; allows go before denials."""
        with self._lock:
            if self._pending:
                self._write()  # prunes too, when it crosses PRUNE_EVERY; once more is harmless
            self._prune()

    def _prune(self) -> None:
        over = self._conn().execute("SELECT app, COUNT(*) FROM audit GROUP BY app HAVING COUNT(*) > ?",
                                    (self.per_app_rows,)).fetchall()
        for app, count in over:
            self._drop_oldest(count - self.per_app_rows, app)
        (total,) = self._conn().execute("SELECT COUNT(*) FROM audit").fetchone()
        if total > self.max_rows:
            self._drop_oldest(total - self.max_rows, None)

    def _drop_oldest(self, excess: int, app: str | None) -> None:
        where, args = ("app = ? AND ", [app]) if app is not None else ("", [])
        for decision in ("allow", "deny"):
            if excess <= 0:
                return
            cursor = self._conn().execute(
                f"DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE {where}decision = ? "
                "ORDER BY id LIMIT ?)", [*args, decision, excess])
            excess -= cursor.rowcount

    def entries(self, app: str | None = None, decision: str | None = None,
                limit: int = 1000) -> list[AuditEntry]:
        """Newest first, with any pending 'suppressed' counts and waiting rows written first."""
        sql = "SELECT time, app, what, decision, reason FROM audit WHERE 1=1"
        args: list[str | int] = []
        if app is not None:
            sql, args = sql + " AND app = ?", [*args, app]
        if decision is not None:
            sql, args = sql + " AND decision = ?", [*args, decision]
        with self._lock:
            self.flush_suppressed()
            rows = self._conn().execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [AuditEntry(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._db is None:
                return
            self.flush_suppressed()
            if self._timer is not None:
                self._timer.cancel()  # close() runs on the kernel's loop, the timer's own
                self._timer = self._timer_loop = None
            self._db.close()
            self._db = None
