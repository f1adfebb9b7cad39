"""Per-app key/value storage: one SQLite file (WAL) per app, owned by the kernel, with a byte quota.
The app id always comes from the verified token, so one app can never name another's file.

The app id is the app's identity (kernel/versions), so its data follows it from version to version.
The same file keeps each version's view of the data: `kv` is the view of the version named by
`meta.view`; switching to another version (`switch_view`) saves the view it leaves in `snapshots`,
writes the next one and sets aside what the next version does not read, in one transaction, so a
power cut leaves the data fully switched or untouched (docs/versions.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
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


Values = dict[str, str]  # key -> JSON text
Aside = dict[str, tuple[str, str]]  # key -> (JSON text, why it was set aside)
# (the view being left, its values, a reader of saved views) -> (the next view's values, set aside)
MakeView = Callable[[str | None, Values, Callable[[str], Values | None]], tuple[Values, Aside]]

_TABLES = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS views (version TEXT PRIMARY KEY, saved TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS snapshots (version TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (version, key))",
    "CREATE TABLE IF NOT EXISTS aside (id INTEGER PRIMARY KEY, version TEXT NOT NULL, key TEXT NOT NULL,"
    " value TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL)",
)
ADOPTED = ".adopted"  # per-hash storage folders moved here once their data joined an identity's


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_values(db: sqlite3.Connection, values: Values) -> None:
    """Replace the live view (inside the caller's transaction)."""
    db.execute("DELETE FROM kv")
    db.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", sorted(values.items()))


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
            for table in _TABLES:
                db.execute(table)
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

    # -- versions' views (kernel/versions) ---------------------------------------------------------
    def view(self, app_id: str) -> str | None:
        """The version whose view the live values are (None: not yet tracked)."""
        row = self._db(app_id).execute("SELECT value FROM meta WHERE key = 'view'").fetchone()
        return row[0] if row else None

    def values(self, app_id: str) -> Values:
        return dict(self._db(app_id).execute("SELECT key, value FROM kv"))

    def saved(self, app_id: str, version: str) -> Values | None:
        """A version's saved view, or None if it has none."""
        return _saved(self._db(app_id), version)

    def aside(self, app_id: str) -> list[dict[str, str]]:
        rows = self._db(app_id).execute("SELECT version, key, value, reason, at FROM aside ORDER BY id")
        return [dict(zip(("version", "key", "value", "reason", "at"), row, strict=True)) for row in rows]

    def switch_view(self, app_id: str, version: str, make: MakeView) -> tuple[Values, Aside]:
        """Make the live values `version`'s view, in one transaction: the view being left is saved,
        `make` says the next values and what to set aside (raising leaves everything as it was)."""
        db = self._db(app_id)
        db.execute("BEGIN IMMEDIATE")
        try:
            current = db.execute("SELECT value FROM meta WHERE key = 'view'").fetchone()
            leaving = current[0] if current else None
            values = dict(db.execute("SELECT key, value FROM kv"))
            if leaving == version:
                db.execute("COMMIT")
                return values, {}
            following, aside = make(leaving, values, lambda other: _saved(db, other))
            if leaving is not None:
                db.execute("DELETE FROM snapshots WHERE version = ?", (leaving,))
                db.executemany("INSERT INTO snapshots (version, key, value) VALUES (?, ?, ?)",
                               [(leaving, key, value) for key, value in values.items()])
                db.execute("INSERT OR REPLACE INTO views (version, saved) VALUES (?, ?)", (leaving, _now()))
            _write_values(db, following)
            db.executemany("INSERT INTO aside (version, key, value, reason, at) VALUES (?, ?, ?, ?, ?)",
                           [(leaving or "", key, value, why, _now()) for key, (value, why) in aside.items()])
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('view', ?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return following, aside

    def adopt(self, legacy_id: str, app_id: str, version: str) -> int:
        """Bring an older per-code-hash storage (`legacy_id`) under the identity `app_id` as `version`'s
        saved view (or set aside, if that version already has one), then move its folder to .adopted/.
        Returns how many values came over; nothing is deleted."""
        source = self.base / legacy_id / "storage.sqlite"
        if legacy_id == app_id or not APP_ID.match(legacy_id) or not source.exists():
            return 0
        old = self._dbs.pop(legacy_id, None)
        if old is not None:
            old.close()
        reader = sqlite3.connect(source, isolation_level=None)
        try:
            values: Values = dict(reader.execute("SELECT key, value FROM kv"))
        finally:
            reader.close()
        db = self._db(app_id)
        marker = f"adopted:{legacy_id}"
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM meta WHERE key = ?", (marker,)).fetchone() is None:
                if _saved(db, version) is None and self.view(app_id) != version:
                    db.executemany("INSERT INTO snapshots (version, key, value) VALUES (?, ?, ?)",
                                   [(version, key, value) for key, value in values.items()])
                    db.execute("INSERT INTO views (version, saved) VALUES (?, ?)", (version, _now()))
                else:
                    db.executemany(
                        "INSERT INTO aside (version, key, value, reason, at) VALUES (?, ?, ?, ?, ?)",
                        [(version, key, value, f"from {legacy_id}'s storage, made before app identities",
                          _now()) for key, value in values.items()])
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (marker, _now()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        target = self.base / ADOPTED / legacy_id
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        n = 1
        while target.exists():
            n += 1
            target = self.base / ADOPTED / f"{legacy_id}.{n}"
        (self.base / legacy_id).rename(target)
        return len(values)

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()


def _saved(db: sqlite3.Connection, version: str) -> Values | None:
    if db.execute("SELECT 1 FROM views WHERE version = ?", (version,)).fetchone() is None:
        return None
    return dict(db.execute("SELECT key, value FROM snapshots WHERE version = ?", (version,)))
