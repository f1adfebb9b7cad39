"""The registry record: the seed's format plus signature, signer and parent. Content-addressed by the
sha256 of the code, signed over a canonical JSON of the publication: every field but the signature and
the two annotations, rating and audited. Those are the registry's view, computed from signed rating and
audit statements (statements.py), so they can change and merge without re-signing anyone's record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from llmos.settings import GatewaySettings, declared

MAX_CODE_BYTES = 512 * 1024
# Storage bound: the highest [gateway] max_prompt_chars may be set to, so every accepted prompt fits.
MAX_PROMPT_CHARS = int(declared(GatewaySettings, "max_prompt_chars").maximum or 0)
ANNOTATIONS = ("rating", "audited")  # the registry's view, not part of the signed publication


class RecordError(ValueError):
    """A record is malformed, tampered with, or not signed by a trusted key."""


def code_hash(code: str) -> str:
    return "sha256:" + hashlib.sha256(code.encode("utf-8")).hexdigest()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Record:
    prompt: str
    generatedCode: str  # the seed's camelCase JSON names are the public format
    codeHash: str
    llmModel: str
    capabilities: list[str] = field(default_factory=list)
    optionalCapabilities: list[str] = field(default_factory=list)
    rating: float | None = None
    audited: bool = False
    generatedAt: str = ""
    parent: str | None = None
    signedBy: str = ""
    signature: str = ""  # hex Ed25519 signature over canonical()

    @classmethod
    def new(cls, prompt: str, code: str, model: str, capabilities: list[str], **extra: Any) -> Record:
        return cls(prompt=prompt, generatedCode=code, codeHash=code_hash(code), llmModel=model,
                   capabilities=sorted(set(capabilities)),
                   generatedAt=extra.pop("generatedAt", None) or now(), **extra)

    @property
    def short(self) -> str:
        return self.codeHash.removeprefix("sha256:")[:12]

    def publication(self) -> dict[str, Any]:
        """The record as its author published it: everything but the annotations."""
        body = asdict(self)
        for name in ANNOTATIONS:
            body.pop(name)
        return body

    def canonical(self) -> bytes:
        """What the signature covers: the publication without the signature, keys sorted, no whitespace."""
        body = self.publication()
        body.pop("signature")
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def dumps(self) -> bytes:
        """The file stored in git: the signed publication (annotations live in statements)."""
        text = json.dumps(self.publication(), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    def with_changes(self, **changes: Any) -> Record:
        """A copy with `changes`; any change invalidates the signature unless it sets one."""
        return replace(self, **{"signature": "", **changes})

    def annotated(self, rating: float | None, audited: bool) -> Record:
        """The registry's view of the record; the signature stays valid (annotations are not signed)."""
        return replace(self, rating=rating, audited=audited)

    def check_hash(self) -> None:
        if code_hash(self.generatedCode) != self.codeHash:
            raise RecordError(f"{self.short}: code does not match its hash (tampered)")

    @classmethod
    def from_json(cls, data: Any, where: str = "record") -> Record:
        """Validate types field by field so a bad bundle or row is refused with its location."""
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object")
        types: dict[str, tuple[type, ...]] = {
            "prompt": (str,), "generatedCode": (str,), "codeHash": (str,), "llmModel": (str,),
            "capabilities": (list,), "optionalCapabilities": (list,), "rating": (int, float, type(None)),
            "audited": (bool,), "generatedAt": (str,), "parent": (str, type(None)), "signedBy": (str,),
            "signature": (str,),
        }
        unknown = set(data) - set(types)
        if unknown:
            raise RecordError(f"{where}: unknown fields {sorted(unknown)}")
        for name, allowed in types.items():
            if name in ("prompt", "generatedCode", "codeHash", "llmModel") and name not in data:
                raise RecordError(f"{where}: missing {name}")
            if name in data and not isinstance(data[name], allowed):
                raise RecordError(f"{where}.{name}: wrong type {type(data[name]).__name__}")
        for name in ("capabilities", "optionalCapabilities"):
            if not all(isinstance(item, str) for item in data.get(name, [])):
                raise RecordError(f"{where}.{name}: expected a list of strings")
        if len(data["generatedCode"].encode("utf-8")) > MAX_CODE_BYTES:
            raise RecordError(f"{where}.generatedCode: larger than {MAX_CODE_BYTES} bytes")
        return cls(**data)
