"""The app registry: signed, content-addressed records in a git history (dulwich) with a SQLite
index (FTS5 over the prompts) for lookup, shared with other machines over git remotes (sync.py), with a
trust store deciding whose signatures count (trust.py). docs/registry.md describes it whole.

Write order, for crash safety: take the registry lock, write git objects, move the git ref (the
commit point), then update SQLite and its `synced head` in one transaction. On open, and before every
write, the index is reconciled with git, so a process killed anywhere loses no committed change."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dulwich.objects import ObjectID

from llmos import paths
from llmos.api import AuditBy, Provenance, Signer
from llmos.filelock import flocked
from llmos.settings import RegistrySettings, default_of

from . import bundle, keys, layout, remotes, statements, sync, upgrade
from .bundle import BundleError
from .history import History, remove_stale_locks
from .index import LOCAL, Changes, Index
from .record import MAX_PROMPT_CHARS, Record, RecordError, code_hash
from .remotes import Remote, RemoteError, SyncError, SyncRefused
from .search import Match, ranked
from .sync import PullResult, PushResult
from .trust import TrustedKey, TrustError, TrustStore, trusted_keys

__all__ = ["AuditBy", "BundleError", "Match", "NotFound", "Provenance", "PullResult", "PushResult", "Record",
           "RecordError", "Registry", "Remote", "RemoteError", "Signer", "SyncError", "SyncRefused",
           "TrustError", "TrustedKey", "Untrusted", "code_hash"]

log = logging.getLogger(__name__)

DEFAULT_OFFER_THRESHOLD: float = default_of(RegistrySettings, "offer_threshold")


class NotFound(LookupError):
    pass


class Untrusted(RecordError):
    """The record verifies, but its signer is a key this node does not trust and no trusted key
    audited it: it is never offered as a cached answer, and runs only after an extra confirmation
    (get(ref, allow_untrusted=True))."""


class Registry:
    def __init__(self, root: Path | None = None, *, offer_threshold: float = DEFAULT_OFFER_THRESHOLD) -> None:
        self.root = root or paths.state_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.offer_threshold = offer_threshold
        self.keys_dir = self.root / "keys"
        self.key = keys.NodeKey.load_or_create(self.keys_dir)
        self.trust = TrustStore(self.root / "trust.json")
        self._trusted_cache: tuple[object, dict[str, TrustedKey]] | None = None
        self._key_stamp: int | None = None
        self._lock_path = self.root / "registry.lock"
        with self._locked():
            self.history = History(self.root / "registry.git")
            self.index = Index(self.root / "registry.db")
            self._reconcile()
            if upgrade.upgrade(self.history, self.key):
                self._reconcile()
            self._finish_rotation()
            sync.clear_quarantine(self.root)

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
    def _locked(self) -> AbstractContextManager[None]:
        """One writer at a time across processes; the kernel drops a flock when its holder dies."""
        return flocked(self._lock_path)

    def _reconcile(self, known: dict[bytes, Any] | None = None) -> None:
        """Bring SQLite to the git head (git is the record of truth). Caller holds the lock.

        The git trees of the synced head and the head are diffed, so the cost follows the change;
        without a usable synced head the index is rebuilt from the whole tree. `known` maps blob ids
        to files already parsed (by the write or pull that made them)."""
        remove_stale_locks(Path(self.history.repo.controldir()))
        self._reload_key()
        head = self.history.head()
        synced = self.index.synced_head
        if head is None or head.decode() == synced:
            return
        stored = ObjectID(synced.encode()) if synced else None
        base = stored if stored is not None and stored in self.history.store else None
        known = known or {}
        pulled = self.history.pulled(head, base)
        changes = Changes()
        for change in self.history.changes(base, head):
            old, new = change.old, change.new
            if old is not None and (new is None or new.path != old.path):
                entry = _entry(old.path, old.mode)
                if entry is not None and entry.kind == "app":
                    changes.deleted_apps.append(entry.app or "")
                elif entry is not None:
                    changes.deleted_paths.append(old.path.decode())
            if new is None:
                continue
            entry = _entry(new.path, new.mode)
            if entry is None or entry.kind == "marker":
                continue
            try:
                item = known[new.sha] if new.sha in known else layout.read(entry, self.history.read(new.sha))
            except RecordError as error:
                log.warning("registry.git: skipping %s: %s", new.path.decode(), error)
                continue
            if isinstance(item, Record):
                origin = pulled.get(new.path) or (self.index.origin(item.codeHash) if base else None) or LOCAL
                changes.apps[item.codeHash] = (item, new.sha.decode(), origin)
            elif entry.kind == "removed":
                changes.removed[new.path.decode()] = (entry.app or "", new.sha.decode())
            elif item is not None:
                changes.statements[new.path.decode()] = (item, new.sha.decode())
        self.index.apply(changes, head.decode(), reset=base is None)

    def _reload_key(self) -> None:
        """Another process (`llmos app key rotate`) may have rotated the key: sign with the current one."""
        stamp = (self.keys_dir / keys.KEY_NAME).stat().st_mtime_ns
        if stamp != self._key_stamp:
            if self._key_stamp is not None:
                self.key = keys.NodeKey.load(self.keys_dir / keys.KEY_NAME)
            self._key_stamp = stamp

    def _commit(self, files: dict[bytes, bytes | None], message: str, known: dict[bytes, Any]) -> None:
        """Commit file changes (path -> content, None deletes) and sync the index. Caller holds the lock."""
        _, blobs = self.history.commit(
            files if self.history.head() else {layout.MARKER: layout.marker(), **files}, message)
        self._reconcile({blobs[path]: item for path, item in known.items() if path in blobs})

    def _sign(self, record: Record) -> Record:
        unsigned = record.with_changes(signedBy=self.key.public_hex)
        return unsigned.with_changes(signature=self.key.sign(unsigned.canonical()))

    def _state(self, item: statements.Statement) -> tuple[bytes, bytes, statements.Statement]:
        signed = statements.sign(item, self.key)
        return layout.statement_path(signed), statements.dumps(signed), signed

    def verify(self, record: Record, *, allow_untrusted: bool = False) -> Record:
        """Reject a record whose code does not match its hash or whose signature does not verify; and,
        unless allowed, one that no trusted key signed or audited (Untrusted)."""
        record.check_hash()
        if not record.signedBy or not keys.verify(record.signedBy, record.signature, record.canonical()):
            raise RecordError(f"{record.short}: bad signature (tampered)")
        if not allow_untrusted and not self._vouched(record.codeHash, record.signedBy):
            raise Untrusted(f"{record.short}: signed by {record.signedBy[:16]}…, a key this machine does "
                            "not trust, and audited by no trusted key (untrusted): confirm to run it, or "
                            "`llmos app trust add NAME KEYFILE`")
        return record

    # -- trust ---------------------------------------------------------------------------------------
    def trusted_keys(self) -> dict[str, TrustedKey]:
        """key -> why this node trusts it (its own keys, the trust store, and their rotations)."""
        stamp = (self.trust.entries(), self.index.synced_head, self.key.public_hex)
        if self._trusted_cache is None or self._trusted_cache[0] != stamp:
            found = trusted_keys(self.key.public_hex, keys.retired(self.keys_dir), stamp[0],
                                 self.index.rotations())
            self._trusted_cache = (stamp, found)
        return self._trusted_cache[1]

    def signer(self, key: str) -> Signer:
        known = self.trusted_keys().get(key)
        return Signer(key, known.name if known else None, known is not None)

    def _vouched(self, digest: str, author: str, audits: list[statements.Audit] | None = None) -> bool:
        trusted = self.trusted_keys()
        if author in trusted:
            return True
        audits = self.index.audits(digest) if audits is None else audits
        return any(a.audited and a.by in trusted and statements.verifies(a) for a in audits)

    def is_trusted(self, ref: str) -> bool:
        """Whether the app may be offered and run without an extra confirmation."""
        record = self.index.get(self.resolve(ref))
        return record is not None and self._vouched(record.codeHash, record.signedBy)

    def untrusted(self, authors: dict[str, str]) -> list[str]:
        """Of these apps (code hash -> signer), those neither signed nor audited by a trusted key;
        one query per 500 apps, for a pull's summary."""
        trusted = self.trusted_keys()
        strangers = [digest for digest, signer in authors.items() if signer not in trusted]
        audited = {a.app for a in self.index.audits_of(strangers)
                   if a.audited and a.by in trusted and statements.verifies(a)}
        return [digest for digest in strangers if digest not in audited]

    def provenance(self, ref: str) -> Provenance:
        digest = self.resolve(ref)
        record = self.index.get(digest)
        if record is None:
            raise NotFound(f"no app {ref!r} in the registry")
        audits = self.index.audits(digest)
        ratings = [r for r in self.index.ratings(digest) if statements.verifies(r)]
        trusted = self.trusted_keys()
        return Provenance(
            digest, self.index.origin(digest) or LOCAL, self.signer(record.signedBy),
            self._vouched(digest, record.signedBy, audits),
            tuple(AuditBy(self.signer(a.by), a.audited, a.note, a.at)
                  for a in audits if statements.verifies(a)),
            tuple((self.signer(r.by), float(r.stars)) for r in ratings),
            _mean([r.stars for r in ratings if r.by in trusted]))

    def trust_add(self, name: str, key: str) -> TrustedKey:
        with self._locked():
            self.trust.add(name, key)
        return TrustedKey(name, key)

    def trust_remove(self, name: str) -> TrustedKey:
        with self._locked():
            return TrustedKey(name, self.trust.remove(name))

    def trust_list(self) -> list[TrustedKey]:
        """The store's keys, and the keys they rotated to."""
        own = {self.key.public_hex, *keys.retired(self.keys_dir)}
        listed = [t for k, t in self.trusted_keys().items() if k not in own]
        return sorted(listed, key=lambda t: (t.name, t.key))

    def rotate_key(self) -> statements.Rotation:
        """Replace the node key: the new key is written first, a rotation statement signed by the old
        key is committed, then the new key is installed. Records the old key signed stay valid: this
        node keeps trusting it, and other nodes that trust it follow the rotation."""
        with self._locked():
            self._reconcile()
            upcoming = keys.NodeKey.generate()
            upcoming.write(self.keys_dir / keys.NEXT_NAME)
            rotation = statements.sign(statements.Rotation(
                old=self.key.public_hex, new=upcoming.public_hex, at=statements.now()), self.key)
            path = layout.statement_path(rotation)
            message = f"Rotate the node key {rotation.old[:16]}… -> {rotation.new[:16]}…"
            self._commit({path: statements.dumps(rotation)}, message, {path: rotation})
            self.key = keys.install_next(self.keys_dir)
        return rotation

    def _finish_rotation(self) -> None:
        """A rotation cut off between its commit and installing the key is finished; one cut off before
        its commit is dropped. Caller holds the lock."""
        upcoming = self.keys_dir / keys.NEXT_NAME
        if not upcoming.exists():
            return
        new = keys.NodeKey.load(upcoming).public_hex
        if any(r.old == self.key.public_hex and r.new == new for r in self.index.rotations()):
            self.key = keys.install_next(self.keys_dir)
        else:
            upcoming.unlink()

    # -- remotes -------------------------------------------------------------------------------------
    def remotes(self) -> list[Remote]:
        return remotes.all_remotes(self.history.repo)

    def remote_add(self, name: str, url: str) -> Remote:
        with self._locked():
            return remotes.add(self.history.repo, name, url)

    def remote_remove(self, name: str) -> Remote:
        with self._locked():
            removed = remotes.remove(self.history.repo, name)
            self.history.drop_tracking(name)
        return removed

    def pull(self, name: str) -> sync.PullResult:
        """Fetch a remote and merge its records (merge.py); refused whole, or landed whole."""
        return sync.pull(self, name)

    def push(self, name: str) -> sync.PushResult:
        return sync.push(self, name)

    # -- reading -------------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """A full code hash from a hash or a unique prefix of one."""
        found = self.index.resolve(ref.strip())
        if not found:
            raise NotFound(f"no app {ref!r} in the registry")
        if len(found) > 1:
            raise NotFound(f"{ref!r} is ambiguous: {', '.join(h[7:19] for h in found)}")
        return found[0]

    def get(self, ref: str, *, allow_untrusted: bool = False) -> Record:
        """A verified record, with the registry's view of its rating and audit. An untrusted app raises
        Untrusted unless the caller got the user's extra confirmation (allow_untrusted)."""
        record = self.index.get(self.resolve(ref))
        if record is None:
            raise NotFound(f"no app {ref!r} in the registry")
        return self._annotate([self.verify(record, allow_untrusted=allow_untrusted)], record.codeHash)[0]

    def records(self, limit: int | None = None) -> list[Record]:
        """Every record, newest first, unverified: callers that run code use get()."""
        return self._annotate(self.index.all(limit))

    def _annotate(self, records: list[Record], digest: str | None = None) -> list[Record]:
        """Records with rating (mean of the trusted keys' ratings) and audited (a trusted key's latest
        audit says so). Statements were checked when they arrived; the index holds only those."""
        trusted = self.trusted_keys()
        stars: dict[str, list[float]] = {}
        for rating in self.index.ratings(digest):
            if rating.by in trusted:
                stars.setdefault(rating.app, []).append(float(rating.stars))
        audited = {a.app for a in self.index.audits(digest) if a.audited and a.by in trusted}
        return [r.annotated(_mean(stars.get(r.codeHash, [])), r.codeHash in audited) for r in records]

    def search(self, prompt: str, limit: int = 5) -> list[Match]:
        """Candidates ranked by similarity (0..1) to `prompt`, best first, with where each came from
        and whether it is trusted."""
        return ranked(self.index, self.untrusted, prompt, limit, floor=0.0, trusted_only=False)

    def lookup(self, prompt: str) -> Match | None:
        """The cached app to offer for `prompt`, if a trusted one is similar enough; an untrusted app
        is never offered."""
        best = ranked(self.index, self.untrusted, prompt, 1, floor=self.offer_threshold, trusted_only=True)
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
        return self.get(digest, allow_untrusted=True)

    def add_many(self, items: list[dict[str, Any]], message: str | None = None) -> list[str]:
        """Save several apps in one commit; returns their hashes (existing ones are left as they are).
        `audited` and `rating` become this node's signed statements."""
        files: dict[bytes, bytes | None] = {}
        known: dict[bytes, Any] = {}
        digests = []
        new: list[Record] = []
        with self._locked():
            self._reconcile()
            for item in items:
                prompt = _check_prompt(item["prompt"])
                record = self._sign(Record.new(
                    prompt, item["generatedCode"], item["llmModel"], item.get("capabilities", []),
                    optionalCapabilities=sorted(set(item.get("optionalCapabilities") or ())),
                    parent=item.get("parent"), generatedAt=item.get("generatedAt")))
                digests.append(record.codeHash)
                path = layout.app_path(record.codeHash)
                if path in files or self.index.get(record.codeHash) is not None:
                    continue
                new.append(record)
                files[path], known[path] = record.dumps(), record
                if self.index.removed([record.codeHash]):
                    files[layout.tombstone_path(record.codeHash)] = None
                said: list[statements.Statement] = []
                if item.get("audited"):
                    said.append(statements.Audit(app=record.codeHash, audited=True, note="",
                                                 by=self.key.public_hex, at=statements.now()))
                if item.get("rating") is not None:
                    said.append(statements.Rating(app=record.codeHash, stars=_stars(item["rating"]),
                                                  by=self.key.public_hex, at=statements.now()))
                for statement in said:
                    spath, data, signed = self._state(statement)
                    files[spath], known[spath] = data, signed
            if new:
                self._commit(files, message or f"Add {new[0].short}: {new[0].prompt[:60]}"
                             + (f" (+{len(new) - 1} more)" if len(new) > 1 else ""), known)
        return digests

    def fork(self, ref: str, code: str, model: str, *, prompt: str | None = None,
             capabilities: list[str] | None = None, optional: list[str] | None = None) -> Record:
        parent = self.get(ref, allow_untrusted=True)
        if code_hash(code) == parent.codeHash:
            raise RecordError("a fork must change the code; this is the same app")
        return self.add(prompt or parent.prompt, code, model,
                        parent.capabilities if capabilities is None else capabilities,
                        optional=parent.optionalCapabilities if optional is None else optional,
                        parent=parent.codeHash, message=f"Fork {parent.short}")

    def _say(self, ref: str, statement: statements.Statement, message: str) -> Record:
        with self._locked():
            self._reconcile()
            path, data, signed = self._state(statement)
            self._commit({path: data}, message, {path: signed})
        return self.get(ref, allow_untrusted=True)

    def rate(self, ref: str, stars: float) -> Record:
        """This node's signed rating; it replaces this node's earlier rating of the app."""
        record = self.get(ref, allow_untrusted=True)
        return self._say(record.codeHash, statements.Rating(
            app=record.codeHash, stars=_stars(stars), by=self.key.public_hex, at=statements.now()),
            f"Rate {stars:g} stars: {record.short}")

    def audit(self, ref: str, audited: bool = True, note: str = "") -> Record:
        """A signed statement by this node: "I audited this hash" (audited=False withdraws it)."""
        record = self.get(ref, allow_untrusted=True)
        return self._say(record.codeHash, statements.Audit(
            app=record.codeHash, audited=audited, note=note, by=self.key.public_hex, at=statements.now()),
            f"{'Audit' if audited else 'Unaudit'} {record.short}")

    def rm(self, ref: str) -> None:
        """Remove an app, leaving a tombstone so a later pull does not bring it back."""
        digest = self.resolve(ref)
        with self._locked():
            self._reconcile()
            self._commit({layout.app_path(digest): None, layout.tombstone_path(digest): b""},
                         f"Remove {digest[7:19]}", {})

    # -- bundles -------------------------------------------------------------------------------------
    def export(self, refs: list[str], path: Path) -> int:
        """Apps as a bundle; by default every trusted app (an untrusted one is not passed on)."""
        records = [self.get(ref) for ref in refs] if refs else [
            self.verify(r) for r in self.records() if self.is_trusted(r.codeHash)]
        return bundle.write(records, path)

    def import_bundle(self, path: Path) -> list[str]:
        """Import a bundle (bundle.py checks all of it first); the apps are re-signed by this node."""
        items = bundle.read(path)
        return self.add_many(items, message=f"Import {len(items)} apps from {path.name}")


def _entry(path: bytes, mode: int) -> layout.Entry | None:
    try:
        return layout.classify(path, mode)
    except layout.LayoutError as error:
        log.warning("registry.git: skipping %s", error)
        return None


def _stars(stars: object) -> float:
    if isinstance(stars, bool) or not isinstance(stars, int | float) or not 0 <= stars <= 5:
        raise ValueError("a rating is between 0 and 5 stars")
    return float(stars)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise RecordError("the prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise RecordError(f"the prompt is longer than {MAX_PROMPT_CHARS} characters")
    return prompt
