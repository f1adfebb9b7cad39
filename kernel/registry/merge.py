"""The merge rule: how checked files from a remote join this node's registry. Records are
content-addressed, so two machines never hold two different answers to one question; the rule only
says which copy stays. It is a union, so no merge ever asks the user anything:

- an app this node does not have is added; an app it has stays as it is (first seen wins), even if
  the remote's copy differs (another author, another prompt for the same code: still one app);
- an app this node removed (a tombstone) is not brought back;
- a rating or an audit is keyed by (app, signer): a signer's newer statement replaces its older one,
  ordered by its signed time, then by blob id so both sides pick the same one;
- a key rotation, keyed by the old key, is added once and never replaced;
- a pull never deletes anything; the remote's tombstones and marker stay the remote's own business."""

from __future__ import annotations

from dataclasses import dataclass, field

from dulwich.objects import ObjectID

from . import statements
from .index import Index
from .layout import FILE_MODE, Entry
from .record import Record

Item = Record | statements.Statement | None


@dataclass(frozen=True)
class Incoming:
    entry: Entry
    blob: ObjectID
    item: Item


@dataclass
class Plan:
    changes: list[tuple[bytes, int, ObjectID]] = field(default_factory=list)  # (path, mode, blob id)
    new_apps: list[str] = field(default_factory=list)
    same_apps: list[str] = field(default_factory=list)  # both sides had the app: one record, ours stays
    statements: int = 0
    skipped_removed: list[str] = field(default_factory=list)


def plan(incoming: list[Incoming], index: Index) -> Plan:
    """The tree changes that merge `incoming` into the registry `index` reflects."""
    result = Plan()
    apps = [i for i in incoming if i.entry.kind == "app"]
    said = [i for i in incoming if i.entry.kind in ("rating", "audit", "key-rotation")]
    digests = [i.entry.app for i in apps if i.entry.app]
    ours = index.app_blobs(digests)
    removed = index.removed(digests)
    for item in apps:
        digest = item.entry.app or ""
        if digest in removed:
            result.skipped_removed.append(digest)
        elif digest in ours:
            if ours[digest] != item.blob.decode():
                result.same_apps.append(digest)
        else:
            result.new_apps.append(digest)
            result.changes.append((item.entry.path, FILE_MODE, item.blob))
    known = index.statement_blobs(i.entry.path.decode() for i in said)
    for item in said:
        assert isinstance(item.item, statements.Rating | statements.Audit | statements.Rotation)
        mine = known.get(item.entry.path.decode())
        if mine is not None and (mine[0] == item.blob.decode() or item.entry.kind == "key-rotation"):
            continue
        if mine is None or _newer((item.item.at, item.blob.decode()), mine[::-1]):
            result.statements += 1
            result.changes.append((item.entry.path, FILE_MODE, item.blob))
    return result


def _newer(theirs: tuple[str, str], mine: tuple[str, str]) -> bool:
    """(signed time, blob id) pairs; times compare as instants, not as text."""
    return (statements.moment(theirs[0]), theirs[1]) > (statements.moment(mine[0]), mine[1])
