"""Per-app key/value storage: one SQLite file (WAL) per app, owned by the kernel, with a byte quota.
The app id always comes from the verified token, so one app can never name another's file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmos.kernel.caps.authority import APP_ID

MAX_KEY = 256


def check_key(key: object) -> str:
    """Every storage call bounds its key, so a huge key can neither be stored nor written into the
    audit log by a get or delete."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise ValueError(f"a storage key is a string of 1..{MAX_KEY} characters")
    return key


class QuotaExceeded(Exception):
    pass


class AppStorage:
    def __init__(self, base: Path, quota_bytes: int = 1024 * 1024) -> None:
        self.base = base
        self.quota = quota_bytes
        self._dbs: dict[str, sqlite3.Connection] = {}

    def _db(self, app_id: str) -> sqlite3.Connection:
        db = self._dbs.get(app_id)
        if db is None:
            if not APP_ID.match(app_id):
                raise ValueError(f"bad app id {app_id!r}")
            directory = self.base / app_id
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(directory / "storage.sqlite", isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._dbs[app_id] = db
        return db

    def get(self, app_id: str, key: str) -> str | None:
        row = self._db(app_id).execute("SELECT value FROM kv WHERE key = ?", (check_key(key),)).fetchone()
        return row[0] if row else None

    def set(self, app_id: str, key: str, value: str) -> None:
        check_key(key)
        if not isinstance(value, str):
            raise ValueError("a stored value is JSON text")
        db = self._db(app_id)
        db.execute("BEGIN IMMEDIATE")
        try:
            used = db.execute(
                "SELECT COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(CAST(value AS BLOB))), 0)"
                " FROM kv WHERE key != ?", (key,)).fetchone()[0]
            size = len(key.encode()) + len(value.encode())
            if used + size > self.quota:
                raise QuotaExceeded(f"storage quota of {self.quota} bytes exceeded "
                                    f"({used} used, {size} more asked)")
            db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def delete(self, app_id: str, key: str) -> None:
        self._db(app_id).execute("DELETE FROM kv WHERE key = ?", (check_key(key),))

    def keys(self, app_id: str) -> list[str]:
        return [row[0] for row in self._db(app_id).execute("SELECT key FROM kv ORDER BY key")]

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
