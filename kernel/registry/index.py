"""The SQLite index of the registry (WAL, FTS5 over prompts, plain sqlite3). It is derived from the
git history: `synced_head` records which commit it reflects, and Registry re-syncs when they differ.
An index of another schema is dropped and rebuilt from git, which is always possible.

Search reads posting bitmaps (table `postings`): for each FTS5 token, one bitmap of the apps' rowids
per block of BLOCK rowids, kept in the same transaction as the rows. "At least m of these words" is
then a few dozen integer operations per block, where FTS5 had to walk every word's doclist: with
100,000 apps and four common words, ruling out three-of-four matches took FTS5 ~1.5 ms, the bitmaps
~0.4 ms with the rows they find."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .record import Record
from .similarity import terms, tier_query
from .statements import Audit, Rating, Rotation

SCHEMA = "4"
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
META: dict[str, type] = {"key": str, "value": str}
SQL_TYPES = {str: "TEXT", float: "REAL", int: "INTEGER"}
LOCAL = "local"  # the origin of an app made (or imported) on this node
BLOCK = 4096  # rowids per posting bitmap: at most 512 bytes each, ~25 per common word at 100,000 apps
TOKENIZER = "porter"  # apps_fts's, and the postings' (they must agree for search to find what MATCH does)


class SearchHit(NamedTuple):
    """One app full-text search found, before the registry re-scores it (similarity.py)."""

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
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=wal")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing
        if self._schema() != SCHEMA:
            self._create()
        # FTS5's own tokenizer, on a private in-memory connection, so postings hold exactly the tokens
        # MATCH compares (its porter stemmer has no Python twin) without touching this one's transactions.
        self._tokenizer = sqlite3.connect(":memory:", isolation_level=None)
        self._tokenizer.execute(f"create virtual table prompts using fts5(prompt, tokenize='{TOKENIZER}', "
                                "content='', columnsize=0, detail=column)")  # keeps only which tokens
        self._tokenizer.execute("create virtual table tokens using fts5vocab(prompts, instance)")
        self._word_tokens: dict[str, str | None] = {}  # query word -> its one token (None: not one)

    def _tables(self) -> list[str]:
        return [row[0] for row in self.db.execute("select name from sqlite_master where type = 'table'")]

    def _schema(self) -> str | None:
        if "meta" not in self._tables():
            return None
        row = self.db.execute("select value from meta where key = 'schema'").fetchone()
        return row[0] if row else None

    def _create(self) -> None:
        with self.db:
            self.db.execute("drop table if exists apps_fts")  # takes its shadow tables with it
            for name in self._tables():
                self.db.execute(f"drop table if exists [{name}]")
            self.db.execute(_create_table("apps", APPS, "code_hash", not_null=("prompt", "code", "model")))
            # apps_fts indexes the prompts, kept in step by triggers (an external-content FTS5 table)
            self.db.execute(f"create virtual table apps_fts using fts5(prompt, tokenize='{TOKENIZER}', "
                            "content='apps')")
            self.db.execute("create trigger apps_ai after insert on apps begin insert into apps_fts "
                            "(rowid, prompt) values (new.rowid, new.prompt); end")
            self.db.execute("create trigger apps_ad after delete on apps begin insert into apps_fts "
                            "(apps_fts, rowid, prompt) values ('delete', old.rowid, old.prompt); end")
            self.db.execute("create trigger apps_au after update on apps begin insert into apps_fts "
                            "(apps_fts, rowid, prompt) values ('delete', old.rowid, old.prompt); "
                            "insert into apps_fts (rowid, prompt) values (new.rowid, new.prompt); end")
            self.db.execute("create table postings (term text not null, block integer not null, "
                            "bits blob not null, primary key (term, block)) without rowid")
            for name, columns in TABLES.items():
                self.db.execute(_create_table(name, columns, "path"))
            self.db.execute("create index idx_ratings_app on ratings (app)")
            self.db.execute("create index idx_audits_app on audits (app)")
            self.db.execute("create unique index idx_removed_app on removed (app)")
            self.db.execute(_create_table("meta", META, "key"))
            self.db.execute("insert into meta (key, value) values ('schema', ?)", [SCHEMA])

    def _upsert(self, table: str, columns: dict[str, type], key: str, rows: list[dict[str, Any]]) -> None:
        """Insert the rows, or update those whose `key` is here already: in place, so an app keeps its
        rowid (the postings' bitmaps are by rowid)."""
        names = list(columns)
        updates = ", ".join(f"[{name}] = excluded.[{name}]" for name in names if name != key)
        self.db.executemany(f"insert into [{table}] ({', '.join(f'[{n}]' for n in names)}) values "
                            f"({', '.join('?' * len(names))}) on conflict ([{key}]) do update set {updates}",
                            [[row[name] for name in names] for row in rows])

    def close(self) -> None:
        self.db.close()
        self._tokenizer.close()

    @property
    def synced_head(self) -> str | None:
        row = self.db.execute("select value from meta where key = 'head'").fetchone()
        return row[0] if row else None

    def apply(self, changes: Changes, head: str, *, reset: bool = False) -> None:
        """One transaction: rows (with the git blob each came from) and the head they now reflect.
        `reset` empties every table first (a rebuild from git)."""
        with self.db:
            if reset:
                for name in ("apps", "postings", *TABLES):
                    self.db.execute(f"delete from [{name}]")
            touched = [*changes.apps, *changes.deleted_apps]
            before = {} if reset else self._prompts(touched)
            for digest in changes.deleted_apps:
                self.db.execute("delete from apps where code_hash = ?", [digest])
            for path in changes.deleted_paths:
                for name in TABLES:
                    self.db.execute(f"delete from [{name}] where path = ?", [path])
            if changes.apps:
                rows = [_row(record, blob, origin) for record, blob, origin in changes.apps.values()]
                self._upsert("apps", APPS, "code_hash", rows)
            self._post(before, self._prompts(list(changes.apps)), empty=reset)
            by_table: dict[str, list[dict[str, Any]]] = {"ratings": [], "audits": [], "rotations": []}
            for path, (statement, blob) in changes.statements.items():
                table = {"rating": "ratings", "audit": "audits", "key-rotation": "rotations"}[statement.kind]
                by_table[table].append(_statement_row(path, statement, blob))
            for table, rows in by_table.items():
                if rows:
                    self._upsert(table, TABLES[table], "path", rows)
            if changes.removed:
                removed = [{"path": path, "app": app, "blob": blob}
                           for path, (app, blob) in changes.removed.items()]
                self._upsert("removed", TABLES["removed"], "path", removed)
            self._upsert("meta", META, "key", [{"key": "head", "value": head}])

    # -- apps ----------------------------------------------------------------------------------------
    def blobs(self) -> dict[str, str]:
        return dict(self.db.execute("select code_hash, blob from apps").fetchall())

    def app_blobs(self, digests: Iterable[str]) -> dict[str, str]:
        """code hash -> blob, for those of `digests` that are here (cost follows len(digests))."""
        return dict(self._in("select code_hash, blob from apps where code_hash in ({})", list(digests)))

    def get(self, digest: str) -> Record | None:
        rows = self._rows("select * from apps where code_hash = ?", [digest])
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
        return [_record(row) for row in self._rows(sql + (f" limit {int(limit)}" if limit else ""), [])]

    def _rows(self, sql: str, args: list[Any]) -> list[sqlite3.Row]:
        """The rows, readable by column name."""
        cursor = self.db.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, args).fetchall()

    def candidates(self, match: str, limit: int) -> list[SearchHit]:
        """The first `limit` FTS5 matches. Unranked: bm25 costs more per row than re-scoring in
        Python, and the caller's tiers keep the match sets small."""
        rows = self.db.execute(
            "select apps.code_hash, apps.prompt, apps.terms, apps.signed_by, apps.origin from apps_fts "
            "join apps on apps.rowid = apps_fts.rowid where apps_fts match ? limit ?", [match, limit])
        return [SearchHit(row[0], row[1], set((row[2] or "").split()), row[3] or "", row[4] or LOCAL)
                for row in rows]

    def holding(self, words: list[str], at_least: int, limit: int) -> list[SearchHit]:
        """The first `limit` apps whose prompts hold at least `at_least` of `words`, in rowid order:
        exactly what candidates(tier_query(words, at_least), limit) finds (every word counts, even two
        with one token, as in the MATCH), read from the posting bitmaps. Its cost follows the blocks
        the words occur in (at most len(words) x apps / BLOCK rows of 512 bytes), not the apps that
        hold them."""
        tokens = self._query_tokens(words)
        if tokens is None:  # a word FTS5 reads as other than one token: let MATCH decide
            return self.candidates(tier_query(words, at_least) or "", limit)
        if not 1 <= at_least <= len(tokens) or limit <= 0:
            return []
        unique = sorted(set(tokens))
        owned = not self.db.in_transaction
        if owned:  # postings and rows from one snapshot, as one MATCH would read them
            self.db.execute("begin")
        try:
            postings = self.db.execute("select block, term, bits from postings where term in "
                                       f"({','.join('?' * len(unique))}) order by block", unique)
            rowids: list[int] = []
            for block, group in itertools.groupby(postings, key=lambda row: int(row[0])):
                held = {term: _decode(data) for _, term, data in group}
                hits = _at_least([held.get(token, 0) for token in tokens], at_least)
                digits = bin(hits)[:1:-1] if hits else ""  # digits[i] is bit i
                at = digits.find("1")
                while at >= 0 and len(rowids) < limit:
                    rowids.append(block * BLOCK + at)
                    at = digits.find("1", at + 1)
                if len(rowids) >= limit:
                    break
            postings.close()  # the later blocks are not needed
            sql = "select rowid, code_hash, prompt, terms, signed_by, origin from apps where rowid in ({})"
            rows = {row[0]: row for row in self._in(sql, rowids)}
        finally:
            if owned:
                self.db.commit()
        return [SearchHit(row[1], row[2], set((row[3] or "").split()), row[4] or "", row[5] or LOCAL)
                for row in (rows.get(rowid) for rowid in rowids) if row]

    def _query_tokens(self, words: list[str]) -> list[str] | None:
        """Each word's FTS5 token, or None if some word is not exactly one token."""
        missing = [word for word in dict.fromkeys(words) if word not in self._word_tokens]
        if missing:
            if len(self._word_tokens) > 10_000:
                self._word_tokens.clear()
            found: dict[int, list[str]] = {n: [] for n in range(len(missing))}
            for token, keys in self._tokenize(dict(enumerate(missing))):
                for n in keys:
                    found[n].append(token)
            for n, word in enumerate(missing):
                self._word_tokens[word] = found[n][0] if len(found[n]) == 1 else None
        tokens = [self._word_tokens[word] for word in words]
        return None if any(token is None for token in tokens) else [t for t in tokens if t is not None]

    def _tokenize(self, texts: dict[int, str]) -> Iterator[tuple[str, list[int]]]:
        """(token, the keys of the texts holding it) for each token FTS5 indexes in `texts`."""
        items = list(texts.items())
        for start in range(0, len(items), 5000):
            with self._tokenizer:  # one transaction: FTS5 writes its index once
                self._tokenizer.execute("begin")
                self._tokenizer.executemany("insert into prompts(rowid, prompt) values (?, ?)",
                                            items[start:start + 5000])
            held = self._tokenizer.execute(
                "select term, group_concat(doc) from tokens group by term").fetchall()
            self._tokenizer.execute("insert into prompts(prompts) values ('delete-all')")
            for token, keys in held:
                yield token, [int(key) for key in keys.split(",")]

    def _prompts(self, digests: list[str]) -> dict[int, str]:
        return dict(self._in("select rowid, prompt from apps where code_hash in ({})", digests))

    def _post(self, before: dict[int, str], after: dict[int, str], *, empty: bool = False) -> None:
        """Bring the postings from `before` to `after` (rowid -> prompt, for the apps a change touched);
        `empty`: there are none yet (a rebuild), so none are read."""
        unchanged = {rowid for rowid, prompt in after.items() if before.get(rowid) == prompt}
        masks: dict[tuple[str, int], list[int]] = {}  # (token, block) -> [bits to clear, bits to set]
        for side, prompts in enumerate((before, after)):
            texts = {rowid: prompt for rowid, prompt in prompts.items() if rowid not in unchanged}
            for token, rowids in self._tokenize(texts):
                for rowid in rowids:
                    block, bit = divmod(rowid, BLOCK)
                    masks.setdefault((token, block), [0, 0])[side] |= 1 << bit
        kept, emptied = [], []
        for (token, block), (clear, add) in masks.items():
            row = None if empty else self.db.execute(
                "select bits from postings where term = ? and block = ?", [token, block]).fetchone()
            bits = ((_decode(row[0]) if row else 0) & ~clear) | add
            if bits:
                kept.append((token, block, _encode(bits)))
            elif row:
                emptied.append((token, block))
        self.db.executemany("insert or replace into postings (term, block, bits) values (?, ?, ?)", kept)
        self.db.executemany("delete from postings where term = ? and block = ?", emptied)

    def count(self) -> int:
        return int(self.db.execute("select count(*) from apps").fetchone()[0])

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

    def _in(self, sql: str, values: list[Any]) -> Iterable[tuple[Any, ...]]:
        """Run `sql` with its `in ({})` filled, in batches under SQLite's variable limit."""
        for start in range(0, len(values), 500):
            batch = values[start:start + 500]
            yield from self.db.execute(sql.format(",".join("?" * len(batch))), batch).fetchall()


