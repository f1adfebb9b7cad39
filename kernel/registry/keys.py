"""The node's Ed25519 key that signs registry records. Created once, 0600, under state_dir()/keys/.

Rotation (Registry.rotate_key) writes the new key beside the current one as NEXT_NAME, commits a
rotation statement signed by the old key, then installs the new key; the old public key is listed in
RETIRED_NAME so this node keeps trusting what it signed before."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from llmos.ed25519 import private_pem, public_pem, public_raw, read_private

KEY_NAME = "registry-ed25519.pem"
NEXT_NAME = "registry-ed25519.next.pem"
RETIRED_NAME = "retired-keys"  # hex public keys this node signed with before, one a line


@dataclass(frozen=True)
class NodeKey:
    private: Ed25519PrivateKey

    @cached_property
    def public_hex(self) -> str:
        return public_raw(self.private.public_key()).hex()

    def sign(self, data: bytes) -> str:
        return self.private.sign(data).hex()

    def public_pem(self) -> bytes:
        return public_pem(self.private.public_key())

    @classmethod
    def generate(cls) -> NodeKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> NodeKey:
        return cls(read_private(path))

    def write(self, path: Path) -> None:
        """Atomically, 0600, synced: a key that signed something must survive a power cut."""
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        _write_synced(temp, private_pem(self.private))
        temp.replace(path)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> NodeKey:
        """Load the key, or create it atomically: written to a private temp file, then hard-linked into
        place so two processes starting together end up with the same key."""
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = keys_dir / KEY_NAME
        if not path.exists() and (keys_dir / NEXT_NAME).exists():  # cut off inside install_next
            os.replace(keys_dir / NEXT_NAME, path)
        if not path.exists():
            temp = keys_dir / f".{KEY_NAME}.{os.getpid()}"
            _write_synced(temp, private_pem(Ed25519PrivateKey.generate()))
            try:
                os.link(temp, path)
            except FileExistsError:
                pass
            finally:
                temp.unlink()
        return cls.load(path)


def _write_synced(path: Path, data: bytes) -> None:
    """A new 0600 file, fsynced before anyone links or renames it into place."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def retired(keys_dir: Path) -> list[str]:
    path = keys_dir / RETIRED_NAME
    return path.read_text().split() if path.exists() else []


def install_next(keys_dir: Path) -> NodeKey:
    """Finish a rotation whose statement is committed: retire the current key, make the next current."""
    current, upcoming = NodeKey.load(keys_dir / KEY_NAME), NodeKey.load(keys_dir / NEXT_NAME)
    if current.public_hex not in retired(keys_dir):
        with open(keys_dir / RETIRED_NAME, "a", encoding="ascii") as file:
            file.write(current.public_hex + "\n")
            file.flush()
            os.fsync(file.fileno())
    os.replace(keys_dir / KEY_NAME, keys_dir / f"retired-{current.public_hex[:16]}.pem")
    os.replace(keys_dir / NEXT_NAME, keys_dir / KEY_NAME)
    fd = os.open(keys_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return upcoming


def verify(public_hex: str, signature_hex: str, data: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        key.verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, ValueError):
        return False
    return True
