"""The trust store: the publisher keys (Ed25519) this node trusts, each under a name the user chose.

It lives in state_dir()/trust.json, outside git: whom to trust is this machine's own decision, so it
is never pushed or pulled. A key is trusted if it is this node's key (current or retired), a key in
the store, or a key that a trusted key rotated to (a rotation statement signed by the old key)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llmos.ed25519 import KeyFileError, public_raw, read_public

from . import statements
from .statements import Rotation

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
THIS_NODE = "this machine"


class TrustError(ValueError):
    """A bad name, a bad key file, or a name that is taken or unknown."""


@dataclass(frozen=True)
class TrustedKey:
    name: str
    key: str
    rotated_from: str | None = None  # set for a key trusted because a trusted key rotated to it


def read_key_file(path: Path) -> str:
    """A publisher's public key from a file (`llmos app key show --pem`, OpenSSH, 64 hex digits), as hex.
    A private key is refused: only the public half is ever handed out."""
    try:
        return public_raw(read_public(path)).hex()
    except KeyFileError as error:
        raise TrustError(str(error)) from None


class TrustStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int], dict[str, str]] | None = None

    def entries(self) -> dict[str, str]:
        """name -> hex key; re-read only when the file changed (another process may have edited it)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (info.st_mtime_ns, info.st_size)
        if self._cache is None or self._cache[0] != stamp:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                keys = data["keys"]
                if not isinstance(keys, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) and statements.KEY_RE.fullmatch(v)
                        for k, v in keys.items()):
                    raise ValueError("keys must map names to hex keys")
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise TrustError(f"{self.path}: unreadable trust store ({error}); fix or remove it") from None
            self._cache = (stamp, dict(keys))
        return dict(self._cache[1])

    def add(self, name: str, key: str) -> None:
        """Caller holds the registry lock (one writer)."""
        if not NAME_RE.fullmatch(name):
            raise TrustError(f"{name!r}: a name is letters, digits, '.', '_' or '-' (at most 64)")
        if not statements.KEY_RE.fullmatch(key):
            raise TrustError("expected a hex Ed25519 public key")
        entries = self.entries()
        if name in entries:
            raise TrustError(f"{name!r} is already trusted (key {entries[name][:16]}…); remove it first")
        for other, existing in entries.items():
            if existing == key:
                raise TrustError(f"that key is already trusted as {other!r}")
        self._write({**entries, name: key})

    def remove(self, name: str) -> str:
        entries = self.entries()
        if name not in entries:
            raise TrustError(f"{name!r} is not in the trust store")
        key = entries.pop(name)
        self._write(entries)
        return key

    def _write(self, entries: dict[str, str]) -> None:
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as file:
            json.dump({"version": 1, "keys": dict(sorted(entries.items()))}, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        temp.replace(self.path)
        self._cache = None


def trusted_keys(own: str, retired: Iterable[str], store: dict[str, str],
                 rotations: Iterable[Rotation]) -> dict[str, TrustedKey]:
    """key -> why it is trusted. Rotations are followed forward only (old key -> new key), and only
    when the old key's signature on them verifies: a rotation cannot make an old key trusted."""
    found = {own: TrustedKey(THIS_NODE, own)}
    for key in retired:
        found.setdefault(key, TrustedKey(THIS_NODE, key))
    for name, key in store.items():
        found.setdefault(key, TrustedKey(name, key))
    successor = {r.old: r for r in rotations}
    todo = list(found)
    while todo:
        rotation = successor.get(todo.pop())
        if rotation is None or rotation.new in found or not statements.verifies(rotation):
            continue
        found[rotation.new] = TrustedKey(found[rotation.old].name, rotation.new, rotated_from=rotation.old)
        todo.append(rotation.new)
    return found
