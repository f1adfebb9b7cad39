"""The kernel API's wire types: the records that flow events and apps.* answers carry
(docs/kernel-api.md), written once for the kernel that sends them and the clients that read them
(the shell, `llmos app`). Each has `to_json`, the exact object on the wire, and `from_json`, which
reads it back; a field a reader can do without falls back to an empty value, so an older or newer
peer still shows something sensible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Json = Mapping[str, object]  # a decoded JSON object: each value is checked as it is read


def _number(value: object) -> float:
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _whole(value: object) -> int:
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected a whole number, got {type(value).__name__}")


def _items(value: object) -> list[object]:
    """A JSON array (an absent or empty value reads as none)."""
    if not value:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"expected a list, got {type(value).__name__}")


def _table(value: object) -> Json:
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


@dataclass(frozen=True)
class Ask:
    """One capability to approve, in plain words (the needs-approval event's `asks`). `warning` is a
    caution the dialog shows with it, also in plain words (an app that asks for a site the request never
    mentioned); on the wire only when there is one."""

    scope: str
    words: str
    required: bool
    warning: str = ""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"scope": self.scope, "words": self.words, "required": self.required}
        if self.warning:
            out["warning"] = self.warning
        return out

    @classmethod
    def from_json(cls, item: Json) -> Ask:
        scope = str(item["scope"])
        return cls(scope, str(item.get("words") or scope), bool(item.get("required", False)),
                   str(item.get("warning") or ""))


@dataclass(frozen=True)
class Offer:
    """A saved app offered instead of generating a new one: what the offered-cached event carries
    and what the flow's `Decisions.accept_cached` decides on."""

    hash: str
    prompt: str
    score: float
    model: str
    title: str

    @property
    def short(self) -> str:
        return self.hash.removeprefix("sha256:")[:12]

    def to_json(self) -> dict[str, object]:
        return {"hash": self.hash, "prompt": self.prompt, "score": self.score, "model": self.model,
                "title": self.title}

    @classmethod
    def from_json(cls, data: Json) -> Offer:
        return cls(str(data["hash"]), str(data.get("prompt", "")), _number(data.get("score", 0.0)),
                   str(data.get("model", "")), str(data.get("title", "")))


@dataclass(frozen=True)
class Launched:
    """What a launcher reports about the app it started (the launched event's app fields)."""

    app_id: str
    title: str
    pid: int

    def to_json(self) -> dict[str, object]:
        return {"app_id": self.app_id, "title": self.title, "pid": self.pid}

    @classmethod
    def from_json(cls, data: Json) -> Launched:
        return cls(str(data["app_id"]), str(data.get("title") or ""), _whole(data.get("pid") or 0))


@dataclass(frozen=True)
class RunningApp:
    """One running app instance: a row of apps.running. `app_id` names the instance (unique among
    running apps); `hash` is the code hash of the saved app it runs."""

    app_id: str
    hash: str = ""
    title: str = ""
    pid: int = 0
    state: str = "running"
    granted: tuple[str, ...] = ()
    uptime_s: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"app_id": self.app_id, "hash": self.hash, "title": self.title, "pid": self.pid,
                "state": self.state, "granted": list(self.granted), "uptime_s": self.uptime_s}

    @classmethod
    def from_json(cls, data: Json) -> RunningApp:
        return cls(str(data["app_id"]), str(data.get("hash") or ""), str(data.get("title") or ""),
                   _whole(data.get("pid") or 0), str(data.get("state") or "running"),
                   tuple(str(scope) for scope in _items(data.get("granted"))),
                   _number(data.get("uptime_s") or 0.0))


@dataclass(frozen=True)
class Signer:
    """A key that signed an app or a statement about it, as this node sees it (apps.provenance):
    `name` is the user's name for the key ("this machine" for the node's own), None for a key the
    user does not know; `trusted` says whether the user trusts it."""

    key: str
    name: str | None
    trusted: bool

    @property
    def short(self) -> str:
        return f"{self.key[:16]}…"

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "name": self.name, "trusted": self.trusted}

    @classmethod
    def from_json(cls, data: Json) -> Signer:
        name = data.get("name")
        return cls(str(data["key"]), None if name is None else str(name), bool(data.get("trusted", False)))


@dataclass(frozen=True)
class AuditBy:
    """One key's signed audit of an app ("I audited this hash"); audited=False withdraws it."""

    signer: Signer
    audited: bool
    note: str
    at: str

    def to_json(self) -> dict[str, object]:
        return {"signer": self.signer.to_json(), "audited": self.audited, "note": self.note, "at": self.at}

    @classmethod
    def from_json(cls, data: Json) -> AuditBy:
        return cls(Signer.from_json(_table(data["signer"])), bool(data.get("audited", True)),
                   str(data.get("note") or ""), str(data.get("at") or ""))


@dataclass(frozen=True)
class Provenance:
    """apps.provenance's answer: where an app came from (`origin`: "local" or the remote it was pulled
    from), who signed (`author`) and audited it, and whether it runs without an extra confirmation
    (`trusted`). The registry (kernel/registry) builds it and the shell reads it, both this one type."""

    hash: str  # the app's code hash ("codeHash" on the wire)
    origin: str
    author: Signer
    trusted: bool  # the author is trusted, or a trusted key audited this hash
    audits: tuple[AuditBy, ...] = ()
    ratings: tuple[tuple[Signer, float], ...] = ()
    rating: float | None = None  # the mean of the trusted keys' ratings

    def to_json(self) -> dict[str, object]:
        return {"codeHash": self.hash, "origin": self.origin, "author": self.author.to_json(),
                "trusted": self.trusted, "audits": [a.to_json() for a in self.audits],
                "ratings": [[signer.to_json(), stars] for signer, stars in self.ratings],
                "rating": self.rating}

    @classmethod
    def from_json(cls, data: Json) -> Provenance:
        rating = data.get("rating")
        ratings = [_items(pair) for pair in _items(data.get("ratings"))]
        return cls(str(data["codeHash"]), str(data.get("origin") or "local"),
                   Signer.from_json(_table(data["author"])), bool(data.get("trusted", False)),
                   tuple(AuditBy.from_json(_table(a)) for a in _items(data.get("audits"))),
                   tuple((Signer.from_json(_table(s)), _number(stars)) for s, stars in ratings),
                   None if rating is None else _number(rating))
