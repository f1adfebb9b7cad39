"""Audit log of denials and privileged calls (who, what, decision, reason, time) in SQLite WAL,
so a crash never loses committed lines and readers never block the kernel."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

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
"""


@dataclass(frozen=True)
class AuditEntry:
    time: float
    app: str
    what: str
    decision: str
    reason: str


class AuditLog:
    """Bounded: each text field is cut to MAX_TEXT characters and the table keeps the newest
    max_rows lines (pruned every PRUNE_EVERY inserts), so a chatty or hostile app cannot fill the disk."""

    MAX_TEXT = 200
    PRUNE_EVERY = 1000

    def __init__(self, path: Path, max_rows: int = 100_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.max_rows = path, max_rows
        self._inserts = 0
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def _cut(cls, text: str) -> str:
        return text if len(text) <= cls.MAX_TEXT else text[: cls.MAX_TEXT - 1] + "…"

    def record(self, app: str, what: str, decision: str, reason: str = "") -> None:
        self._db.execute("INSERT INTO audit (time, app, what, decision, reason) VALUES (?, ?, ?, ?, ?)",
                         (time.time(), self._cut(app), self._cut(what), decision, self._cut(reason)))
        self._inserts += 1
        if self._inserts % self.PRUNE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        """Drop all but the newest max_rows lines (ids only grow, so this is one range delete)."""
        self._db.execute("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?", (self.max_rows,))

    def entries(self, app: str | None = None, decision: str | None = None,
                limit: int = 1000) -> list[AuditEntry]:
        """Newest first."""
        sql, args = "SELECT time, app, what, decision, reason FROM audit WHERE 1=1", []
        if app is not None:
            sql, args = sql + " AND app = ?", [*args, app]
        if decision is not None:
            sql, args = sql + " AND decision = ?", [*args, decision]
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [AuditEntry(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
