"""Signed statements: a rating of an app, an audit of an app ("I audited this hash"), and a key
rotation (a new key, signed by the old one). Each is a small JSON file in the registry's git tree,
named by what it is about and by who signed it (layout.py), so statements by different keys never
collide, and a newer statement by one key supersedes its older one (merge.py)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from . import keys
from .record import RecordError

# Signed bytes start with this, so a statement's signature can never pass for a record's (or the reverse).
DOMAIN = b"llmos-registry-statement\0"
MAX_NOTE_CHARS = 500
KEY_RE = re.compile(r"[0-9a-f]{64}")
HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def now() -> str:
    """Microseconds, so a re-rating within the same second still orders after the first."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def moment(at: str) -> datetime:
    return datetime.fromisoformat(at.removesuffix("Z") + "+00:00")


@dataclass(frozen=True)
class Rating:
    kind: ClassVar[str] = "rating"
    app: str
    stars: float
    by: str
    at: str
    signature: str = ""

    @property
    def signer(self) -> str:
        return self.by


@dataclass(frozen=True)
class Audit:
    kind: ClassVar[str] = "audit"
    app: str
    audited: bool  # False withdraws this key's earlier audit
    note: str
    by: str
    at: str
    signature: str = ""

    @property
    def signer(self) -> str:
        return self.by


@dataclass(frozen=True)
class Rotation:
    kind: ClassVar[str] = "key-rotation"
    old: str
    new: str
    at: str
    signature: str = ""  # by the old key

    @property
    def signer(self) -> str:
        return self.old


Statement = Rating | Audit | Rotation
KINDS: dict[str, type[Rating] | type[Audit] | type[Rotation]] = {
    cls.kind: cls for cls in (Rating, Audit, Rotation)}
S = TypeVar("S", bound=Rating | Audit | Rotation)


def payload(statement: Statement) -> bytes:
    body = {"kind": statement.kind, **asdict(statement)}
    body.pop("signature")
    return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(statement: S, key: keys.NodeKey) -> S:
    if statement.signer != key.public_hex:
        raise ValueError("a statement is signed by the key it names")
    return replace(statement, signature=key.sign(payload(statement)))


def verifies(statement: Statement) -> bool:
    return keys.verify(statement.signer, statement.signature, payload(statement))


def dumps(statement: Statement) -> bytes:
    body = {"kind": statement.kind, **asdict(statement)}
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def parse(data: bytes, where: str) -> Statement:
    """Shape and value checks, located; the signature is checked by the caller (verifies)."""
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"{where}: not JSON: {error}") from None
    if not isinstance(body, dict) or body.get("kind") not in KINDS:
        raise RecordError(f"{where}: not a statement (kind must be one of {sorted(KINDS)})")
    cls = KINDS[body.pop("kind")]
    names = {f.name for f in fields(cls)}
    if set(body) != names:
        raise RecordError(f"{where}: fields must be exactly {sorted(names)}")
    _check(body, where)
    return cls(**body)


def _check(body: dict[str, Any], where: str) -> None:
    def fail(name: str, why: str) -> RecordError:
        return RecordError(f"{where}.{name}: {why}")

    for name, value in body.items():
        if name in ("by", "old", "new") and not (isinstance(value, str) and KEY_RE.fullmatch(value)):
            raise fail(name, "expected a hex Ed25519 public key")
        if name == "app" and not (isinstance(value, str) and HASH_RE.fullmatch(value)):
            raise fail(name, "expected a sha256: code hash")
        if name == "at" and not (isinstance(value, str) and TIME_RE.fullmatch(value)):
            raise fail(name, "expected a UTC time like 2026-12-01T10:00:00Z")
        if name == "signature" and not (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{128}", value)):
            raise fail(name, "expected a hex Ed25519 signature")
        if name == "stars" and (isinstance(value, bool) or not isinstance(value, int | float)
                                or not 0 <= value <= 5):
            raise fail(name, "expected a number from 0 to 5")
        if name == "audited" and not isinstance(value, bool):
            raise fail(name, "expected true or false")
        if name == "note" and not (isinstance(value, str) and len(value) <= MAX_NOTE_CHARS):
            raise fail(name, f"expected text of at most {MAX_NOTE_CHARS} characters")