def _at_least(bitmaps: list[int], wanted: int) -> int:
    """The bits set in at least `wanted` of `bitmaps`: held[k] is "in k or more of those seen so far"."""
    held = [-1] + [0] * wanted  # -1: every bit set
    for seen, bits in enumerate(bitmaps, 1):
        for k in range(min(seen, wanted), 0, -1):
            held[k] |= held[k - 1] & bits
    return held[wanted]


def _encode(bits: int) -> bytes:
    """A block's bitmap as (2 bytes: its first non-zero byte, then the bytes from there to the last)."""
    start = ((bits & -bits).bit_length() - 1) // 8
    rest = bits >> (8 * start)
    return start.to_bytes(2, "little") + rest.to_bytes((rest.bit_length() + 7) // 8, "little")


def _decode(data: bytes) -> int:
    return int.from_bytes(data[2:], "little") << (8 * int.from_bytes(data[:2], "little"))


def _create_table(name: str, columns: dict[str, type], key: str, not_null: tuple[str, ...] = ()) -> str:
    fields = ", ".join(f"[{column}] {SQL_TYPES[kind]}{' primary key' if column == key else ''}"
                       f"{' not null' if column in not_null else ''}" for column, kind in columns.items())
    return f"create table [{name}] ({fields})"


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


def _record(row: sqlite3.Row) -> Record:
    return Record(
        prompt=row["prompt"], generatedCode=row["code"], codeHash=row["code_hash"], llmModel=row["model"],
        capabilities=json.loads(row["capabilities"] or "[]"),
        optionalCapabilities=json.loads(row["optional"] or "[]"),
        generatedAt=row["generated_at"] or "", parent=row["parent"], signedBy=row["signed_by"] or "",
        signature=row["signature"] or "",
    )
