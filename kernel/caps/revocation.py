"""The persisted revocation list. Loaded into memory at start so the per-call check is a set lookup;
every revocation is committed to SQLite (WAL) before it is reported done."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


class RevocationStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS revoked (id TEXT PRIMARY KEY, time REAL NOT NULL, "
                         "reason TEXT NOT NULL)")
        self._ids = {row[0] for row in self._db.execute("SELECT id FROM revoked")}
        self.version = 0  # bumped on every change so caches of full verifications know to redo them

    def revoke(self, revocation_id: str, reason: str = "") -> bool:
        """Returns False if it was already revoked."""
        if revocation_id in self._ids:
            return False
        self._db.execute("INSERT OR IGNORE INTO revoked (id, time, reason) VALUES (?, ?, ?)",
                         (revocation_id, time.time(), reason))
        self._ids.add(revocation_id)
        self.version += 1
        return True

    def any_revoked(self, revocation_ids: tuple[str, ...]) -> bool:
        return any(rid in self._ids for rid in revocation_ids)

    def __contains__(self, revocation_id: str) -> bool:
        return revocation_id in self._ids

    def close(self) -> None:
        self._db.close()
