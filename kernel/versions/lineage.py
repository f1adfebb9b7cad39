"""The version history of every app identity, in one SQLite file (WAL): `state_dir()/versions.db`.

- identities: id (app-<128 bits of the first version's code hash>), when it was made, the version it
  points at (`current`), and the identity and version it was forked from;
- versions: the ordered versions of each identity (seq 1, 2, …), each a code hash in the registry, with
  the version it was made from (`parent`), how it joined (created, regenerated, adopted), its storage
  shape and the migration mapping from its parent;
- moves: every change of `current` (regenerate, rollback, launch of another version), for the history.

Each change is one transaction. Which version an identity points at is this machine's choice, like its
trust store, so this file is not in the registry's git history (which is shared)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .mapping import Mapping
from .shape import Shape

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS identities (id TEXT PRIMARY KEY, created TEXT NOT NULL,"
    " current TEXT NOT NULL, forked_from TEXT)",
    "CREATE TABLE IF NOT EXISTS versions (identity TEXT NOT NULL REFERENCES identities (id),"
    " seq INTEGER NOT NULL, code_hash TEXT NOT NULL UNIQUE, parent TEXT, added TEXT NOT NULL,"
    " how TEXT NOT NULL, shape TEXT NOT NULL, mapping TEXT NOT NULL, PRIMARY KEY (identity, seq))",
    "CREATE TABLE IF NOT EXISTS moves (id INTEGER PRIMARY KEY, identity TEXT NOT NULL, at TEXT NOT NULL,"
    " from_hash TEXT, to_hash TEXT NOT NULL, why TEXT NOT NULL)",
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_for(code_hash: str) -> str:
    """An identity's id, made once from its first version; the same id the storage and the token use
    (so an app made before identities keeps its storage where it was)."""
    return "app-" + code_hash.removeprefix("sha256:")[:32]


@dataclass(frozen=True)
class Version:
    identity: str
    seq: int
    code_hash: str
    parent: str | None
    added: str
    how: str  # created | regenerated | adopted
    shape: Shape
    mapping: Mapping


@dataclass(frozen=True)
class Move:
    at: str
    from_hash: str | None
    to_hash: str
    why: str


@dataclass(frozen=True)
class Identity:
    id: str
    created: str
    current: str
    forked_from: str | None


class Lineages:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # the pointer is the commit point of a switch
        for statement in _SCHEMA:
            self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    def _write(self, statements: list[tuple[str, tuple[object, ...]]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                self.db.execute(sql, args)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -- reading -------------------------------------------------------------------------------------
    def identity(self, identity: str) -> Identity | None:
        row = self.db.execute("SELECT id, created, current, forked_from FROM identities WHERE id = ?",
                              (identity,)).fetchone()
        return Identity(*row) if row else None

    def version(self, code_hash: str) -> Version | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM versions WHERE code_hash = ?", (code_hash,)).fetchone()
        return _version(row) if row else None

    def versions(self, identity: str) -> list[Version]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM versions WHERE identity = ? ORDER BY seq",
                               (identity,))
        return [_version(row) for row in rows]

    def moves(self, identity: str) -> list[Move]:
        rows = self.db.execute("SELECT at, from_hash, to_hash, why FROM moves WHERE identity = ? ORDER BY id",
                               (identity,))
        return [Move(*row) for row in rows]

    # -- changing ------------------------------------------------------------------------------------
    def create(self, code_hash: str, shape: Shape, *, forked_from: str | None = None,
               parent: str | None = None, how: str = "created", added: str | None = None) -> Version:
        """A new identity whose first version is `code_hash`."""
        identity, at = identity_for(code_hash), added or now()
        self._write([
            ("INSERT INTO identities (id, created, current, forked_from) VALUES (?, ?, ?, ?)",
             (identity, at, code_hash, forked_from)),
            ("INSERT INTO versions (identity, seq, code_hash, parent, added, how, shape, mapping) "
             "VALUES (?, 1, ?, ?, ?, ?, ?, '{}')",
             (identity, code_hash, parent, at, how, _dumps(shape.to_json()))),
            ("INSERT INTO moves (identity, at, from_hash, to_hash, why) VALUES (?, ?, NULL, ?, ?)",
             (identity, at, code_hash, how)),
        ])
        found = self.version(code_hash)
        assert found is not None
        return found

    def append(self, identity: str, code_hash: str, parent: str | None, how: str, shape: Shape,
               mapping: Mapping, added: str | None = None) -> Version:
        """The identity's next version (it does not become current: `point` does that)."""
        self._write([(
            "INSERT INTO versions (identity, seq, code_hash, parent, added, how, shape, mapping) VALUES "
            "(?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE identity = ?), ?, ?, ?, ?, ?, ?)",
            (identity, identity, code_hash, parent, added or now(), how, _dumps(shape.to_json()),
             _dumps(mapping.to_json())))])
        found = self.version(code_hash)
        assert found is not None
        return found

    def point(self, identity: str, code_hash: str, why: str) -> None:
        """Make `code_hash` the identity's current version: the commit point of a switch."""
        known = self.identity(identity)
        if known is None or known.current == code_hash:
            return
        self._write([
            ("UPDATE identities SET current = ? WHERE id = ?", (code_hash, identity)),
            ("INSERT INTO moves (identity, at, from_hash, to_hash, why) VALUES (?, ?, ?, ?, ?)",
             (identity, now(), known.current, code_hash, why)),
        ])


_COLUMNS = "identity, seq, code_hash, parent, added, how, shape, mapping"


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _version(row: tuple[str, int, str, str | None, str, str, str, str]) -> Version:
    identity, seq, code_hash, parent, added, how, shape, mapping = row
    return Version(identity, seq, code_hash, parent, added, how, Shape.from_json(json.loads(shape)),
                   Mapping.parse(json.loads(mapping) or None))
