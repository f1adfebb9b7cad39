"""The app registry: signed, content-addressed records in a git history (dulwich) with a SQLite
index (sqlite-utils, FTS5) for lookup.

Write order, for crash safety: take the registry lock, write git objects, move the git ref (the
commit point), then update SQLite and its `synced head` in one transaction. On open, and before every
write, the index is reconciled with git, so a process killed anywhere loses no committed change."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos import paths
from llmos.settings import RegistrySettings, default_of

from . import keys
from .history import History, remove_stale_locks
from .index import Index
from .record import MAX_PROMPT_CHARS, Record, RecordError, code_hash
from .similarity import fts_query, score

__all__ = ["BundleError", "Match", "NotFound", "Record", "RecordError", "Registry", "code_hash"]

BUNDLE_FORMAT = "llmos-registry-bundle"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
DEFAULT_OFFER_THRESHOLD: float = default_of(RegistrySettings, "offer_threshold")


class NotFound(LookupError):
    pass


class BundleError(ValueError):
    """The bundle was refused as a whole; nothing was imported."""


@dataclass(frozen=True)
class Match:
    codeHash: str
    prompt: str
    score: float


class Registry:
    def __init__(self, root: Path | None = None, *, offer_threshold: float = DEFAULT_OFFER_THRESHOLD) -> None:
        self.root = root or paths.state_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.offer_threshold = offer_threshold
        self.key = keys.NodeKey.load_or_create(self.root / "keys")
        self._lock_path = self.root / "registry.lock"
        with self._locked():
            self.history = History(self.root / "registry.git")
            self.index = Index(self.root / "registry.db")
            self._reconcile()

    @classmethod
    def open(cls, root: Path | None = None) -> Registry:
        from llmos import config

        return cls(root, offer_threshold=config.load().settings.registry.offer_threshold)

    def close(self) -> None:
        self.index.close()
        self.history.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- consistency ---------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes; the kernel drops a flock when its holder dies."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _reconcile(self) -> None:
        """Bring SQLite to the git head (git is the record of truth). Caller holds the lock."""
        remove_stale_locks(Path(self.history.repo.controldir()))
        head = self.history.head()
        if head is None or head.decode() == self.index.synced_head:
            return
        in_git = self.history.entries(head)
        in_index = self.index.blobs()
        upserts = {}
        for digest, blob in in_git.items():
            if in_index.get(digest) != blob.decode():
                record = Record.from_json(json.loads(self.history.read(blob)), f"registry.git:{digest}")
                upserts[digest] = (record, blob.decode())
        deletes = [digest for digest in in_index if digest not in in_git]
        self.index.apply(upserts, deletes, head.decode())

    def _write(self, changes: dict[str, Record | None], message: str) -> None:
        with self._locked():
            self._reconcile()
            signed = {digest: self._sign(record) if record else None for digest, record in changes.items()}
            commit, blobs = self.history.commit(
                {digest: record.dumps() if record else None for digest, record in signed.items()}, message)
            upserts = {d: (r, blobs[d].decode()) for d, r in signed.items() if r is not None}
            deletes = [d for d, r in signed.items() if r is None]
            self.index.apply(upserts, deletes, commit.decode())

    def _sign(self, record: Record) -> Record:
        unsigned = record.with_changes(signedBy=self.key.public_hex)
        return unsigned.with_changes(signature=self.key.sign(unsigned.canonical()))

    def verify(self, record: Record) -> Record:
        """Reject a record whose code does not match its hash, or that this node did not sign."""
        record.check_hash()
        if record.signedBy != self.key.public_hex:
            raise RecordError(f"{record.short}: not signed by this node's key (tampered)")
        if not keys.verify(record.signedBy, record.signature, record.canonical()):
            raise RecordError(f"{record.short}: bad signature (tampered)")
        return record

    # -- reading -------------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """A full code hash from a hash or a unique prefix of one."""
        found = self.index.resolve(ref.strip())
        if not found:
            raise NotFound(f"no app {ref!r} in the registry")
        if len(found) > 1:
            raise NotFound(f"{ref!r} is ambiguous: {', '.join(h[7:19] for h in found)}")
        return found[0]

    def get(self, ref: str) -> Record:
        record = self.index.get(self.resolve(ref))
        if record is None:
            raise NotFound(f"no app {ref!r} in the registry")
        return self.verify(record)

    def list(self, limit: int | None = None) -> list[Record]:
        """Every record, newest first, unverified: callers that run code use get()."""
        return self.index.all(limit)

    def search(self, prompt: str, limit: int = 5) -> list[Match]:
        """Candidates ranked by similarity (0..1) to `prompt`, best first."""
        match = fts_query(prompt)
        if match is None:
            return []
        candidates = self.index.candidates(match, 50)
        found = [Match(digest, text, score(prompt, text)) for digest, text in candidates]
        found.sort(key=lambda m: (-m.score, m.codeHash))
        return found[:limit]

    def lookup(self, prompt: str) -> Match | None:
        """The cached app to offer for `prompt`, if one is similar enough."""
        best = self.search(prompt, 1)
        return best[0] if best and best[0].score >= self.offer_threshold else None

    def history_log(self, limit: int = 50) -> list[tuple[str, str]]:
        return [(commit.decode(), message) for commit, message in self.history.log(limit)]

    def __len__(self) -> int:
        return self.index.count()

    # -- changing ------------------------------------------------------------------------------------
    def add(self, prompt: str, code: str, model: str, capabilities: list[str], *,
            optional: list[str] | tuple[str, ...] = (), parent: str | None = None, audited: bool = False,
            message: str | None = None) -> Record:
        """Save an app. The same code is stored once: adding it again returns the existing record."""
        digest = self.add_many([{"prompt": prompt, "generatedCode": code, "llmModel": model,
                                 "capabilities": capabilities, "optionalCapabilities": list(optional),
                                 "parent": parent, "audited": audited}], message=message)[0]
        return self.get(digest)

    def add_many(self, items: list[dict[str, Any]], message: str | None = None) -> list[str]:
        """Save several apps in one commit; returns their hashes (existing ones are left as they are)."""
        new: dict[str, Record] = {}
        digests = []
        for item in items:
            prompt = _check_prompt(item["prompt"])
            record = Record.new(prompt, item["generatedCode"], item["llmModel"], item.get("capabilities", []),
                                optionalCapabilities=sorted(set(item.get("optionalCapabilities") or ())),
                                parent=item.get("parent"), audited=bool(item.get("audited", False)),
                                rating=item.get("rating"), generatedAt=item.get("generatedAt"))
            digests.append(record.codeHash)
            if self.index.get(record.codeHash) is None:
                new[record.codeHash] = record
        if new:
            first = next(iter(new.values()))
            self._write(new, message or f"Add {first.short}: {first.prompt[:60]}"
                        + (f" (+{len(new) - 1} more)" if len(new) > 1 else ""))
        return digests

    def fork(self, ref: str, code: str, model: str, *, prompt: str | None = None,
             capabilities: list[str] | None = None, optional: list[str] | None = None) -> Record:
        parent = self.get(ref)
        if code_hash(code) == parent.codeHash:
            raise RecordError("a fork must change the code; this is the same app")
        return self.add(prompt or parent.prompt, code, model,
                        parent.capabilities if capabilities is None else capabilities,
                        optional=parent.optionalCapabilities if optional is None else optional,
                        parent=parent.codeHash, message=f"Fork {parent.short}")

    def _update(self, ref: str, message: str, **changes: Any) -> Record:
        record = self.get(ref).with_changes(**changes)
        self._write({record.codeHash: record}, f"{message} {record.short}")
        return self.get(record.codeHash)

    def rate(self, ref: str, stars: float) -> Record:
        if not 0 <= stars <= 5:
            raise ValueError("a rating is between 0 and 5 stars")
        return self._update(ref, f"Rate {stars:g} stars:", rating=float(stars))

    def audit(self, ref: str, audited: bool = True) -> Record:
        return self._update(ref, "Audit" if audited else "Unaudit", audited=audited)

    def rm(self, ref: str) -> None:
        digest = self.resolve(ref)
        self._write({digest: None}, f"Remove {digest[7:19]}")

    # -- bundles -------------------------------------------------------------------------------------
    def export(self, refs: list[str], path: Path) -> int:
        records = [self.get(ref).to_json() for ref in refs] if refs else [
            self.verify(r).to_json() for r in self.list()]
        data = json.dumps({"format": BUNDLE_FORMAT, "version": 1, "records": records}, indent=1,
                          ensure_ascii=False).encode("utf-8")
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(data)
        temp.replace(path)
        return len(records)

    def import_bundle(self, path: Path) -> list[str]:
        """Check every record (shape, hash, signature by the key it names) before importing any; one
        bad record refuses the bundle. Imported records are re-signed by this node and not audited:
        an audit is this machine's own judgement."""
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{path}: larger than {MAX_BUNDLE_BYTES} bytes")
        try:
            data = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BundleError(f"{path}: not a JSON bundle: {error}") from None
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT or data.get("version") != 1:
            raise BundleError(f"{path}: not a {BUNDLE_FORMAT} version 1")
        if not isinstance(data.get("records"), list):
            raise BundleError(f"{path}: 'records' must be a list")
        items = []
        for index, raw in enumerate(data["records"]):
            where = f"{path.name}: records[{index}]"
            try:
                record = Record.from_json(raw, where)
                record.check_hash()
            except RecordError as error:
                raise BundleError(str(error)) from None
            if not record.signedBy or not keys.verify(record.signedBy, record.signature, record.canonical()):
                raise BundleError(f"{where} ({record.short}): bad signature; nothing imported")
            items.append({**record.to_json(), "audited": False})
        for item in items:
            item.pop("signature"), item.pop("signedBy"), item.pop("codeHash")
        return self.add_many(items, message=f"Import {len(items)} apps from {path.name}")


def _check_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise RecordError("the prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise RecordError(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    return prompt
