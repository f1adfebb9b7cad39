"""The SQLite index of the registry (sqlite-utils, WAL, FTS5 over prompts). It is derived from the
git history: `synced_head` records which commit it reflects, and Registry re-syncs when they differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils

from .record import Record

COLUMNS = {
    "code_hash": str, "prompt": str, "code": str, "model": str, "capabilities": str, "optional": str,
    "rating": float, "audited": int, "generated_at": str, "parent": str, "signed_by": str,
    "signature": str, "blob": str,
}


class Index:
    def __init__(self, path: Path) -> None:
        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing
        if "apps" not in self.db.table_names():
            with self.db.conn:
                self.db["apps"].create(COLUMNS, pk="code_hash", not_null={"prompt", "code", "model"})
                self.db["apps"].enable_fts(["prompt"], create_triggers=True, tokenize="porter")
                self.db["meta"].create({"key": str, "value": str}, pk="key")

    def close(self) -> None:
        self.db.close()

    @property
    def synced_head(self) -> str | None:
        row = self.db.execute("select value from meta where key = 'head'").fetchone()
        return row[0] if row else None

    def apply(self, upserts: dict[str, tuple[Record, str]], deletes: list[str], head: str) -> None:
        """One transaction: rows (with the git blob they came from) and the head they now reflect."""
        with self.db.conn:
            table = self.db["apps"]
            for digest in deletes:
                table.delete_where("code_hash = ?", [digest])
            if upserts:
                table.upsert_all([_row(record, blob) for record, blob in upserts.values()], pk="code_hash")
            self.db["meta"].upsert({"key": "head", "value": head}, pk="key")

    def blobs(self) -> dict[str, str]:
        return dict(self.db.execute("select code_hash, blob from apps").fetchall())

    def get(self, digest: str) -> Record | None:
        rows = list(self.db["apps"].rows_where("code_hash = ?", [digest]))
        return _record(rows[0]) if rows else None

    def resolve(self, prefix: str) -> list[str]:
        """Full hashes starting with `prefix` (with or without 'sha256:')."""
        digest = prefix if prefix.startswith("sha256:") else "sha256:" + prefix
        escaped = digest.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [row[0] for row in self.db.execute(
            "select code_hash from apps where code_hash like ? escape '\\' limit 5", [escaped + "%"])]

    def all(self, limit: int | None = None) -> list[Record]:
        sql = "select * from apps order by generated_at desc, code_hash"
        rows = self.db.query(sql + (f" limit {int(limit)}" if limit else ""))
        return [_record(row) for row in rows]

    def candidates(self, match: str, limit: int) -> list[tuple[str, str]]:
        """(code hash, prompt) of the best FTS5 matches, bm25 order."""
        return [(row[0], row[1]) for row in self.db.execute(
            "select apps.code_hash, apps.prompt from apps_fts join apps on apps.rowid = apps_fts.rowid "
            "where apps_fts match ? order by rank limit ?", [match, limit])]

    def count(self) -> int:
        return self.db["apps"].count


def _row(record: Record, blob: str) -> dict[str, Any]:
    return {
        "code_hash": record.codeHash, "prompt": record.prompt, "code": record.generatedCode,
        "model": record.llmModel, "capabilities": json.dumps(record.capabilities),
        "optional": json.dumps(record.optionalCapabilities), "rating": record.rating,
        "audited": int(record.audited), "generated_at": record.generatedAt, "parent": record.parent,
        "signed_by": record.signedBy, "signature": record.signature, "blob": blob,
    }


def _record(row: dict[str, Any]) -> Record:
    return Record(
        prompt=row["prompt"], generatedCode=row["code"], codeHash=row["code_hash"], llmModel=row["model"],
        capabilities=json.loads(row["capabilities"] or "[]"),
        optionalCapabilities=json.loads(row["optional"] or "[]"),
        rating=row["rating"], audited=bool(row["audited"]), generatedAt=row["generated_at"] or "",
        parent=row["parent"], signedBy=row["signed_by"] or "", signature=row["signature"] or "",
    )
