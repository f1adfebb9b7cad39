"""Ed25519 key files, read one way for every key LLM OS trusts: the update signing key and the registry's
publisher keys. A key file is where users paste the wrong thing, so each refusal names the file and
what was found instead.

A public key may be PEM (SubjectPublicKeyInfo), OpenSSH (`ssh-ed25519 …`), the raw 32 bytes, or 64 hex
digits (what fits on a kernel command line or in a config file). A private key is PEM (PKCS#8,
unencrypted) or the raw 32 bytes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_HEX_KEY = re.compile(rb"[0-9a-fA-F]{64}")


class KeyFileError(ValueError):
    """A key file is missing, unreadable, garbled or of the wrong kind; the message names the file."""


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short id shown in refusals, so "wrong key" can say which key signed."""
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such {what} key file") from None
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read the {what} key: {error.strerror}") from error
    if not data.strip():
        raise KeyFileError(f"{path}: the {what} key file is empty")
    return data


def read_private(path: Path) -> Ed25519PrivateKey:
    data = _read(path, "private")
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    if b"-----BEGIN PUBLIC KEY-----" in data or data.lstrip().startswith(b"ssh-"):
        raise KeyFileError(f"{path}: this is a public key; signing needs the private key")
    if b"-----BEGIN" not in data:
        raise KeyFileError(f"{path}: not a PEM private key (no -----BEGIN line) and not 32 raw bytes")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as error:
        raise KeyFileError(f"{path}: the private key is password-protected; give an unencrypted one") \
            from error
    except Exception as error:  # ValueError, or UnsupportedAlgorithm for a key type it does not know
        raise KeyFileError(f"{path}: garbled private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return key


def read_public(path: Path) -> Ed25519PublicKey:
    """The public key in `path`; a private key is refused, since only the public half is handed out."""
    data = _read(path, "public")
    text = data.strip()
    if len(data) == 32 and b"-----BEGIN" not in data:
        return Ed25519PublicKey.from_public_bytes(data)
    if _HEX_KEY.fullmatch(text):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.decode()))
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path}: this is a private key; give the public key")
    ssh = text.startswith(b"ssh-")
    if not ssh and b"-----BEGIN" not in data:
        raise KeyFileError(f"{path}: not a public key: expected PEM, OpenSSH, 32 raw bytes or 64 hex digits")
    try:
        key = serialization.load_ssh_public_key(text) if ssh else serialization.load_pem_public_key(data)
    except Exception as error:  # ValueError, or UnsupportedAlgorithm
        raise KeyFileError(f"{path}: garbled public key: {error}") from error
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return key
