"""App identity, version history and data migration (docs/versions.md).

An app's *identity* (`app-<128 bits of its first version's code hash>`) is made when it is first saved
or used and survives regeneration; each *version* is a content-addressed registry record. The identity
points at one current version; its storage (kernel/sandbox/storage.py) is keyed by the identity, so the
data follows it from version to version:
- a version's first view of the data comes from its nearest ancestor's view, through the migration
  mappings in between (mapping.py: data, never code); what it does not read is kept aside;
- going back to a version that ran before restores the view it left (saved when it was left);
- a switch is one storage transaction, then the pointer moves (lineage.py): a power cut leaves the data
  switched or untouched, and a switch cut off before the pointer moved is undone on the next launch.

    versions = Versions(registry, storage)
    versions.history("3f2a…")                     # ordered versions with model, date, rating
    versions.rollback("3f2a…")                    # the version before the current one; no tokens
    versions.add_version(parent_hash, record, mapping)   # a regeneration (the flow does this)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llmos.filelock import flocked

from .lineage import Lineages, Move, Version, identity_for
from .mapping import Mapping, MappingError, MigrationError, MigrationPlan, MigrationRefused, plan
from .shape import Shape, ShapeError, infer

if TYPE_CHECKING:
    from llmos.kernel.registry import Record, Registry
    from llmos.kernel.sandbox.storage import AppStorage, Aside, Values

__all__ = [
    "Mapping",
    "MappingError",
    "MigrationError",
    "MigrationPlan",
    "MigrationRefused",
    "Shape",
    "ShapeError",
    "Switched",
    "Version",
    "VersionEntry",
    "VersionHistory",
    "Versions",
    "identity_for",
    "infer",
]


@dataclass(frozen=True)
class VersionEntry:
    """One version as the history lists it."""
    seq: int
    hash: str
    model: str
    generated_at: str
    added: str
    how: str
    rating: float | None
    current: bool
    parent: str | None
    shape: str
    removed: bool  # the record is no longer in the registry: it cannot be gone back to

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "model": self.model, "generatedAt": self.generated_at,
                "added": self.added, "how": self.how, "rating": self.rating, "current": self.current,
                "parent": self.parent, "shape": self.shape, "removed": self.removed}


@dataclass(frozen=True)
class VersionHistory:
    identity: str
    current: str
    forked_from: str | None
    versions: list[VersionEntry]
    moves: list[Move]
    aside: list[dict[str, str]] = field(default_factory=list)  # values kept aside (storage known)

    def to_json(self) -> dict[str, object]:
        return {"identity": self.identity, "current": self.current, "forkedFrom": self.forked_from,
                "versions": [entry.to_json() for entry in self.versions],
                "moves": [{"at": m.at, "from": m.from_hash, "to": m.to_hash, "why": m.why}
                          for m in self.moves],
                "aside": [{k: v for k, v in row.items() if k != "value"} for row in self.aside]}


@dataclass(frozen=True)
class Switched:
    identity: str
    from_hash: str
    to_hash: str
    seq: int
    restored: bool  # the version's own saved view came back (else it was migrated, or nothing moved)
    aside: dict[str, str] = field(default_factory=dict)  # key -> why it was kept aside

    @property
    def notice(self) -> str:
        return MigrationPlan(aside={k: ("", why) for k, why in self.aside.items()}).notice()

    def to_json(self) -> dict[str, object]:
        return {"identity": self.identity, "from": self.from_hash, "to": self.to_hash, "seq": self.seq,
                "restored": self.restored, "aside": self.aside, "notice": self.notice}


Saved = Callable[[str], "Values | None"]


class Versions:
    def __init__(self, registry: Registry, storage: AppStorage | None = None,
                 root: Path | None = None) -> None:
        self.registry = registry
        self.storage = storage
        root = root or registry.root
        self.lineages = Lineages(root / "versions.db")
        self._lock_path = root / "versions.lock"
        self._depth = 0

    def close(self) -> None:
        self.lineages.close()

    def __enter__(self) -> Versions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One switch at a time across processes (the kernel and `llmos app rollback`); re-entrant."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        with flocked(self._lock_path):
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0

    # -- identity ------------------------------------------------------------------------------------
    def identity(self, code_hash: str) -> str:
        """The identity of a saved app. An app saved before identities (or pulled) gets one on first
        use: a regeneration (same prompt and signer as its parent) joins its parent's, anything else
        starts its own, so another author's record never reaches this app's data."""
        found = self.lineages.version(code_hash)
        if found is not None:
            return found.identity
        with self._locked():
            found = self.lineages.version(code_hash) or self._adopt(code_hash)
        return found.identity

    def _adopt(self, code_hash: str) -> Version:
        record = self.registry.get(code_hash, allow_untrusted=True)
        parent = self._record(record.parent) if record.parent else None
        if parent is not None and parent.prompt == record.prompt and parent.signedBy == record.signedBy:
            identity = self.identity(parent.codeHash)
            version = self.lineages.append(identity, code_hash, parent.codeHash, "adopted",
                                           infer(record.generatedCode), Mapping(), added=record.generatedAt)
            self._adopt_storage(version)
            return version
        return self.lineages.create(code_hash, infer(record.generatedCode), forked_from=record.parent,
                                    added=record.generatedAt)

    def _adopt_storage(self, version: Version) -> None:
        """The per-code-hash storage an older version had (before identities) becomes its saved view."""
        if self.storage is not None:
            self.storage.adopt(identity_for(version.code_hash), version.identity, version.code_hash)

    def _record(self, digest: str) -> Record | None:
        from llmos.kernel.registry import NotFound, RecordError

        try:
            return self.registry.get(digest, allow_untrusted=True)
        except (NotFound, RecordError):
            return None

    def resolve(self, ref: str) -> str:
        """An identity from its id, or from any of its versions' hashes (or a unique prefix)."""
        ref = ref.strip()
        if self.lineages.identity(ref) is not None:
            return ref
        return self.identity(self.registry.resolve(ref))

    def current(self, identity: str) -> str:
        """The code hash an identity points at (what a call to it reaches, docs/composition.md). An app
        never used yet has no history: it is the record its identity would be made from. Raises NotFound
        (a LookupError) when no app has that identity."""
        from llmos.kernel.registry import NotFound

        known = self.lineages.identity(identity)
        if known is not None:
            return known.current
        digest = identity.removeprefix("app-")
        try:
            code_hash = self.registry.resolve(digest) if identity.startswith("app-") and digest else ""
        except NotFound:
            code_hash = ""
        joined = self.lineages.version(code_hash) if code_hash else None  # a version of another app
        if not code_hash or identity_for(code_hash) != identity or joined is not None:
            raise NotFound(f"no app has the identity {identity!r}")
        return code_hash

    # -- history -------------------------------------------------------------------------------------
    def history(self, ref: str) -> VersionHistory:
        identity = self.resolve(ref)
        known = self.lineages.identity(identity)
        assert known is not None
        entries = []
        for version in self.lineages.versions(identity):
            record = self._record(version.code_hash)
            entries.append(VersionEntry(
                version.seq, version.code_hash, record.llmModel if record else "",
                record.generatedAt if record else "", version.added, version.how,
                record.rating if record else None, version.code_hash == known.current, version.parent,
                version.shape.id, record is None))
        aside = self.storage.aside(identity) if self.storage is not None else []
        return VersionHistory(identity, known.current, known.forked_from, entries,
                              self.lineages.moves(identity), aside)

    # -- new versions --------------------------------------------------------------------------------
    def check_regeneration(self, parent: str, code: str, mapping: Mapping) -> MigrationPlan:
        """Would `code`, regenerated from `parent` with `mapping`, take the data over? MigrationError
        (with where and why) if not. Nothing changes."""
        shape = infer(code)
        mapping.check(shape)
        identity = self.identity(parent)
        planned = Version(identity, 0, "(new)", parent, "", "regenerated", shape, mapping)
        return self._dry_run(identity, planned)

    def add_version(self, parent: str, record: Record, mapping: Mapping, how: str = "regenerated") -> Version:
        """`record`, made from `parent` (regenerated), as the next version of parent's identity. It
        becomes current when it first runs (or with `switch`)."""
        with self._locked():
            existing = self.lineages.version(record.codeHash)
            if existing is not None:
                return existing
            identity = self.identity(parent)
            shape = infer(record.generatedCode)
            mapping.check(shape)
            return self.lineages.append(identity, record.codeHash, parent, how, shape, mapping)

    def add_fork(self, record: Record) -> Version:
        """`record`, forked from its parent, as the first version of a new identity (its history says
        what it was forked from; its data starts empty)."""
        with self._locked():
            existing = self.lineages.version(record.codeHash)
            return existing or self.lineages.create(record.codeHash, infer(record.generatedCode),
                                                    forked_from=record.parent)

    # -- switching -----------------------------------------------------------------------------------
    def check(self, code_hash: str) -> str:
        """The identity `code_hash` runs under; MigrationError if making it current would be refused
        (then nothing changes and the current version keeps its data)."""
        identity = self.identity(code_hash)
        version = self.lineages.version(code_hash)
        assert version is not None
        self._dry_run(identity, version)
        return identity

    def _dry_run(self, identity: str, target: Version) -> MigrationPlan:
        if self.storage is None:
            return plan({}, target.shape, target.mapping) if target.seq == 0 else MigrationPlan()
        storage = self.storage
        leaving = storage.view(identity) or self._root(identity)
        if leaving == target.code_hash:
            return MigrationPlan(storage.values(identity))
        return self._next_view(identity, target, leaving, storage.values(identity),
                               lambda other: storage.saved(identity, other))

    def _root(self, identity: str) -> str:
        return self.lineages.versions(identity)[0].code_hash

    def _next_view(self, identity: str, target: Version, leaving: str, values: Values,
                   saved: Saved) -> MigrationPlan:
        """`target`'s view: its own saved one, else its nearest ancestor's view carried down through
        the mappings in between; with no ancestor's view, the current values read by its shape."""
        own = saved(target.code_hash)
        if own is not None:
            return MigrationPlan(own)
        versions = {v.code_hash: v for v in self.lineages.versions(identity)}
        chain = [target]  # the target, its parent, … up to (not including) the ancestor with a view
        start: Values | None = None
        ancestor = target.parent
        while ancestor is not None and len(chain) <= len(versions):
            start = values if ancestor == leaving else saved(ancestor)
            if start is not None or ancestor not in versions:
                break
            chain.append(versions[ancestor])
            ancestor = versions[ancestor].parent
        if start is None:  # no ancestor's view: keep what the target reads of the current values
            start, chain = values, [replace(target, mapping=Mapping())]
        result = MigrationPlan(dict(start))
        for step in reversed(chain):
            following = plan(result.data, step.shape, step.mapping)
            for key, kept in following.aside.items():
                result.aside[key if key not in result.aside else f"{key} (version {step.seq})"] = kept
            result.data = following.data
        return result

    def switch(self, identity: str, target: str, why: str) -> Switched:
        """Make `target` the identity's current version with its view of the data: one storage
        transaction, then the pointer. MigrationError leaves both as they were."""
        with self._locked():
            known = self.lineages.identity(identity)
            version = self.lineages.version(target)
            if known is None or version is None or version.identity != identity:
                raise ValueError(f"{target[7:19]} is not a version of {identity}")
            restored, aside = False, dict[str, tuple[str, str]]()
            if self.storage is not None:
                restored, aside = self._switch_view(identity, version)
            self.lineages.point(identity, target, why)
        return Switched(identity, known.current, target, version.seq, restored,
                        {key: why for key, (_, why) in aside.items()})

    def _switch_view(self, identity: str, version: Version) -> tuple[bool, Aside]:
        storage = self.storage
        assert storage is not None
        for other in self.lineages.versions(identity)[1:]:
            self._adopt_storage(other)  # idempotent: only a folder still there is read
        root = self._root(identity)
        if storage.view(identity) is None:  # data from before identities: the first version's view
            storage.switch_view(identity, root, lambda _leaving, values, _saved: (values, {}))
        outcome: dict[str, bool] = {}

        def make(leaving: str | None, values: Values, saved: Saved) -> tuple[Values, Aside]:
            outcome["restored"] = saved(version.code_hash) is not None
            following = self._next_view(identity, version, leaving or root, values, saved)
            return following.data, following.aside

        _, aside = storage.switch_view(identity, version.code_hash, make)
        return outcome.get("restored", False), aside

    def rollback(self, ref: str, to: str | None = None) -> Switched:
        """Point the identity at an earlier version (default: the one before the current one) or any
        version by number or hash. No model is asked: it only changes which version runs."""
        target = self.rollback_target(ref, to)
        return self.switch(target.identity, target.code_hash, "rollback")

    def rollback_target(self, ref: str, to: str | None = None) -> Version:
        """The version `rollback(ref, to)` would make current; ValueError if there is none, and
        MigrationError if its data could not be switched (nothing changes)."""
        identity = self.resolve(ref)
        known = self.lineages.identity(identity)
        assert known is not None
        versions = self.lineages.versions(identity)
        if to is None:
            current = next(v for v in versions if v.code_hash == known.current)
            if current.seq == 1:
                raise ValueError(f"{identity} is at its first version: there is none before it")
            target = max((v for v in versions if v.seq < current.seq), key=lambda v: v.seq)
        elif to.strip().isdigit() and len(to.strip()) < 7:
            found = [v for v in versions if v.seq == int(to)]
            if not found:
                raise ValueError(f"{identity} has no version {to} (it has 1..{len(versions)})")
            target = found[0]
        else:
            digest = self.registry.resolve(to)
            found = [v for v in versions if v.code_hash == digest]
            if not found:
                raise ValueError(f"{to} is not a version of {identity}")
            target = found[0]
        if self._record(target.code_hash) is None:
            raise ValueError(f"version {target.seq} ({target.code_hash[7:19]}) is no longer in the registry")
        self._dry_run(identity, target)
        return target
