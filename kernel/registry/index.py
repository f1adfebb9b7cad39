"""The SQLite index of the registry (sqlite-utils, WAL, FTS5 over prompts). It is derived from the
git history: `synced_head` records which commit it reflects, and Registry re-syncs when they differ.
An index of another schema is dropped and rebuilt from git, which is always possible."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from .record import Record
from .similarity import terms
from .statements import Audit, Rating, Rotation

SCHEMA = "3"
APPS: dict[str, type] = {
    "code_hash": str, "prompt": str, "code": str, "model": str, "capabilities": str, "optional": str,
    "generated_at": str, "parent": str, "signed_by": str, "signature": str, "blob": str, "origin": str,
    "terms": str,  # similarity.terms(prompt), computed once here rather than on every search
}
TABLES: dict[str, dict[str, type]] = {
    "ratings": {"path": str, "app": str, "by": str, "stars": float, "at": str, "signature": str, "blob": str},
    "audits": {"path": str, "app": str, "by": str, "audited": int, "note": str, "at": str, "signature": str,
               "blob": str},
    "rotations": {"path": str, "old": str, "new": str, "at": str, "signature": str, "blob": str},
    "removed": {"path": str, "app": str, "blob": str},
}
LOCAL = "local"  # the origin of an app made (or imported) on this node


class Candidate(NamedTuple):
    digest: str
    prompt: str
    terms: set[str]
    signer: str
    origin: str


@dataclass
class Changes:
    """What one sync writes: rows keyed by code hash (apps) or by git path (everything else)."""
    apps: dict[str, tuple[Record, str, str]] = field(default_factory=dict)  # hash -> (record, blob, origin)
    statements: dict[str, tuple[Rating | Audit | Rotation, str]] = field(default_factory=dict)  # path ->
    removed: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (code hash, blob)
    deleted_apps: list[str] = field(default_factory=list)
    deleted_paths: list[str] = field(default_factory=list)


class Index:
    def __init__(self, path: Path) -> None:
        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing
        if self._schema() != SCHEMA:
            self._create()

    def _schema(self) -> str | None:
        if "meta" not in self.db.table_names():
            return None
        row = self.db.execute("select value from meta where key = 'schema'").fetchone()
        return row[0] if row else None

    def _create(self) -> None:
        with self.db.conn:
            self.db.execute("drop table if exists apps_fts")  # takes its shadow tables with it
            for name in self.db.table_names():
                self.db.execute(f"drop table if exists [{name}]")
            self.db.table("apps").create(APPS, pk="code_hash", not_null={"prompt", "code", "model"})
            self.db.table("apps").enable_fts(["prompt"], create_triggers=True, tokenize="porter")
            for name, columns in TABLES.items():
                self.db.table(name).create(columns, pk="path")
            self.db.table("ratings").create_index(["app"])
            self.db.table("audits").create_index(["app"])
            self.db.table("removed").create_index(["app"], unique=True)
            self.db.table("meta").create({"key": str, "value": str}, pk="key")
            self.db.table("meta").insert({"key": "schema", "value": SCHEMA})

    def close(self) -> None:
        self.db.close()

    @property
    def synced_head(self) -> str | None:
        row = self.db.execute("select value from meta where key = 'head'").fetchone()
        return row[0] if row else None

    def apply(self, changes: Changes, head: str, *, reset: bool = False) -> None:
        """One transaction: rows (with the git blob each came from) and the head they now reflect.
        `reset` empties every table first (a rebuild from git)."""
        with self.db.conn:
            if reset:
                for name in ("apps", *TABLES):
                    self.db.execute(f"delete from [{name}]")
            for digest in changes.deleted_apps:
                self.db.execute("delete from apps where code_hash = ?", [digest])
            for path in changes.deleted_paths:
                for name in TABLES:
                    self.db.execute(f"delete from [{name}] where path = ?", [path])
            if changes.apps:
                rows = [_row(record, blob, origin) for record, blob, origin in changes.apps.values()]
                self.db.table("apps").upsert_all(rows, pk="code_hash")
            by_table: dict[str, list[dict[str, Any]]] = {"ratings": [], "audits": [], "rotations": []}
            for path, (statement, blob) in changes.statements.items():
                table = {"rating": "ratings", "audit": "audits", "key-rotation": "rotations"}[statement.kind]
                by_table[table].append(_statement_row(path, statement, blob))
            for table, rows in by_table.items():
                if rows:
                    self.db.table(table).upsert_all(rows, pk="path")
            if changes.removed:
                removed = [{"path": path, "app": app, "blob": blob}
                           for path, (app, blob) in changes.removed.items()]
                self.db.table("removed").upsert_all(removed, pk="path")
            self.db.table("meta").upsert({"key": "head", "value": head}, pk="key")

    # -- apps ----------------------------------------------------------------------------------------
    def blobs(self) -> dict[str, str]:
        return dict(self.db.execute("select code_hash, blob from apps").fetchall())

    def app_blobs(self, digests: Iterable[str]) -> dict[str, str]:
        """code hash -> blob, for those of `digests` that are here (cost follows len(digests))."""
        return dict(self._in("select code_hash, blob from apps where code_hash in ({})", list(digests)))

    def get(self, digest: str) -> Record | None:
        rows = list(self.db["apps"].rows_where("code_hash = ?", [digest]))
        return _record(rows[0]) if rows else None

    def origin(self, digest: str) -> str | None:
        row = self.db.execute("select origin from apps where code_hash = ?", [digest]).fetchone()
        return row[0] if row else None

    def resolve(self, prefix: str) -> list[str]:
        """Full hashes starting with `prefix` (with or without 'sha256:')."""
        digest = prefix if prefix.startswith("sha256:") else "sha256:" + prefix
        # A range on the primary key, not LIKE (which SQLite cannot serve from the index here): this
        # runs for every get(), and a scan costs ~10 ms at 100,000 apps.
        return [row[0] for row in self.db.execute(
            "select code_hash from apps where code_hash >= ? and code_hash < ? order by code_hash limit 5",
            [digest, digest + "\U0010ffff"])]

    def all(self, limit: int | None = None) -> list[Record]:
        sql = "select * from apps order by generated_at desc, code_hash"
        rows = self.db.query(sql + (f" limit {int(limit)}" if limit else ""))
        return [_record(row) for row in rows]

    def candidates(self, match: str, limit: int) -> list[Candidate]:
        """The first `limit` FTS5 matches. Unranked: bm25 costs more per row than re-scoring in
        Python, and the caller's tiers keep the match sets small."""
        rows = self.db.execute(
            "select apps.code_hash, apps.prompt, apps.terms, apps.signed_by, apps.origin from apps_fts "
            "join apps on apps.rowid = apps_fts.rowid where apps_fts match ? limit ?", [match, limit])
        return [Candidate(row[0], row[1], set((row[2] or "").split()), row[3] or "", row[4] or LOCAL)
                for row in rows]

    def count(self) -> int:
        return self.db["apps"].count

    # -- statements ----------------------------------------------------------------------------------
    def statement_blobs(self, paths: Iterable[str]) -> dict[str, tuple[str, str]]:
        """path -> (blob, at) for the statements among `paths` that are here."""
        wanted = list(paths)
        found: dict[str, tuple[str, str]] = {}
        for table in ("ratings", "audits", "rotations"):
            sql = f"select path, blob, at from {table} where path in ({{}})"
            for path, blob, at in self._in(sql, wanted):
                found[path] = (blob, at)
        return found

    def removed(self, digests: Iterable[str]) -> set[str]:
        return {row[0] for row in self._in("select app from removed where app in ({})", list(digests))}

    def ratings(self, digest: str | None = None) -> list[Rating]:
        where, args = ("where app = ?", [digest]) if digest else ("", [])
        return [Rating(app=r[0], stars=r[1], by=r[2], at=r[3], signature=r[4]) for r in self.db.execute(
            f"select app, stars, by, at, signature from ratings {where} order by at", args)]

    def audits(self, digest: str | None = None) -> list[Audit]:
        where, args = ("where app = ?", [digest]) if digest else ("", [])
        return [Audit(app=r[0], audited=bool(r[1]), note=r[2] or "", by=r[3], at=r[4], signature=r[5])
                for r in self.db.execute(
                    f"select app, audited, note, by, at, signature from audits {where} order by at", args)]

    def audits_of(self, digests: list[str]) -> list[Audit]:
        """The audits of several apps in one query per 500 (cost follows len(digests))."""
        sql = "select app, audited, note, by, at, signature from audits where app in ({})"
        return [Audit(app=r[0], audited=bool(r[1]), note=r[2] or "", by=r[3], at=r[4], signature=r[5])
                for r in self._in(sql, digests)]

    def rotations(self) -> list[Rotation]:
        return [Rotation(old=r[0], new=r[1], at=r[2], signature=r[3]) for r in self.db.execute(
            "select old, new, at, signature from rotations order by at")]

    def _in(self, sql: str, values: list[str]) -> Iterable[tuple[Any, ...]]:
        """Run `sql` with its `in ({})` filled, in batches under SQLite's variable limit."""
        for start in range(0, len(values), 500):
            batch = values[start:start + 500]
            yield from self.db.execute(sql.format(",".join("?" * len(batch))), batch).fetchall()


