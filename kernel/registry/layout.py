"""The registry's git tree: where each kind of file lives, and the checks a file must pass.

    registry.json                         the marker: {"format": "llmos-registry", "version": 2}
    apps/<2 hex>/<64 hex>.json            an app record, signed by its author
    ratings/<2 hex>/<64 hex>/<key>.json   a rating of that app, signed by <key>
    audits/<2 hex>/<64 hex>/<key>.json    an audit of that app, signed by <key>
    keys/<old key>.json                   a key rotation, signed by the old key
    removed/<2 hex>/<64 hex>              an app this node removed (a tombstone: pulls skip it)

Sharding by the first two hex digits keeps every tree small, so a change rewrites a few small trees.
Nothing else may appear in a registry's tree: a pull refuses any other name, any name that could
climb out of a directory, and anything that is not a plain file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from . import keys, statements
from .limits import MAX_FILE_BYTES
from .record import Record, RecordError

MARKER = b"registry.json"
FORMAT = "llmos-registry"
VERSION = 2
FILE_MODE = 0o100644
_HEX64 = "[0-9a-f]{64}"
_PATTERNS = {
    "marker": re.compile(rb"registry\.json"),
    "app": re.compile(rb"apps/(?P<shard>[0-9a-f]{2})/(?P<app>" + _HEX64.encode() + rb")\.json"),
    "rating": re.compile(rb"ratings/(?P<shard>[0-9a-f]{2})/(?P<app>" + _HEX64.encode() + rb")/(?P<key>"
                         + _HEX64.encode() + rb")\.json"),
    "audit": re.compile(rb"audits/(?P<shard>[0-9a-f]{2})/(?P<app>" + _HEX64.encode() + rb")/(?P<key>"
                        + _HEX64.encode() + rb")\.json"),
    "key-rotation": re.compile(rb"keys/(?P<key>" + _HEX64.encode() + rb")\.json"),
    "removed": re.compile(rb"removed/(?P<shard>[0-9a-f]{2})/(?P<app>" + _HEX64.encode() + rb")"),
}


class LayoutError(RecordError):
    """A path or file that has no place in a registry; `subject` names the record or the path."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject, self.reason = subject, reason


@dataclass(frozen=True)
class Entry:
    kind: str  # a key of _PATTERNS
    path: bytes
    app: str | None = None  # the code hash the file is about
    key: str | None = None  # the key that signs it (statements) or rotates (key-rotation)

    @property
    def subject(self) -> str:
        """What an error names: the record's hash, else the key, else the path."""
        return self.app or (f"key {self.key}" if self.key else self.path.decode("utf-8", "replace"))


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def app_path(digest: str) -> bytes:
    return f"apps/{_hex(digest)[:2]}/{_hex(digest)}.json".encode()


def tombstone_path(digest: str) -> bytes:
    return f"removed/{_hex(digest)[:2]}/{_hex(digest)}".encode()


def statement_path(statement: statements.Statement) -> bytes:
    if isinstance(statement, statements.Rotation):
        return f"keys/{statement.old}.json".encode()
    folder = "ratings" if isinstance(statement, statements.Rating) else "audits"
    return f"{folder}/{_hex(statement.app)[:2]}/{_hex(statement.app)}/{statement.by}.json".encode()


def marker() -> bytes:
    return (json.dumps({"format": FORMAT, "version": VERSION}) + "\n").encode()


def classify(path: bytes, mode: int) -> Entry:
    """The entry a path stands for, or LayoutError saying why it has no place in a registry."""
    shown = path.decode("utf-8", "replace")
    for part in path.split(b"/"):
        if part in (b"", b".", b"..") or part.startswith(b".") or b"\\" in part or b"\0" in part:
            raise LayoutError(shown, f"unsafe name {part.decode('utf-8', 'replace')!r} (path traversal)")
    for kind, pattern in _PATTERNS.items():
        found = pattern.fullmatch(path)
        if found is None:
            continue
        groups = found.groupdict()
        app = groups.get("app")
        if app is not None and groups["shard"] != app[:2]:
            raise LayoutError(shown, "in the wrong shard directory")
        entry = Entry(kind, path, "sha256:" + app.decode() if app else None,
                      groups["key"].decode() if groups.get("key") else None)
        if mode != FILE_MODE:
            raise LayoutError(entry.subject, f"{shown} is not a plain file (mode {mode:o})")
        return entry
    raise LayoutError(shown, "not part of the registry layout")


def read(entry: Entry, data: bytes) -> Record | statements.Statement | None:
    """Parse a file and check it agrees with its path; signatures are checked by check()."""
    where = entry.path.decode()
    if entry.kind == "removed":
        return None
    if entry.kind == "marker":
        try:
            body = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("version") != VERSION:
            raise LayoutError(where, f"not a {FORMAT} version {VERSION} marker")
        return None
    if entry.kind == "app":
        try:
            record = Record.from_json(json.loads(data), where)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise LayoutError(entry.subject, f"not JSON: {error}") from None
        except RecordError as error:
            raise LayoutError(entry.subject, str(error)) from None
        if record.codeHash != entry.app:
            raise LayoutError(entry.subject, f"the file holds {record.codeHash}, not the app its name says")
        return record
    try:
        statement = statements.parse(data, where)
    except RecordError as error:
        raise LayoutError(entry.subject, str(error)) from None
    if statement.kind != entry.kind or statement_path(statement) != entry.path:
        raise LayoutError(entry.subject, f"a {statement.kind} statement stored at {where}")
    return statement


def check(entry: Entry, data: bytes) -> Record | statements.Statement | None:
    """Everything a pulled file must pass: size, shape, path, code hash and signature."""
    limit = MAX_FILE_BYTES[entry.kind]
    if len(data) > limit:
        raise LayoutError(entry.subject, f"{len(data)} bytes, over the {limit}-byte limit for a {entry.kind}")
    item = read(entry, data)
    if isinstance(item, Record):
        try:
            item.check_hash()
        except RecordError:
            raise LayoutError(entry.subject, "the code does not match its hash (tampered)") from None
        if not item.signedBy or not keys.verify(item.signedBy, item.signature, item.canonical()):
            raise LayoutError(entry.subject, "the signature does not verify (tampered or malformed)")
    elif item is not None and not statements.verifies(item):
        raise LayoutError(entry.subject, f"the {item.kind} signature does not verify (tampered)")
    return item
