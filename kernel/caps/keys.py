"""The root key pair: generated on first use, kept mode 0600 under state_dir()/keys/."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from biscuit_auth import Algorithm, KeyPair, PrivateKey

from llmos import paths


def root_key_path() -> Path:
    return paths.state_dir() / "keys" / "root.key"


def load_or_create_root_key(path: Path | None = None) -> KeyPair:
    """Read the root key, or create it atomically (tmp + fsync + link, so two racing starts agree)."""
    path = path or root_key_path()
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keypair = KeyPair()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, keypair.private_key.to_bytes().hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race; then use its key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        os.fsync(dir_fd)
        os.close(dir_fd)
    return _read(path)


def _read(path: Path) -> KeyPair:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path}: root key is readable by others (mode {mode:o}); expected 0600")
    text = path.read_text().strip()
    try:
        # biscuit_auth 0.4.0's bundled stub predates the algorithm argument and Algorithm's members.
        key = PrivateKey.from_bytes(bytes.fromhex(text), Algorithm.Ed25519)  # type: ignore[call-arg,attr-defined]
        return KeyPair.from_private_key(key)
    except ValueError as error:
        raise ValueError(f"{path}: not a hex Ed25519 private key: {error}") from None