def _row(record: Record, blob: str, origin: str) -> dict[str, Any]:
    return {
        "code_hash": record.codeHash, "prompt": record.prompt, "code": record.generatedCode,
        "model": record.llmModel, "capabilities": json.dumps(record.capabilities),
        "optional": json.dumps(record.optionalCapabilities), "generated_at": record.generatedAt,
        "parent": record.parent, "signed_by": record.signedBy, "signature": record.signature, "blob": blob,
        "origin": origin, "terms": " ".join(sorted(terms(record.prompt))),
    }


def _statement_row(path: str, statement: Rating | Audit | Rotation, blob: str) -> dict[str, Any]:
    row: dict[str, Any] = {"path": path, "at": statement.at, "signature": statement.signature, "blob": blob}
    if isinstance(statement, Rating):
        row |= {"app": statement.app, "by": statement.by, "stars": float(statement.stars)}
    elif isinstance(statement, Audit):
        row |= {"app": statement.app, "by": statement.by, "audited": int(statement.audited),
                "note": statement.note}
    else:
        row |= {"old": statement.old, "new": statement.new}
    return row


def _record(row: dict[str, Any]) -> Record:
    return Record(
        prompt=row["prompt"], generatedCode=row["code"], codeHash=row["code_hash"], llmModel=row["model"],
        capabilities=json.loads(row["capabilities"] or "[]"),
        optionalCapabilities=json.loads(row["optional"] or "[]"),
        generatedAt=row["generated_at"] or "", parent=row["parent"], signedBy=row["signed_by"] or "",
        signature=row["signature"] or "",
    )
