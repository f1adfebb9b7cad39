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
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def record(self, app: str, what: str, decision: str, reason: str = "") -> None:
        self._db.execute("INSERT INTO audit (time, app, what, decision, reason) VALUES (?, ?, ?, ?, ?)",
                         (time.time(), app, what, decision, reason))

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
